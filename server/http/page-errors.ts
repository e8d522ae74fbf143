// Every failure of a person's page as an HTML page in plain words, never JSON: the status from
// the one mapping (errors.ts), the reason (a library's or ours) in the log.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { httpHeaders, httpStatus } from './errors.js'
import { sendSitePage } from './html-reply.js'
import { errorPage } from './views/pages.js'

export const ADVICE_LOGIN = 'Go back to the site, make sure you are logged in, and open the link again (for example "Edit my details").'

/** Title, what happened and what to do, for the statuses that have words of their own. */
const PAGES: Record<number, [title: string, message: string, advice: string]> = {
  403: [
    'This form has expired',
    'The form could not be checked (its security token is missing or out of date, or it was sent from another site).',
    'Nothing was saved. Reload the page and submit the form again.',
  ],
  409: [
    'Your account cannot be linked',
    'Your account cannot be linked to a contact right now.',
    'Nothing was changed. Please contact the site administrator.',
  ],
  500: ['Something went wrong', 'The request could not be completed.', 'Nothing was saved. Please try again later.'],
  503: [
    'Please try again shortly', 'The contact database cannot be reached right now.', 'Nothing was saved. Please try again in a minute.',
  ],
}

/** Why a sign-in link was refused, in words. */
function linkRefusal (message: string): string {
  if (/already used/.test(message)) return 'The sign-in link was already used: each link works once.'
  if (/expired/.test(message)) return 'The sign-in link has expired: each link works for one minute.'
  return 'The sign-in link could not be accepted.'
}

export function pageErrorHandler (err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = httpStatus(err)
  if (status === 503) {
    reply.headers(httpHeaders(err))
    return sendSitePage(reply, 503, errorPage(...PAGES[503]))
  }
  const logged = { err: status === 500 ? err : err.message, url: request.routeOptions.url, status }
  request.log[status === 500 ? 'error' : 'info'](logged, 'page refused')
  if (status === 401) {
    const page = errorPage('This link has expired or was already used', linkRefusal(err.message), `Nothing was changed. ${ADVICE_LOGIN}`)
    return sendSitePage(reply, 401, page)
  }
  if (status === 404) return sendSitePage(reply, 404, errorPage('Page not found', err.message, 'Check the link, or go back to the site.'))
  const words = PAGES[status]
  if (words !== undefined) return sendSitePage(reply, status, errorPage(...words))
  // A schema's refusal (`querystring/gid must match pattern …`) is library text; our own refusals are plain words.
  const message = (err as { validation?: unknown }).validation !== undefined
    ? 'The link or the form is incomplete or not valid.'
    : err.message
  return sendSitePage(reply, status, errorPage('The request could not be accepted', message, 'Check the link, or go back to the site.'))
}
