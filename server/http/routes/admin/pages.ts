// The admin pages (an admin session required, plugins/admin-session.ts): Synchronize Users to
// Contacts (the button, the confirm step, a job's live progress and final message), the Change
// Log and a contact's details; any other /admin/ address is a page too, never JSON.
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import { SyncBusyError, DEFAULT_BATCH_SIZE } from '../../../services/sync-service.js'
import { CHANGE_LOG_PAGE_SIZE } from '../../../services/admin-service.js'
import { httpStatus } from '../../errors.js'
import { sendHtml } from '../../html-reply.js'
import * as view from '../../views/admin.js'
import type { AdminJobs } from './jobs.js'

const IdParam = Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,9}$' }) })
const ChangeLogQuery = Type.Object({
  from: Type.Optional(Type.String({ maxLength: 10 })),
  to: Type.Optional(Type.String({ maxLength: 10 })),
  page: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,6}$' })),
})

const DATE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/
const DAY_MS = 86_400_000
const utcDay = (d: Date) => d.toISOString().slice(0, 10)
const midnight = (day: string) => new Date(`${day}T00:00:00Z`)
/** A real calendar day written YYYY-MM-DD (not 2026-02-30). */
const isDay = (d: string) => DATE.test(d) && !Number.isNaN(midnight(d).getTime()) && utcDay(midnight(d)) === d

const START_FAILED = 'The synchronization could not start because of an error; nothing was changed. ' +
  'Check the bridge\'s configuration (JOOMLA_DB_URL, JOOMLA_DB_PREFIX) and try again.'
const BAD_WINDOW = 'Enter two dates (from, then to), the second not before the first.'

const routes: FastifyPluginAsyncTypebox<{ jobs: AdminJobs }> = async (app, { jobs }) => {
  const { sync: service, admin } = app.services
  const civicrmBaseUrl = app.config.civicrmBaseUrl
  const onRequest = app.adminSessions.requirePage

  app.get('/admin', async (_request, reply) => reply.redirect('/admin/sync', 303))

  // The pages' script (sync.js), a file beside the views; revalidated on every load.
  await app.register(fastifyStatic, {
    root: fileURLToPath(new URL('../../views/static/', import.meta.url)),
    prefix: '/admin/static/',
    decorateReply: false,
    cacheControl: false,
    setHeaders: (reply) => { reply.header('cache-control', 'no-cache') },
  })

  /** The latest job as the pages show it, if any. */
  const latestJob = async () => {
    const job = await service.jobs.latest()
    return job ? await jobs.view(job) : null
  }

  app.get('/admin/sync', { onRequest }, async (_request, reply) => {
    const latest = await latestJob()
    return sendHtml(reply, 200, view.syncPage(latest, reply.generateCsrf(), null, await jobs.skippedUsers(latest)))
  })

  app.get('/admin/sync/confirm', { onRequest }, async (_request, reply) =>
    sendHtml(reply, 200, view.confirmPage(reply.generateCsrf())))

  app.post('/admin/sync/start', { onRequest, preHandler: app.csrfProtection }, async (request, reply) => {
    try {
      const run = await jobs.start(DEFAULT_BATCH_SIZE)
      return reply.redirect(`/admin/sync/jobs/${run.jobId}`, 303)
    } catch (err) {
      const latest = await latestJob()
      if (err instanceof SyncBusyError) return sendHtml(reply, httpStatus(err), view.syncPage(latest, reply.generateCsrf(), err.message))
      request.log.error({ err }, 'the synchronization could not start')
      const message = `${START_FAILED} (Details: ${(err as Error).message})`
      return sendHtml(reply, 500, view.syncPage(latest, reply.generateCsrf(), message))
    }
  })

  app.get('/admin/sync/jobs/:id', { onRequest, schema: { params: IdParam } }, async (request, reply) => {
    const job = await service.jobs.get(Number(request.params.id))
    if (!job) {
      return sendHtml(reply, 404, view.notFoundPage(`There is no synchronization job ${request.params.id}.`, reply.generateCsrf()))
    }
    const shown = await jobs.view(job)
    return sendHtml(reply, 200, view.jobPage(shown, reply.generateCsrf(), await jobs.skippedUsers(shown)))
  })

  app.get('/admin/change-log', { onRequest, schema: { querystring: ChangeLogQuery } }, async (request, reply) => {
    const from = request.query.from || utcDay(new Date())
    const to = request.query.to || from
    const paging = { page: Number(request.query.page ?? 1), pageSize: CHANGE_LOG_PAGE_SIZE, civicrmBaseUrl }
    if (!isDay(from) || !isDay(to) || to < from) {
      return sendHtml(reply, 400, view.changeLogPage(from, to, [], 0, BAD_WINDOW, reply.generateCsrf(), { ...paging, page: 1 }))
    }
    const { rows, total } = await admin.changeLog(midnight(from), new Date(midnight(to).getTime() + DAY_MS), paging.page)
    const page = view.changeLogPage(from, to, rows, total, null, reply.generateCsrf(), paging)
    return sendHtml(reply, rows.length === 0 && total > 0 ? 404 : 200, page)
  })

  app.get('/admin/contacts/:id', { onRequest, schema: { params: IdParam } }, async (request, reply) => {
    const contact = await admin.contactDetails(Number(request.params.id))
    if (!contact) return sendHtml(reply, 404, view.notFoundPage(`There is no contact ${request.params.id}.`, reply.generateCsrf()))
    return sendHtml(reply, 200, view.contactPage(contact, reply.generateCsrf(), civicrmBaseUrl))
  })

  // Any other /admin/ address: a page, not JSON (static routes above take precedence).
  app.route({
    method: ['GET', 'HEAD', 'POST'],
    url: '/admin/*',
    schema: { hide: true },
    handler: async (request, reply) =>
      sendHtml(reply, 404, view.notFoundPage(`There is no page ${request.url.split('?')[0]}.`, reply.generateCsrf())),
  })
}
export default routes
