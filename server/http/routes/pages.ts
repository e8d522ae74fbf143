// The page a person uses on the bridge: "Edit my details" (a CiviCRM profile: names and email).
// Contributions and memberships are CiviCRM's own pages, not the bridge's. A logged-in Joomla
// user arrives with ?assertion=…: it is checked and the page asks the person to continue as
// that account; only their same-site POST spends it, links the user (in the site's CiviCRM
// domain), sets a short signed session cookie and sends the browser to the clean URL. Forms
// carry CSRF tokens; every failure is an HTML page in plain words (details in the log), never JSON.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { httpStatus, RETRY_AFTER_S } from '../errors.js'
import { AssertionError, InvalidInput, assertionUser, parseProfile, type Act } from '../../domain/transactions.js'
import { assertionActor } from '../assertion.js'
import * as view from '../views/pages.js'

export const SESSION_COOKIE = 'civibridge_session'
export const SESSION_TTL_S = 1800

/** A user of a site, in the site's CiviCRM domain. */
interface Session { domainId: number, ufId: number, contactId: number }

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
  const m = valid ? /^([1-9][0-9]{0,9})\.([1-9][0-9]{0,9})\.([1-9][0-9]{0,9})\.([0-9]{1,12})$/.exec(value!) : null
  if (!m || Number(m[4]) * 1000 <= now) return null
  return { domainId: Number(m[1]), ufId: Number(m[2]), contactId: Number(m[3]) }
}

/** Where a sign-in link may lead, and the purpose its assertion must carry. */
const DESTINATION = /^\/civicrm\/profile\/edit\?gid=([1-9][0-9]{0,9})$/

const IdQuery = (name: 'gid') => Type.Object({
  [name]: Type.String({ pattern: '^[1-9][0-9]{0,9}$' }),
  assertion: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
})
const FormBody = Type.Record(Type.String(), Type.String({ maxLength: 1000 }))

type Html = string
const html = (reply: FastifyReply, status: number, body: Html) => reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store')
  .send(view.withSite(body, { name: reply.server.config.joomlaSiteName, url: reply.server.config.joomlaSiteUrl }))

/** The form's fields without the CSRF token. */
const fields = (body: Record<string, string>): Record<string, string> => {
  const { _csrf: _, ...rest } = body
  return rest
}

const ADVICE_LOGIN = 'Go back to the site, make sure you are logged in, and open the link again (for example "Edit my details").'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  // What does not depend on a site's domain (profiles, contacts).
  const service = app.services.transactionsFor(app.config.domainId)

  app.setErrorHandler((err: Error, request, reply) => {
    const status = httpStatus(err)
    if (status === 503) {
      reply.header('Retry-After', String(RETRY_AFTER_S))
      return html(reply, 503, view.errorPage('Please try again shortly', 'The contact database cannot be reached right now.', 'Nothing was saved. Please try again in a minute.'))
    }
    // The reason (a library's or ours) is for the log; the person reads plain words.
    request.log[status === 500 ? 'error' : 'info']({ err: status === 500 ? err : err.message, url: request.routeOptions.url, status }, 'page refused')
    if (status === 401) {
      const why = /already used/.test(err.message)
        ? 'The sign-in link was already used: each link works once.'
        : /expired/.test(err.message) ? 'The sign-in link has expired: each link works for one minute.' : 'The sign-in link could not be accepted.'
      return html(reply, 401, view.errorPage('This link has expired or was already used', why, `Nothing was changed. ${ADVICE_LOGIN}`))
    }
    if (status === 403) return html(reply, 403, view.errorPage('This form has expired', 'The form could not be checked (its security token is missing or out of date, or it was sent from another site).', 'Nothing was saved. Reload the page and submit the form again.'))
    if (status === 404) return html(reply, 404, view.errorPage('Page not found', err.message, 'Check the link, or go back to the site.'))
    if (status === 409) return html(reply, 409, view.errorPage('Your account cannot be linked', 'Your account cannot be linked to a contact right now.', 'Nothing was changed. Please contact the site administrator.'))
    if (status === 500) return html(reply, 500, view.errorPage('Something went wrong', 'The request could not be completed.', 'Nothing was saved. Please try again later.'))
    // A schema's refusal (`querystring/gid must match pattern …`) is library text; our own refusals are plain words.
    const message = (err as { validation?: unknown }).validation !== undefined ? 'The link or the form is incomplete or not valid.' : err.message
    return html(reply, status, view.errorPage('The request could not be accepted', message, 'Check the link, or go back to the site.'))
  })

  /**
   * An assertion on the URL is only checked here (signature, purpose, page, not spent yet) and
   * the page asks the person to continue as that account: a GET never signs anyone in.
   */
  async function arrive (request: FastifyRequest, reply: FastifyReply, assertion: string, act: Act, cleanUrl: string, gid: number) {
    const actor = assertionActor(request, assertion)
    const user = assertionUser(actor.claims, act)
    await service.profileGroup(gid)
    if (await app.services.transactionsFor(actor.domainId).assertionUsed(actor.claims.iss as string, actor.claims.jti as string)) throw new AssertionError('this link was already used')
    return html(reply, 200, view.continuePage({ csrf: reply.generateCsrf(), assertion, to: cleanUrl, name: user.name, email: user.email }))
  }

  /**
   * A form sent from another site is refused, besides the CSRF token's check: by the browser's
   * Sec-Fetch-Site, or (older browsers) by the Origin's host. The scheme is not compared, so a
   * TLS proxy without TRUST_PROXY does not refuse everyone.
   */
  async function sameOrigin (request: FastifyRequest): Promise<void> {
    const fetchSite = request.headers['sec-fetch-site']
    const origin = request.headers.origin
    const originHost = (o: string) => { try { return new URL(o).host } catch { return null } }
    if (fetchSite !== undefined ? fetchSite !== 'same-origin' : origin !== undefined && originHost(origin) !== request.host) {
      throw app.httpErrors.forbidden(`cross-site form (origin ${String(origin)}, sec-fetch-site ${String(fetchSite)})`)
    }
  }

  // The person's click on the page above: the assertion is spent, the user linked in the site's
  // domain, the session set, and the browser sent to the clean URL.
  app.post('/civicrm/session', {
    preHandler: [sameOrigin, app.csrfProtection],
    schema: { body: Type.Object({ assertion: Type.String({ minLength: 1, maxLength: 4096 }), to: Type.String({ maxLength: 100 }), _csrf: Type.Optional(Type.String()) }) },
  }, async (request, reply) => {
    const { assertion, to } = request.body
    const m = DESTINATION.exec(to)
    if (!m) throw app.httpErrors.badRequest(`no page ${to}`)
    const actor = assertionActor(request, assertion)
    const r = await app.services.transactionsFor(actor.domainId).link(actor.claims, 'profile', Number(m[1]))
    request.log.info({ act: 'profile', site: actor.claims.iss, userId: r.ufId, contactId: r.contactId, action: r.action }, 'page link')
    setSession(request, reply, { domainId: actor.domainId, ufId: r.ufId, contactId: r.contactId })
    return reply.code(303).header('cache-control', 'no-store').redirect(to)
  })

  /** The session, when its link still holds. */
  async function session (request: FastifyRequest): Promise<Session | null> {
    const s = readSession(request)
    return s && await app.services.transactionsFor(s.domainId).sessionContact(s.ufId, s.contactId) ? s : null
  }

  // ------------------------------------------------------------------------------ profile

  app.get('/civicrm/profile/edit', { schema: { querystring: IdQuery('gid') } }, async (request, reply) => {
    const gid = Number(request.query.gid)
    const url = `/civicrm/profile/edit?gid=${gid}`
    if (request.query.assertion !== undefined) return arrive(request, reply, request.query.assertion, 'profile', url, gid)
    const group = await service.profileGroup(gid)
    const s = await session(request)
    if (!s) return html(reply, 401, view.errorPage('Please sign in first', 'This page shows your own details, so it needs to know who you are.', ADVICE_LOGIN))
    const p = (await service.profile(s.contactId))!
    return html(reply, 200, view.profileForm({ title: group.title, action: url, csrf: reply.generateCsrf(), values: { first_name: p.firstName, last_name: p.lastName, email: p.email } }))
  })

  app.post('/civicrm/profile/edit', { schema: { querystring: IdQuery('gid'), body: FormBody }, preHandler: app.csrfProtection }, async (request, reply) => {
    const gid = Number(request.query.gid)
    const url = `/civicrm/profile/edit?gid=${gid}`
    const group = await service.profileGroup(gid)
    const s = await session(request)
    if (!s) return html(reply, 401, view.errorPage('Your session has ended', 'Nothing was saved.', ADVICE_LOGIN))
    const values = fields(request.body)
    try {
      const r = await app.services.transactionsFor(s.domainId).saveProfile({ kind: 'session', ...s }, parseProfile({ gid, fields: values }))
      request.log.info({ act: 'profile', userId: s.ufId, contactId: r.contactId }, 'profile saved')
      return html(reply, 200, view.profileSaved({ title: group.title, editUrl: url, firstName: r.profile.firstName, lastName: r.profile.lastName, email: r.profile.email }))
    } catch (err) {
      if (!(err instanceof InvalidInput)) throw err
      return html(reply, 400, view.profileForm({ title: group.title, action: url, csrf: reply.generateCsrf(), values, error: { field: err.field.replace(/^fields\./, ''), message: err.message.replace(/^fields\./, '') } }))
    }
  })
}
export default routes
