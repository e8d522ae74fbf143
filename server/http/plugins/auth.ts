// Who may call what. Events: an HS256 JWT from a Joomla site, signed with that site's secret
// (or its previous secret during a rotation), bound to the body by body_sha256. Admin routes:
// the admin token (or the admin's browser session, plugins/admin-session.ts). Every
// verification failure is a 401, never a 500.
import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import { createDecoder, createVerifier } from 'fast-jwt'
import rateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { SITE_ID_RE, siteOf, type Config } from '../../config.js'
import { AuthError } from '../../errors.js'

export const AUDIENCE = 'civicrm-bridge'
export const MAX_EVENT_TTL_S = 300
export const CLOCK_SKEW_S = 30
const MAX_TOKEN_LENGTH = 4096
const JTI_RE = /^[A-Za-z0-9._:-]{1,64}$/
const SHA256_RE = /^[0-9a-f]{64}$/

export interface EventClaims { iss: string, aud: string, iat: number, exp: number, jti: string, body_sha256: string }

/** A verified token: its claims and the CiviCRM domain of the site that signed it. */
export interface Verified { claims: Record<string, unknown>, domainId: number }

export const AUTH_FAILURES_PER_MINUTE = 20

declare module 'fastify' {
  interface FastifyInstance {
    verifyBridgeToken (token: string, maxTtlS: number): Verified
    requireAdmin (request: FastifyRequest, reply: FastifyReply): Promise<void>
    /** /metrics and /docs: METRICS_TOKEN as a bearer token or a Basic password, when it is set. */
    requireMetricsToken (request: FastifyRequest, reply: FastifyReply): Promise<void>
    /**
     * Runs an authentication check with brute-force protection: an address with more than
     * AUTH_FAILURES_PER_MINUTE failures gets 429 for a minute, whatever it sends.
     */
    guardAuth<T> (request: FastifyRequest, reply: FastifyReply, check: () => T | Promise<T>): Promise<T>
  }
  interface FastifyRequest { eventClaims?: EventClaims, eventDomainId?: number }
}

export { AuthError }

export function bearerToken (request: FastifyRequest): string | null {
  const header = request.headers.authorization
  if (typeof header !== 'string') return null
  const m = /^Bearer ([^\s]+)$/i.exec(header.trim())
  return m ? m[1] : null
}

/** Constant-time comparison of two strings of any length. */
export function safeEqual (a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest()
  const db = createHash('sha256').update(b).digest()
  return timingSafeEqual(da, db)
}

export default fp(async (app, { config }: { config: Config }) => {
  await app.register(rateLimit, { global: false })
  const blockedUntil = new Map<string, number>()
  const countFailure = app.rateLimit({
    max: AUTH_FAILURES_PER_MINUTE,
    timeWindow: 60_000,
    keyGenerator: (request) => `auth-failures:${request.ip}`,
    onExceeded: (request) => { blockedUntil.set(request.ip, Date.now() + 60_000) },
  })
  app.decorate('guardAuth', async <T>(request: FastifyRequest, reply: FastifyReply, check: () => T | Promise<T>): Promise<T> => {
    const until = blockedUntil.get(request.ip)
    if (until !== undefined && until > Date.now()) {
      reply.header('Retry-After', String(Math.ceil((until - Date.now()) / 1000)))
      throw app.httpErrors.tooManyRequests('too many authentication failures from this address; retry later')
    }
    try {
      return await check()
    } catch (err) {
      if (err instanceof AuthError) await countFailure.call(app, request, reply) // throws 429 once over the limit
      throw err
    }
  })

  // One verifier per key (HS256 only), made once: a verifier per call cost the hot path.
  const verifiers = new Map<string, (token: string) => Record<string, unknown>>()
  const verifierOf = (key: string) => {
    let v = verifiers.get(key)
    if (!v) {
      v = createVerifier({
        key,
        algorithms: ['HS256'],
        allowedAud: AUDIENCE,
        clockTolerance: CLOCK_SKEW_S * 1000,
        requiredClaims: ['iss', 'aud', 'iat', 'exp', 'jti'],
      })
      verifiers.set(key, v)
    }
    return v
  }
  const decode = createDecoder()

  /** The site a token names by its iss, or AuthError. */
  const siteNamed = (iss: unknown) => {
    if (typeof iss !== 'string' || !SITE_ID_RE.test(iss)) {
      throw new AuthError('invalid token: iss must name the site (1-64 printable ASCII characters)')
    }
    const site = siteOf(config, iss)
    if (site === null) throw new AuthError('invalid token: unknown site')
    return site
  }

  /** The claims of a token signed with one of `secrets` (the current one first), or AuthError with the reason. */
  const verifyWith = (secrets: string[], token: string): Record<string, unknown> => {
    let lastError: unknown
    for (const key of secrets) {
      try {
        return verifierOf(key)(token)
      } catch (err) {
        lastError = err
        if ((err as { code?: string }).code !== 'FAST_JWT_INVALID_SIGNATURE') break
      }
    }
    throw new AuthError(`invalid token: ${(lastError as Error).message}`)
  }

  /**
   * Verifies signature, alg, aud, iss, times and jti; returns the claims and the site's domain
   * or throws AuthError. The unverified iss only picks the keys: a token verifies with its own
   * site's secrets alone, so one site cannot sign for another. Without a sites file every site
   * has the same secrets: the token is verified first and its iss checked after (one decoding
   * less per event); a token that fails is checked again in the first order, for its reason.
   */
  app.decorate('verifyBridgeToken', (token: string, maxTtlS: number): Verified => {
    if (token.length > MAX_TOKEN_LENGTH) throw new AuthError('token too long')
    let verified: { claims: Record<string, unknown>, site: ReturnType<typeof siteNamed> } | null = null
    if (!config.siteFile) {
      let claims: Record<string, unknown> | null = null
      try {
        claims = verifyWith(config.secrets, token)
      } catch {}
      if (claims !== null) verified = { claims, site: siteNamed(claims.iss) }
    }
    if (verified === null) {
      let iss: unknown
      try {
        iss = (decode(token) as { iss?: unknown }).iss
      } catch (err) {
        throw new AuthError(`invalid token: ${(err as Error).message}`)
      }
      const site = siteNamed(iss)
      verified = { claims: verifyWith(site.secrets, token), site }
    }
    const { claims, site } = verified
    const { iat, exp, jti } = claims
    if (typeof iat !== 'number' || typeof exp !== 'number' || exp - iat > maxTtlS) {
      throw new AuthError(`invalid token: exp must be at most ${maxTtlS} s after iat`)
    }
    if (iat > Date.now() / 1000 + CLOCK_SKEW_S) throw new AuthError('invalid token: issued in the future')
    if (typeof jti !== 'string' || !JTI_RE.test(jti)) throw new AuthError('invalid token: jti must be 1-64 characters [A-Za-z0-9._:-]')
    return { claims, domainId: site.domainId }
  })

  app.decorate('requireAdmin', async (request: FastifyRequest, reply: FastifyReply) => app.guardAuth(request, reply, () => {
    const token = bearerToken(request)
    if (token === null || !safeEqual(token, config.adminToken)) throw new AuthError('admin token required')
  }))

  app.decorate('requireMetricsToken', async (request: FastifyRequest, reply: FastifyReply) => {
    const expected = config.metricsToken
    if (expected === null) return
    await app.guardAuth(request, reply, () => {
      const given = bearerToken(request) ?? basicPassword(request)
      if (given === null || !safeEqual(given, expected)) {
        // A browser asks for it (any user name, the token as password): /docs is read in one.
        reply.header('www-authenticate', 'Basic realm="civicrm-bridge", charset="UTF-8"')
        throw new AuthError('METRICS_TOKEN required')
      }
    })
  })
})

/** The password of a Basic Authorization header (any user name), or null. */
export function basicPassword (request: FastifyRequest): string | null {
  const m = /^Basic ([A-Za-z0-9+/=]{1,1400})$/i.exec(String(request.headers.authorization ?? '').trim())
  if (!m) return null
  const decoded = Buffer.from(m[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon < 0 ? null : decoded.slice(colon + 1)
}

/** onRequest hook of the event route: the token, before the body is even read. */
export async function requireEventToken (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  await request.server.guardAuth(request, reply, () => {
    const token = bearerToken(request)
    if (token === null) throw new AuthError('missing bearer token')
    const { claims, domainId } = request.server.verifyBridgeToken(token, MAX_EVENT_TTL_S)
    if (typeof claims.body_sha256 !== 'string' || !SHA256_RE.test(claims.body_sha256)) {
      throw new AuthError('invalid token: body_sha256 must be lowercase hex SHA-256')
    }
    request.eventClaims = claims as unknown as EventClaims
    request.eventDomainId = domainId
  })
}

/** preValidation hook of the event route: the body is the one the token signed. */
export async function requireSignedBody (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  await request.server.guardAuth(request, reply, () => {
    // Both are 64 hex digits (body_sha256 was checked with the token): 32 bytes each, compared in constant time.
    const body = request.bodySha256
    if (body === undefined || !timingSafeEqual(Buffer.from(body, 'hex'), Buffer.from(request.eventClaims!.body_sha256, 'hex'))) {
      throw new AuthError('body does not match the token (body_sha256)')
    }
  })
}
