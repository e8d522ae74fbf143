// POST /v1/joomla/events: the contract with the Joomla plugin (docs/protocol.md).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import { requireEventToken, requireSignedBody } from '../plugins/auth.js'
import { maskEmail } from '../../domain/email.js'

export const JoomlaEventBody = Type.Object({
  event: Type.String({ minLength: 1, maxLength: 64 }),
  user: Type.Object({
    id: Type.Integer({ minimum: 1, maximum: 4294967295 }),
    username: Type.String({ maxLength: 150 }),
    email: Type.String({ maxLength: 320 }),
    name: Type.String({ maxLength: 400 }),
    block: Type.Union([Type.Boolean(), Type.Integer({ minimum: 0, maximum: 1 })]),
  }, { additionalProperties: false }),
  isNew: Type.Optional(Type.Boolean()),
  success: Type.Optional(Type.Boolean()),
  occurredAt: Type.String({ format: 'date-time', maxLength: 40 }),
}, { additionalProperties: false })

const Result = Type.Object({
  action: Type.String(),
  contactId: Type.Union([Type.Integer(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
})
const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() })

const routes: FastifyPluginAsyncTypebox = async (app) => {
  // The event line holds only the fields chosen below (no token, the email masked): it skips the
  // logger's wildcard redaction, which doubled the cost of a line.
  const eventLine = app.log.child({}, { redact: [] })
  app.post('/v1/joomla/events', {
    onRequest: requireEventToken,
    preValidation: requireSignedBody,
    schema: {
      summary: 'Apply a signed Joomla user event (docs/protocol.md)',
      security: [{ eventToken: [] }],
      body: JoomlaEventBody,
      response: { 200: Result, 400: ErrorBody, 401: ErrorBody, 409: ErrorBody, 422: ErrorBody },
    },
  }, async (request, reply) => {
    const started = performance.now()
    const claims = request.eventClaims!
    const body = request.body
    const outcome = await app.services.events.apply(claims.iss, request.eventDomainId!, claims.jti, claims.body_sha256, body)
    if (outcome.kind === 'unknown-event') return reply.unprocessableEntity(`unknown event ${JSON.stringify(body.event.slice(0, 64))}`)
    if (outcome.kind === 'jti-reused') return reply.conflict('this jti was already used with another body')
    const { result } = outcome
    app.metrics.events.inc({ event: body.event, action: result.action })
    app.metrics.linkSeconds.observe({ event: body.event }, (performance.now() - started) / 1000)
    eventLine.info({
      reqId: request.id,
      site: claims.iss,
      jti: claims.jti,
      userId: body.user.id,
      event: body.event,
      action: result.action,
      contactId: result.contactId,
      reason: result.reason,
      replay: outcome.replay,
      email: maskEmail(body.user.email),
      ms: Math.round((performance.now() - started) * 100) / 100,
    }, 'event')
    return { action: result.action, contactId: result.contactId, reason: result.reason ?? null }
  })
}
export default routes
