// JSON bodies are kept as the exact bytes received too: event tokens sign their SHA-256.
import { hash } from 'node:crypto'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyRequest { bodySha256?: string }
}

export default fp(async (app) => {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    // One-shot: no Hash object per request (a native object, which every scavenge has to visit).
    request.bodySha256 = hash('sha256', body as Buffer, 'hex')
    parseJson(request, (body as Buffer).toString('utf8'), done)
  })
})
