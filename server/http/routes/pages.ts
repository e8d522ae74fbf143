// The page a person uses on the bridge: "Edit my details" (a CiviCRM profile: names and email).
// Contributions and memberships are CiviCRM's own pages, not the bridge's. A logged-in Joomla
// user arrives with ?assertion=…: it is checked and the page asks the person to continue as
// that account; only their same-site POST spends it, links the user (in the site's CiviCRM
// domain), sets a short signed session cookie (page-session.ts) and sends the browser to the
// clean URL. Forms carry CSRF tokens; every failure is an HTML page in plain words
// (page-errors.ts), never JSON.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { AssertionError, InvalidInput, assertionUser, parseProfile, type Act } from '../../domain/transactions.js'
import { assertionActor } from '../assertion.js'
import { sendSitePage } from '../html-reply.js'
import { ADVICE_LOGIN, pageErrorHandler } from '../page-errors.js'
import { readSession, setSession, type Session } from '../page-session.js'
import * as view from '../views/pages.js'

/** Where a sign-in link may lead, and the purpose its assertion must carry. */
const DESTINATION = /^\/civicrm\/profile\/edit\?gid=([1-9][0-9]{0,9})$/

const Assertion = Type.String({ minLength: 1, maxLength: 4096 })
const IdQuery = (name: 'gid') => Type.Object({
  [name]: Type.String({ pattern: '^[1-9][0-9]{0,9}$' }),
  assertion: Type.Optional(Assertion),
})
const FormBody = Type.Record(Type.String(), Type.String({ maxLength: 1000 }))
const SessionBody = Type.Object({ assertion: Assertion, to: Type.String({ maxLength: 100 }), _csrf: Type.Optional(Type.String()) })

/** The form's fields without the CSRF token. */
const fields = (body: Record<string, string>): Record<string, string> => {
  const { _csrf: _, ...rest } = body
  return rest
}

/** The host of an Origin header, or null when it is not a URL. */
const originHost = (origin: string) => {
  try { return new URL(origin).host } catch { return null }
}

const routes: FastifyPluginAsyncTypebox = async (app) => {
  // What does not depend on a site's domain (profiles, contacts).
  const service = app.services.transactionsFor(app.config.domainId)

  app.setErrorHandler(pageErrorHandler)

  /**
   * An assertion on the URL is only checked here (signature, purpose, page, not spent yet) and
   * the page asks the person to continue as that account: a GET never signs anyone in.
   */
  async function arrive (request: FastifyRequest, reply: FastifyReply, assertion: string, act: Act, cleanUrl: string, gid: number) {
    const actor = assertionActor(request, assertion)
    const user = assertionUser(actor.claims, act)
    await service.profileGroup(gid)
    const used = await app.services.transactionsFor(actor.domainId).assertionUsed(actor.claims.iss as string, actor.claims.jti as string)
    if (used) throw new AssertionError('this link was already used')
    const page = view.continuePage({ csrf: reply.generateCsrf(), assertion, to: cleanUrl, name: user.name, email: user.email })
    return sendSitePage(reply, 200, page)
  }

  /**
   * A form sent from another site is refused, besides the CSRF token's check: by the browser's
   * Sec-Fetch-Site, or (older browsers) by the Origin's host. The scheme is not compared, so a
   * TLS proxy without TRUST_PROXY does not refuse everyone.
   */
  async function sameOrigin (request: FastifyRequest): Promise<void> {
    const fetchSite = request.headers['sec-fetch-site']
    const origin = request.headers.origin
    if (fetchSite !== undefined ? fetchSite !== 'same-origin' : origin !== undefined && originHost(origin) !== request.host) {
      throw app.httpErrors.forbidden(`cross-site form (origin ${String(origin)}, sec-fetch-site ${String(fetchSite)})`)
    }
  }

  // The person's click on the page above: the assertion is spent, the user linked in the site's
  // domain, the session set, and the browser sent to the clean URL.
  app.post('/civicrm/session', { preHandler: [sameOrigin, app.csrfProtection], schema: { body: SessionBody } }, async (request, reply) => {
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
    if (!s) {
      const why = 'This page shows your own details, so it needs to know who you are.'
      return sendSitePage(reply, 401, view.errorPage('Please sign in first', why, ADVICE_LOGIN))
    }
    const p = (await service.profile(s.contactId))!
    const values = { first_name: p.firstName, last_name: p.lastName, email: p.email }
    return sendSitePage(reply, 200, view.profileForm({ title: group.title, action: url, csrf: reply.generateCsrf(), values }))
  })

  app.post('/civicrm/profile/edit', {
    schema: { querystring: IdQuery('gid'), body: FormBody },
    preHandler: app.csrfProtection,
  }, async (request, reply) => {
    const gid = Number(request.query.gid)
    const url = `/civicrm/profile/edit?gid=${gid}`
    const group = await service.profileGroup(gid)
    const s = await session(request)
    if (!s) return sendSitePage(reply, 401, view.errorPage('Your session has ended', 'Nothing was saved.', ADVICE_LOGIN))
    const values = fields(request.body)
    try {
      const input = parseProfile({ gid, fields: values })
      const r = await app.services.transactionsFor(s.domainId).saveProfile({ kind: 'session', ...s }, input)
      request.log.info({ act: 'profile', userId: s.ufId, contactId: r.contactId }, 'profile saved')
      const { firstName, lastName, email } = r.profile
      return sendSitePage(reply, 200, view.profileSaved({ title: group.title, editUrl: url, firstName, lastName, email }))
    } catch (err) {
      if (!(err instanceof InvalidInput)) throw err
      const error = { field: err.field.replace(/^fields\./, ''), message: err.message.replace(/^fields\./, '') }
      return sendSitePage(reply, 400, view.profileForm({ title: group.title, action: url, csrf: reply.generateCsrf(), values, error }))
    }
  })
}
export default routes
