// POST /v1/ping: the plugin's "Test connection" button. Checked exactly like an event (signature,
// site, times, body_sha256), but nothing is recorded: the jti is not kept and no table is touched.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import { requireEventToken, requireSignedBody } from '../plugins/auth.js'

const Pong = Type.Object({ ok: Type.Literal(true), site: Type.String() })
const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() })

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/v1/ping', {
    onRequest: requireEventToken,
    preValidation: requireSignedBody,
    schema: {
      summary: 'Check a site\'s address, secret and site id (the plugin\'s "Test connection"); records nothing',
      security: [{ eventToken: [] }],
      body: Type.Object({}, { additionalProperties: true }),
      response: { 200: Pong, 401: ErrorBody },
    },
  }, async (request) => ({ ok: true as const, site: request.eventClaims!.iss }))
}
export default routes
