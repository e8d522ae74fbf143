// The admin's login and logout pages: the admin token, typed once, opens a session
// (plugins/admin-session.ts) that the other admin pages require.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import { AuthError, safeEqual } from '../../plugins/auth.js'
import { httpStatus } from '../../errors.js'
import { sendHtml } from '../../html-reply.js'
import { loginPage } from '../../views/admin.js'

const Next = Type.Optional(Type.String({ maxLength: 500 }))
const LoginBody = Type.Object({ token: Type.String({ maxLength: 1000 }), next: Next, _csrf: Type.Optional(Type.String()) })

/** Where the browser goes after the login: an admin page, never another site. */
const safeNext = (next: unknown): string =>
  typeof next === 'string' && /^\/admin\/[A-Za-z0-9/_?=&.%-]*$/.test(next) ? next : '/admin/sync'

const WRONG_TOKEN = 'That is not the administrator token.'
const LOCKED_OUT = 'Too many wrong attempts from your address. Wait a minute, then try again.'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const adminToken = app.config.adminToken

  app.get('/admin/login', { schema: { querystring: Type.Object({ next: Next }) } }, async (request, reply) =>
    sendHtml(reply, 200, loginPage(reply.generateCsrf(), safeNext(request.query.next), null)))

  app.post('/admin/login', { preHandler: app.csrfProtection, schema: { body: LoginBody } }, async (request, reply) => {
    try {
      // Wrong tokens count per address like the event route's failures: past the limit even the right one gets 429.
      await app.guardAuth(request, reply, () => {
        if (!safeEqual(request.body.token, adminToken)) throw new AuthError('wrong admin token')
      })
    } catch (err) {
      const status = httpStatus(err)
      // guardAuth throws only these two; anything else would be a bug, not a refusal.
      /* c8 ignore next */
      if (!(err instanceof AuthError) && status !== 429) throw err
      request.log.info({ status }, 'admin login refused')
      const page = loginPage(reply.generateCsrf(), safeNext(request.body.next), status === 429 ? LOCKED_OUT : WRONG_TOKEN)
      return sendHtml(reply, status === 429 ? 429 : 401, page)
    }
    await app.adminSessions.open(request, reply)
    return reply.redirect(safeNext(request.body.next), 303)
  })

  app.post('/admin/logout', { preHandler: app.csrfProtection }, async (request, reply) => {
    await app.adminSessions.close(request, reply)
    return reply.redirect('/admin/login', 303)
  })
}
export default routes
