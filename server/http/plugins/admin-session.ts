// The admin's browser session, and who may see the admin routes. The cookie holds a random id
// signed with a key derived from the bridge's session secret (BRIDGE_SESSION_SECRET, by default
// BRIDGE_ADMIN_TOKEN), which no Joomla site holds; the session itself is a row
// (services/admin-service.ts) bound to the admin token it was opened with. Logout deletes the
// row; rotating the token ends every session.
import { createHash, createHmac, randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import { Signer } from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../../config.js'
import { AuthError, bearerToken, safeEqual } from './auth.js'

export const ADMIN_COOKIE = 'civibridge_admin'
export const ADMIN_SESSION_TTL_S = 8 * 3600

/** What the admin cookie of a request is worth. */
export type AdminCookie = 'open' | 'none' | 'forged' | 'ended'

export interface AdminSessions {
  open (request: FastifyRequest, reply: FastifyReply): Promise<void>
  check (request: FastifyRequest): Promise<AdminCookie>
  close (request: FastifyRequest, reply: FastifyReply): Promise<void>
  /**
   * onRequest hook of the admin API's reads: the admin token (any method) or an open session
   * (reads only: writes by cookie go through the CSRF-protected pages). Failures count towards
   * the address's lock-out.
   */
  requireRead (request: FastifyRequest, reply: FastifyReply): Promise<void>
  /**
   * onRequest hook of the admin pages: without an open session the browser goes to the login
   * form and comes back. A cookie we did not sign counts as a failed attempt (a locked-out
   * address gets 429).
   */
  requirePage (request: FastifyRequest, reply: FastifyReply): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance { adminSessions: AdminSessions }
}

/** The admin cookie's signing key: never a Joomla site's secret, never the session secret itself. */
export const adminCookieKey = (sessionSecret: string): string =>
  createHmac('sha256', sessionSecret).update('civibridge-admin-session').digest('hex')

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

export default fp(async (app, { config }: { config: Config }) => {
  const key = adminCookieKey(config.sessionSecret)
  const signer = new Signer([key])
  // Which admin token opened a session, without storing anything the token can be found from.
  const tokenFingerprint = createHmac('sha256', key).update(config.adminToken).digest('hex')

  /** The session id of the request's cookie when our key signed it. */
  const cookieId = (request: FastifyRequest): string | null | false => {
    const raw = request.cookies[ADMIN_COOKIE]
    if (raw === undefined) return null
    const { valid, value } = signer.unsign(raw)
    return valid && /^[A-Za-z0-9_-]{43}$/.test(value!) ? value! : false
  }

  const sessions: AdminSessions = {
    async open (request, reply) {
      const id = randomBytes(32).toString('base64url')
      const now = new Date()
      const expires = new Date(now.getTime() + ADMIN_SESSION_TTL_S * 1000)
      await app.services.adminSessions.open(sha256(id), tokenFingerprint, now, expires)
      reply.setCookie(ADMIN_COOKIE, signer.sign(id), {
        httpOnly: true, sameSite: 'lax', secure: request.protocol === 'https', path: '/', maxAge: ADMIN_SESSION_TTL_S,
      })
    },
    async check (request) {
      const id = cookieId(request)
      if (id === null) return 'none'
      if (id === false) return 'forged'
      return await app.services.adminSessions.isOpen(sha256(id), tokenFingerprint, new Date()) ? 'open' : 'ended'
    },
    async close (request, reply) {
      const id = cookieId(request)
      if (id) await app.services.adminSessions.close(sha256(id))
      reply.clearCookie(ADMIN_COOKIE, { path: '/' })
    },
    async requireRead (request, reply) {
      await app.guardAuth(request, reply, async () => {
        const token = bearerToken(request)
        if (token !== null ? safeEqual(token, config.adminToken) : await sessions.check(request) === 'open') return
        throw new AuthError('admin token or admin session required')
      })
    },
    async requirePage (request, reply) {
      let state = 'none' as AdminCookie
      try {
        await app.guardAuth(request, reply, async () => {
          state = await sessions.check(request)
          if (state === 'forged') throw new AuthError('admin cookie not signed by this bridge')
        })
      } catch (err) {
        if (!(err instanceof AuthError)) throw err
      }
      if (state !== 'open') return reply.redirect(`/admin/login?next=${encodeURIComponent(request.url)}`, 303)
    },
  }
  app.decorate('adminSessions', sessions)
})
