// What server-rendered pages need: form bodies, signed cookies, CSRF tokens, security headers.
import { createHmac } from 'node:crypto'
import fp from 'fastify-plugin'
import cookie from '@fastify/cookie'
import formbody from '@fastify/formbody'
import csrf from '@fastify/csrf-protection'
import helmet from '@fastify/helmet'
import type { Config } from '../../config.js'

/** Cookie signing key derived from the bridge's session secret, so it is never the secret itself. */
export const cookieKey = (secret: string): string => createHmac('sha256', secret).update('civibridge-cookie').digest('hex')

export const HSTS = 'max-age=31536000; includeSubDomains'

export default fp(async (app, { config }: { config: Config }) => {
  // Served over plain http (a test box, a private network), upgrade-insecure-requests would
  // send the forms' posts to an https port that is not there, and HSTS would lock the browser
  // out: both only when the request came over https (directly or, with TRUST_PROXY, through the proxy).
  await app.register(helmet, {
    contentSecurityPolicy: { directives: { 'script-src': ["'self'"], 'form-action': ["'self'"], 'upgrade-insecure-requests': null } },
    strictTransportSecurity: false,
  })
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.protocol === 'https') {
      reply.header('strict-transport-security', HSTS)
      // helmet set the CSP in onRequest, on every route of this context.
      reply.header('content-security-policy', `${String(reply.getHeader('content-security-policy'))};upgrade-insecure-requests`)
    }
    return payload
  })
  // Signed with a key no Joomla site holds: a site's secret cannot forge a session.
  await app.register(cookie, { secret: cookieKey(config.sessionSecret) })
  await app.register(formbody, { bodyLimit: 64 * 1024 })
  await app.register(csrf, { cookieOpts: { signed: true, httpOnly: true, sameSite: 'lax', path: '/', secure: 'auto' } })
})
