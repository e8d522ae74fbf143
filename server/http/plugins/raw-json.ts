// JSON bodies are kept as the exact bytes received too: event tokens sign their SHA-256.
import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyRequest { bodySha256?: string }
}

export default fp(async (app) => {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    request.bodySha256 = createHash('sha256').update(body as Buffer).digest('hex')
    parseJson(request, (body as Buffer).toString('utf8'), done)
  })
})
