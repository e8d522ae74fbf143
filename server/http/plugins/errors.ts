// One error policy for every route: 4xx stay 4xx with a JSON {error, message}; an unreachable
// database is 503 with Retry-After; a duplicate key is a conflict, never a 500.
import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import { isUnavailable, errorCode } from '../../data/db.js'

export const RETRY_AFTER_S = 5
const CLIENT_GONE = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE'])

export default fp(async (app) => {
  app.setErrorHandler((err: Error & { statusCode?: number, validation?: unknown }, request, reply) => {
    // A client that left while its body was being read: its socket's error (the driver's are
    // `fatal`), not the database's.
    if (request.raw.destroyed && CLIENT_GONE.has(errorCode(err) as string) && (err as { fatal?: boolean }).fatal !== true) {
      request.log.info({ reason: err.message }, 'client closed the connection')
      return reply.code(400).send({ error: 'Bad Request', message: 'the request was not received whole' })
    }
    if (isUnavailable(err)) {
      request.log.warn({ err: err.message }, 'database unavailable')
      return reply.code(503).header('Retry-After', String(RETRY_AFTER_S)).send({ error: 'Service Unavailable', message: 'the database is not reachable; retry later' })
    }
    if (errorCode(err) === 'ER_DUP_ENTRY') {
      request.log.info({ err: err.message }, 'duplicate key')
      return reply.code(409).send({ error: 'Conflict', message: 'a concurrent change won; retry' })
    }
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
    if (status === 500) {
      request.log.error({ err }, 'unexpected error')
      return reply.code(500).send({ error: 'Internal Server Error', message: 'unexpected error' })
    }
    if (status === 401) request.server.metrics.authFailures.inc({ route: String(request.routeOptions.url) })
    request.log.info({ status, url: request.routeOptions.url, reason: err.message }, 'request refused')
    return reply.code(status).send({ error: STATUS_CODES[status], message: err.message })
  })
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}` }))
})
