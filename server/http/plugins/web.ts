// What server-rendered pages need: form bodies, signed cookies, CSRF tokens, security headers.
import { createHmac } from 'node:crypto'
import fp from 'fastify-plugin'
import cookie from '@fastify/cookie'
import formbody from '@fastify/formbody'
import csrf from '@fastify/csrf-protection'
import helmet from '@fastify/helmet'
import type { Config } from '../../config.js'

/** Cookie signing key derived from the shared secret, so it is never the secret itself. */
export const cookieKey = (secret: string): string => createHmac('sha256', secret).update('civibridge-cookie').digest('hex')

export default fp(async (app, { config }: { config: Config }) => {
  await app.register(helmet, {
    contentSecurityPolicy: { directives: { 'script-src': ["'self'"], 'form-action': ["'self'"] } },
  })
  await app.register(cookie, { secret: config.secrets.map(cookieKey) })
  await app.register(formbody, { bodyLimit: 64 * 1024 })
  await app.register(csrf, { cookieOpts: { signed: true, httpOnly: true, sameSite: 'lax', path: '/' } })
})
