// Admin: a user's current link and the decisions that led to it.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/v1/users/:id/link', {
    onRequest: app.requireAdmin,
    schema: {
      summary: 'A user\'s link and the decisions that led to it (admin)',
      security: [{ adminToken: [] }],
      params: Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,9}$' }) }),
    },
  }, async (request) => app.services.admin.userLink(Number(request.params.id)))
}
export default routes
