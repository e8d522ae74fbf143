// Builds the bridge's Fastify app from its plugins and routes. server.ts starts it; tests
// build it with test/helper.ts.
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import sensible from '@fastify/sensible'
import pino from 'pino'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from '../config.js'
import errorsPlugin from './plugins/errors.js'
import rawJsonPlugin from './plugins/raw-json.js'
import databasePlugin from './plugins/database.js'
import servicesPlugin from './plugins/services.js'
import authPlugin from './plugins/auth.js'
import webPlugin from './plugins/web.js'
import adminSessionPlugin from './plugins/admin-session.js'
import metricsPlugin from './plugins/metrics.js'
import openapiPlugin from './plugins/openapi.js'
import healthRoutes from './routes/health.js'
import eventRoutes from './routes/events.js'
import pingRoutes from './routes/ping.js'
import userRoutes from './routes/users.js'
import adminRoutes from './routes/admin/index.js'
import transactionRoutes from './routes/transactions.js'

export const BODY_LIMIT = 64 * 1024

export function loggerOptions (level: string): FastifyServerOptions['logger'] {
  return {
    level,
    // Buffered, asynchronous writes to stdout, one write per ~15 KiB (~45 event lines): a
    // synchronous write per line cost ~25 % of the login throughput, one per 4 KiB ~10 %. A quiet
    // server's lines still reach the file within a second, and every line when the process exits.
    stream: pino.destination({ dest: 1, sync: false, minLength: 15 * 1024, periodicFlush: 1000 }),
    // Tokens and passwords never reach a log line, whatever logs a request.
    redact: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.token', '*.assertion'],
  }
}

/**
 * Fastify's trustProxy. A hop count trusts that many proxies in front (Fastify 5.12 treats a
 * bare number as "trust none", so it is a function here); the proxies' addresses are safer, as
 * a client that reaches the bridge directly cannot then pose as a proxy.
 */
export function trustProxyOption (value: boolean | number | string): boolean | string | ((address: string, hop: number) => boolean) {
  return typeof value === 'number' ? (_address, hop) => hop < value : value
}

export async function buildApp (config: Config, opts: { logger?: FastifyServerOptions['logger'] } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? loggerOptions(config.logLevel),
    bodyLimit: BODY_LIMIT,
    // One line per event is logged by the route itself, not two per request.
    logController: new LogController({ disableRequestLogging: true }),
    // Refuse what the schemas do not allow instead of quietly fixing it up.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    return503OnClosing: true,
    // A client gets the whole request (headers and body) in at most requestTimeout, checked
    // every second (Node checks every 30 s by default), and a silent connection is closed.
    requestTimeout: config.httpRequestTimeoutMs,
    connectionTimeout: config.httpIdleTimeoutMs,
    http: {
      requestTimeout: config.httpRequestTimeoutMs,
      headersTimeout: Math.min(config.httpRequestTimeoutMs, 60_000),
      connectionsCheckingInterval: 1000,
    },
    // Behind a reverse proxy: the client's address (rate limits) and protocol (Secure cookies,
    // HSTS) come from X-Forwarded-For/-Proto, set by the proxies trusted here (TRUST_PROXY).
    trustProxy: trustProxyOption(config.trustProxy),
  }).withTypeProvider<TypeBoxTypeProvider>()

  await app.register(sensible)
  await app.register(errorsPlugin) // before the routes: every error leaves as a JSON 4xx/503
  await app.register(rawJsonPlugin)
  await app.register(databasePlugin, { config })
  await app.register(servicesPlugin)
  await app.register(authPlugin, { config })
  await app.register(openapiPlugin) // before the routes it documents (/metrics too)
  await app.register(metricsPlugin)

  await app.register(healthRoutes)
  await app.register(eventRoutes)
  await app.register(pingRoutes)
  await app.register(userRoutes)
  // The server-rendered pages and the admin (and the JSON routes beside them), in a context of
  // their own with what pages need: security headers, cookies, form bodies, CSRF tokens. The
  // plugin's event route does without their hooks, ~5 % of its CPU per event.
  await app.register(async (web) => {
    await web.register(webPlugin, { config })
    await web.register(adminSessionPlugin, { config })
    await web.register(adminRoutes)
    await web.register(transactionRoutes)
  })
  return app
}
