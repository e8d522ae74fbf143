// One error policy for every JSON route, on the status http/errors.ts maps: 4xx stay 4xx with a
// JSON {error, message} (and the field an invalid input names); an unreachable database is 503
// with Retry-After; a duplicate key is a conflict, never a 500.
import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import { InvalidInput, errorCode } from '../../errors.js'
import { httpHeaders, httpStatus } from '../errors.js'

const CLIENT_GONE = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE'])

export default fp(async (app) => {
  app.setErrorHandler((err: Error, request, reply) => {
    // A client that left while its body was being read: its socket's error (the driver's are
    // `fatal`), not the database's.
    if (request.raw.destroyed && CLIENT_GONE.has(errorCode(err) as string) && (err as { fatal?: boolean }).fatal !== true) {
      request.log.info({ reason: err.message }, 'client closed the connection')
      return reply.code(400).send({ error: 'Bad Request', message: 'the request was not received whole' })
    }
    const status = httpStatus(err)
    if (status === 503) {
      request.log.warn({ err: err.message }, 'database unavailable')
      return reply.code(503).headers(httpHeaders(err))
        .send({ error: 'Service Unavailable', message: 'the database is not reachable; retry later' })
    }
    if (errorCode(err) === 'ER_DUP_ENTRY') {
      request.log.info({ err: err.message }, 'duplicate key')
      return reply.code(409).send({ error: 'Conflict', message: 'a concurrent change won; retry' })
    }
    if (status === 500) {
      request.log.error({ err }, 'unexpected error')
      return reply.code(500).send({ error: 'Internal Server Error', message: 'unexpected error' })
    }
    if (status === 401) request.server.metrics.authFailures.inc({ route: String(request.routeOptions.url) })
    // Refused input names its field.
    if (err instanceof InvalidInput) {
      request.log.info({ url: request.routeOptions.url, field: err.field }, 'invalid input')
      return reply.code(400).send({ error: 'Bad Request', message: err.message, field: err.field })
    }
    request.log.info({ status, url: request.routeOptions.url, reason: err.message }, 'request refused')
    return reply.code(status).send({ error: STATUS_CODES[status], message: err.message })
  })
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}` }))
})
