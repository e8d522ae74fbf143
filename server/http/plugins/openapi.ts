// The OpenAPI document of every route, built from the route schemas, and its UI at /docs.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      info: { title: 'CiviCRM ⇄ Joomla user bridge', description: 'Links Joomla users to CiviCRM contacts. The event contract is in docs/protocol.md.', version: '0.1.0' },
      components: {
        securitySchemes: {
          eventToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'HS256 JWT signed with BRIDGE_SECRET (docs/protocol.md)' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'BRIDGE_ADMIN_TOKEN' },
        },
      },
    },
  })
  // With METRICS_TOKEN set, the document and its UI are not public either.
  await app.register(swaggerUi, { routePrefix: '/docs', uiHooks: { onRequest: app.requireMetricsToken } })
})
