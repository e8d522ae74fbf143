// Lazy linking on CiviCRM transactions (docs/protocol.md, "Transactions API"): the JSON API,
// and the server-rendered pages (routes/pages.ts) registered in the same scope.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { bearerToken } from '../plugins/auth.js'
import { ASSERTION_TTL_S, AssertionError, InvalidInput, parseContribution, parseMembership, parseProfile, type Act } from '../../domain/transactions.js'
import { TransactionService, type Actor } from '../../services/transaction-service.js'
import pageRoutes from './pages.js'

declare module 'fastify' {
  interface FastifyInstance { transactions: TransactionService }
}

/** The verified claims of the request's bearer assertion, or null when there is none (anonymous). */
export function assertionActor (request: FastifyRequest, token: string | null): Actor {
  if (token === null) return { kind: 'anonymous' }
  try {
    return { kind: 'assertion', claims: request.server.verifyBridgeToken(token, ASSERTION_TTL_S) }
  } catch (err) {
    throw new AssertionError((err as Error).message)
  }
}

const Body = Type.Record(Type.String(), Type.Unknown())
const ErrorBody = Type.Object({ error: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) })
const Common = {
  contactId: Type.Integer(),
  action: Type.String(),
}

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.decorate('transactions', new TransactionService(app.database, app.config.domainId))

  // Refused input names its field; everything else goes to the app's error policy.
  app.setErrorHandler((err, request, reply) => {
    if (err instanceof InvalidInput) {
      request.log.info({ url: request.routeOptions.url, field: err.field }, 'invalid input')
      return reply.code(400).send({ error: 'Bad Request', message: err.message, field: err.field })
    }
    throw err
  })

  const actor = (request: FastifyRequest, act: Act, required: boolean): Actor => {
    const token = bearerToken(request)
    if (token === null && (required || request.headers.authorization !== undefined)) throw new AssertionError('missing or malformed bearer assertion')
    return assertionActor(request, token)
  }

  app.post('/v1/transactions/profile', {
    schema: { body: Body, response: { 200: Type.Object({ ...Common }), '4xx': ErrorBody } },
  }, async (request) => {
    const who = actor(request, 'profile', true)
    const input = parseProfile(request.body)
    const r = await app.transactions.saveProfile(who as Exclude<Actor, { kind: 'anonymous' }>, input)
    request.log.info({ act: 'profile', userId: r.ufId, contactId: r.contactId, action: r.action }, 'transaction')
    return { contactId: r.contactId, action: r.action }
  })

  app.post('/v1/transactions/contribution', {
    schema: { body: Body, response: { 200: Type.Object({ ...Common, contributionId: Type.Integer() }), '4xx': ErrorBody } },
  }, async (request) => {
    const who = actor(request, 'contribution', false)
    const input = parseContribution(request.body, who.kind === 'anonymous')
    const r = await app.transactions.contribute(who, input)
    request.log.info({ act: 'contribution', userId: r.ufId, contactId: r.contactId, action: r.action, contributionId: r.contributionId }, 'transaction')
    return { contactId: r.contactId, action: r.action, contributionId: r.contributionId }
  })

  app.post('/v1/transactions/membership', {
    schema: {
      body: Body,
      response: {
        200: Type.Object({ ...Common, membershipId: Type.Integer(), contributionId: Type.Union([Type.Integer(), Type.Null()]), endDate: Type.Union([Type.String(), Type.Null()]) }),
        '4xx': ErrorBody,
      },
    },
  }, async (request) => {
    const who = actor(request, 'membership', false)
    const input = parseMembership(request.body, who.kind === 'anonymous')
    const r = await app.transactions.signUp(who, input)
    request.log.info({ act: 'membership', userId: r.ufId, contactId: r.contactId, action: r.action, membershipId: r.membershipId }, 'transaction')
    return { contactId: r.contactId, action: r.action, membershipId: r.membershipId, contributionId: r.contributionId, endDate: r.endDate }
  })

  await app.register(pageRoutes)
}
export default routes
