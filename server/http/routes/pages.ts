// The page a person uses on the bridge: "Edit my details" (a CiviCRM profile: names and email).
// Contributions and memberships are CiviCRM's own pages, not the bridge's. A logged-in Joomla
// user arrives with ?assertion=…: it is verified and spent, the user
// is linked, a short signed session cookie is set and the browser is sent to the clean URL.
// Forms carry CSRF tokens; every failure is an HTML page, never JSON.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { isUnavailable } from '../../data/db.js'
import { RETRY_AFTER_S } from '../plugins/errors.js'
import { InvalidInput, parseProfile, type Act } from '../../domain/transactions.js'
import type { Actor } from '../../services/transaction-service.js'
import { assertionActor } from './transactions.js'
import * as view from '../views/pages.js'

export const SESSION_COOKIE = 'civibridge_session'
export const SESSION_TTL_S = 1800

interface Session { ufId: number, contactId: number }

export function setSession (request: FastifyRequest, reply: FastifyReply, s: Session, now = Date.now()): void {
  const exp = Math.floor(now / 1000) + SESSION_TTL_S
  reply.setCookie(SESSION_COOKIE, `${s.ufId}.${s.contactId}.${exp}`, {
    signed: true, httpOnly: true, sameSite: 'lax', secure: request.protocol === 'https', path: '/', maxAge: SESSION_TTL_S,
  })
}

/** The session cookie's user and contact when it is signed by us and not expired. */
export function readSession (request: FastifyRequest, now = Date.now()): Session | null {
  const raw = request.cookies[SESSION_COOKIE]
  if (raw === undefined) return null
  const { valid, value } = request.unsignCookie(raw)
  const m = valid ? /^([1-9][0-9]{0,9})\.([1-9][0-9]{0,9})\.([0-9]{1,12})$/.exec(value!) : null
  if (!m || Number(m[3]) * 1000 <= now) return null
  return { ufId: Number(m[1]), contactId: Number(m[2]) }
}

const IdQuery = (name: 'gid') => Type.Object({
  [name]: Type.String({ pattern: '^[1-9][0-9]{0,9}$' }),
  assertion: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
})
const FormBody = Type.Record(Type.String(), Type.String({ maxLength: 1000 }))

type Html = string
const html = (reply: FastifyReply, status: number, body: Html) => reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body)

/** The form's fields without the CSRF token. */
const fields = (body: Record<string, string>): Record<string, string> => {
  const { _csrf: _, ...rest } = body
  return rest
}

const ADVICE_LOGIN = 'Go back to the site, make sure you are logged in, and open the link again (for example "Edit my details").'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const service = app.transactions

  app.setErrorHandler((err: Error & { statusCode?: number, code?: string }, request, reply) => {
    if (isUnavailable(err)) {
      reply.header('Retry-After', String(RETRY_AFTER_S))
      return html(reply, 503, view.errorPage('Please try again shortly', 'The contact database cannot be reached right now.', 'Nothing was saved. Please try again in a minute.'))
    }
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
    request.log[status === 500 ? 'error' : 'info']({ err: status === 500 ? err : err.message, url: request.routeOptions.url, status }, 'page refused')
    if (status === 401) return html(reply, 401, view.errorPage('This link has expired or was already used', `The sign-in link could not be accepted: ${err.message.replace(/\.+$/, '')}.`, `Nothing was changed. ${ADVICE_LOGIN}`))
    if (status === 403) return html(reply, 403, view.errorPage('This form has expired', 'The form could not be checked (its security token is missing or out of date).', 'Nothing was saved. Reload the page and submit the form again.'))
    if (status === 404) return html(reply, 404, view.errorPage('Page not found', err.message, 'Check the link, or go back to the site.'))
    if (status === 409) return html(reply, 409, view.errorPage('Your account cannot be linked', err.message, 'Nothing was changed. Please contact the site administrator.'))
    if (status === 500) return html(reply, 500, view.errorPage('Something went wrong', 'The request could not be completed.', 'Nothing was saved. Please try again later.'))
    return html(reply, status, view.errorPage('The request could not be accepted', err.message, 'Check the link, or go back to the site.'))
  })

  /** An assertion on the URL: verify, link, start the session, and drop the assertion from the address bar. */
  async function arrive (request: FastifyRequest, reply: FastifyReply, assertion: string, act: Act, cleanUrl: string, gid?: number) {
    const actor = assertionActor(request, assertion) as Extract<Actor, { kind: 'assertion' }>
    const r = await service.link(actor.claims, act, gid)
    request.log.info({ act, userId: r.ufId, contactId: r.contactId, action: r.action }, 'page link')
    setSession(request, reply, { ufId: r.ufId, contactId: r.contactId })
    return reply.code(303).header('cache-control', 'no-store').redirect(cleanUrl)
  }

  /** The session, when its link still holds. */
  async function session (request: FastifyRequest): Promise<Session | null> {
    const s = readSession(request)
    return s && await service.sessionContact(s.ufId, s.contactId) ? s : null
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
      const r = await service.saveProfile({ kind: 'session', ...s }, parseProfile({ gid, fields: values }))
      request.log.info({ act: 'profile', userId: s.ufId, contactId: r.contactId }, 'profile saved')
      return html(reply, 200, view.profileSaved({ title: group.title, editUrl: url, firstName: r.profile.firstName, lastName: r.profile.lastName, email: r.profile.email }))
    } catch (err) {
      if (!(err instanceof InvalidInput)) throw err
      return html(reply, 400, view.profileForm({ title: group.title, action: url, csrf: reply.generateCsrf(), values, error: { field: err.field.replace(/^fields\./, ''), message: err.message.replace(/^fields\./, '') } }))
    }
  })
}
export default routes
