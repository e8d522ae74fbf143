// The signed assertion of "Edit my details", shared by the JSON endpoint (routes/transactions.ts)
// and the page (routes/pages.ts); its own module so that neither route imports the other.
import type { FastifyRequest } from 'fastify'
import { ASSERTION_TTL_S, AssertionError } from '../domain/transactions.js'
import type { Actor } from '../services/transaction-service.js'

/** The verified claims of an assertion, and the domain of the site that signed it. */
export function assertionActor (request: FastifyRequest, token: string): Extract<Actor, { kind: 'assertion' }> {
  try {
    const { claims, domainId } = request.server.verifyBridgeToken(token, ASSERTION_TTL_S)
    return { kind: 'assertion', claims, domainId }
  } catch (err) {
    throw new AssertionError((err as Error).message)
  }
}
