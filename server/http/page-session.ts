// The session of a person on the bridge's own pages ("Edit my details"): set when they follow
// a sign-in link from their Joomla site (routes/pages.ts), a short cookie signed with the
// cookie key of plugins/web.ts, naming the user and contact in the site's CiviCRM domain.
import type { FastifyReply, FastifyRequest } from 'fastify'

export const SESSION_COOKIE = 'civibridge_session'
export const SESSION_TTL_S = 1800

/** A user of a site, in the site's CiviCRM domain. */
export interface Session { domainId: number, ufId: number, contactId: number }

const VALUE = /^([1-9][0-9]{0,9})\.([1-9][0-9]{0,9})\.([1-9][0-9]{0,9})\.([0-9]{1,12})$/

export function setSession (request: FastifyRequest, reply: FastifyReply, s: Session, now = Date.now()): void {
  const exp = Math.floor(now / 1000) + SESSION_TTL_S
  reply.setCookie(SESSION_COOKIE, `${s.domainId}.${s.ufId}.${s.contactId}.${exp}`, {
    signed: true, httpOnly: true, sameSite: 'lax', secure: request.protocol === 'https', path: '/', maxAge: SESSION_TTL_S,
  })
}

/** The session cookie's user and contact when it is signed by us and not expired. */
export function readSession (request: FastifyRequest, now = Date.now()): Session | null {
  const raw = request.cookies[SESSION_COOKIE]
  if (raw === undefined) return null
  const { valid, value } = request.unsignCookie(raw)
  const m = valid ? VALUE.exec(value!) : null
  if (!m || Number(m[4]) * 1000 <= now) return null
  return { domainId: Number(m[1]), ufId: Number(m[2]), contactId: Number(m[3]) }
}
