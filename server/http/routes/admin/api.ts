// The admin JSON API of Synchronize Users to Contacts: start (or resume) a job, the latest job,
// a job's progress and its skipped users. Starting takes the admin token; reads take the token
// or the admin session (the job page's script polls with the cookie).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import { SyncBusyError, DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE } from '../../../services/sync-service.js'
import { httpStatus } from '../../errors.js'
import type { AdminJobs } from './jobs.js'

const IdParam = Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,9}$' }) })
const StartBody = Type.Object(
  { batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_BATCH_SIZE })) },
  { additionalProperties: false }
)

const routes: FastifyPluginAsyncTypebox<{ jobs: AdminJobs }> = async (app, { jobs }) => {
  const { sync: service } = app.services
  const requireRead = app.adminSessions.requireRead

  app.post('/v1/admin/sync', { onRequest: app.requireAdmin, schema: { body: StartBody } }, async (request, reply) => {
    try {
      const run = await jobs.start(request.body.batchSize ?? DEFAULT_BATCH_SIZE)
      const job = (await service.jobs.get(run.jobId!))!
      return reply.code(202).header('location', `/v1/admin/sync/jobs/${job.id}`)
        .send({ ...await jobs.view(job), resumed: run.resumed })
    } catch (err) {
      if (!(err instanceof SyncBusyError)) throw err
      return reply.code(httpStatus(err)).send({ error: 'Conflict', message: err.message, jobId: err.job?.id ?? null })
    }
  })

  app.get('/v1/admin/sync', { onRequest: requireRead }, async () => {
    const job = await service.jobs.latest()
    return { latest: job ? await jobs.view(job) : null }
  })

  app.get('/v1/admin/sync/jobs/:id', { onRequest: requireRead, schema: { params: IdParam } }, async (request) => {
    const job = await service.jobs.get(Number(request.params.id))
    if (!job) throw app.httpErrors.notFound(`no sync job ${request.params.id}`)
    return jobs.view(job)
  })

  app.get('/v1/admin/sync/jobs/:id/skipped', { onRequest: requireRead, schema: { params: IdParam } }, async (request) => {
    const job = await service.jobs.get(Number(request.params.id))
    if (!job) throw app.httpErrors.notFound(`no sync job ${request.params.id}`)
    return { jobId: job.id, skippedUsers: await service.jobs.skippedUsers(job.id) }
  })
}
export default routes
