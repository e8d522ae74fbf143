// The OpenAPI document of every route, built from the route schemas, and its UI at /docs.
// Tags, summaries and the security of each API operation are declared here, in one table, so
// that the document reads as a whole; the HTML pages (/admin, /civicrm) are not API and are
// left out. An API route missing from the table is documented under "other" (a test refuses it).
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

type Security = Array<Record<string, string[]>>
const ADMIN: Security = [{ adminToken: [] }]
const EVENT: Security = [{ eventToken: [] }]

export const TAGS = [
  { name: 'events', description: 'Signed Joomla user events from the plugin (docs/protocol.md)' },
  { name: 'transactions', description: 'Lazy linking: the logged-in user\'s profile ("Edit my details")' },
  { name: 'admin', description: 'Synchronize Users to Contacts and link reports; Authorization: Bearer BRIDGE_ADMIN_TOKEN' },
  { name: 'operations', description: 'Health, readiness and metrics' },
]

/** `METHOD url` → how /docs shows the operation. */
export const OPERATIONS: Record<string, { tag: string, summary: string, security?: Security }> = {
  'POST /v1/joomla/events': { tag: 'events', summary: 'Apply a signed Joomla user event', security: EVENT },
  'POST /v1/ping': {
    tag: 'events',
    summary: 'Check a site\'s address, secret and site id (the plugin\'s "Test connection"); records nothing',
    security: EVENT,
  },
  'POST /v1/transactions/profile': {
    tag: 'transactions', summary: 'Save the logged-in user\'s profile (names, email)', security: [{ assertionToken: [] }],
  },
  'GET /v1/users/:id/link': { tag: 'admin', summary: 'A user\'s link and the decisions that led to it', security: ADMIN },
  'POST /v1/admin/sync': {
    tag: 'admin', summary: 'Start (or resume) Synchronize Users to Contacts; send {} for the defaults', security: ADMIN,
  },
  'GET /v1/admin/sync': { tag: 'admin', summary: 'The latest synchronization job', security: ADMIN },
  'GET /v1/admin/sync/jobs/:id': { tag: 'admin', summary: 'A synchronization job\'s progress and result', security: ADMIN },
  'GET /v1/admin/sync/jobs/:id/skipped': { tag: 'admin', summary: 'The users a synchronization job skipped, and why', security: ADMIN },
  'GET /health': { tag: 'operations', summary: 'Liveness: the process answers; whether the database does' },
  'GET /ready': { tag: 'operations', summary: 'Readiness: the database answers and the schema check passes' },
  'GET /metrics': {
    tag: 'operations',
    summary: 'Prometheus metrics (text exposition format); with METRICS_TOKEN set, that token is required',
    security: [{ metricsToken: [] }, {}],
  },
}

/** Server-rendered pages and their assets: for browsers, not API clients. */
const isPage = (url: string) => url === '/admin' || url.startsWith('/admin/') || url.startsWith('/civicrm/')

export default fp(async (app) => {
  app.addHook('onRoute', (route) => {
    const schema = (route.schema ??= {}) as Record<string, unknown>
    if (isPage(route.url)) {
      schema.hide = true
      return
    }
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    // Fastify adds a HEAD route beside each GET: it documents as the GET.
    const doc = OPERATIONS[`${methods[0] === 'HEAD' ? 'GET' : methods[0]} ${route.url}`]
    schema.tags = [doc?.tag ?? 'other']
    if (doc) {
      schema.summary = doc.summary
      if (doc.security) schema.security = doc.security
    }
  })
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'CiviCRM ⇄ Joomla user bridge',
        description: 'Links Joomla users to CiviCRM contacts. The event contract is in docs/protocol.md; ' +
          'the admin pages are at /admin/sync.',
        version: '0.1.0',
      },
      tags: TAGS,
      components: {
        securitySchemes: {
          eventToken: {
            type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'HS256 JWT signed with BRIDGE_SECRET (docs/protocol.md)',
          },
          assertionToken: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'The plugin\'s signed assertion of the logged-in user (60 s, single use)',
          },
          adminToken: { type: 'http', scheme: 'bearer', description: 'BRIDGE_ADMIN_TOKEN' },
          metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN (when set)' },
        },
      },
    },
  })
  // With METRICS_TOKEN set, the document and its UI are not public either.
  await app.register(swaggerUi, { routePrefix: '/docs', uiHooks: { onRequest: app.requireMetricsToken } })
})
