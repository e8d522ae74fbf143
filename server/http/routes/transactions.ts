// "Edit my details" (docs/protocol.md, "Profile API"): the JSON endpoint, and the server-rendered
// page (routes/pages.ts) registered in the same scope. Contributions and memberships are
// CiviCRM's own pages; the bridge has no endpoint for them and records no money.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { bearerToken } from '../plugins/auth.js'
import { AssertionError, parseProfile } from '../../domain/transactions.js'
import { assertionActor } from '../assertion.js'
import pageRoutes from './pages.js'

const Body = Type.Record(Type.String(), Type.Unknown())
const ErrorBody = Type.Object({ error: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) })
const Common = {
  contactId: Type.Integer(),
  action: Type.String(),
}

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const bearerActor = (request: FastifyRequest) => {
    const token = bearerToken(request)
    if (token === null) throw new AssertionError('missing or malformed bearer assertion')
    return assertionActor(request, token)
  }

  app.post('/v1/transactions/profile', {
    schema: { body: Body, response: { 200: Type.Object({ ...Common }), '4xx': ErrorBody } },
  }, async (request) => {
    const actor = bearerActor(request)
    const input = parseProfile(request.body)
    const r = await app.services.transactionsFor(actor.domainId).saveProfile(actor, input)
    request.log.info({ act: 'profile', userId: r.ufId, contactId: r.contactId, action: r.action }, 'transaction')
    return { contactId: r.contactId, action: r.action }
  })

  await app.register(pageRoutes)
}
export default routes
