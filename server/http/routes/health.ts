import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import { DatabaseUnavailableError } from '../../errors.js'
import { httpHeaders, httpStatus } from '../errors.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  /** The process is up; says whether the database answers. */
  app.get('/health', {
    schema: {
      response: { 200: Type.Object({ status: Type.Literal('ok'), database: Type.Union([Type.Literal('up'), Type.Literal('down')]) }) },
    },
  }, async () => ({ status: 'ok' as const, database: (await app.services.health.ping()) ? 'up' as const : 'down' as const }))

  /** Ready for traffic: the database answers and the schema check passes. */
  app.get('/ready', async (request, reply) => {
    if (!await app.services.health.ping()) {
      const err = new DatabaseUnavailableError('database unreachable')
      return reply.code(httpStatus(err)).headers(httpHeaders(err)).send({ ready: false, reason: err.message })
    }
    const problem = await app.services.health.schemaProblem()
    if (problem) return reply.code(503).send({ ready: false, reason: problem })
    return { ready: true }
  })
}
export default routes
