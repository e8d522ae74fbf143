// Administration: Synchronize Users to Contacts as a JSON API (admin token) and as pages
// (admin login, the confirm step, a live progress bar, the final message), the Change Log
// (contacts created or modified in a window, from civicrm_log) and a contact's details.
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { AuthError, bearerToken, safeEqual } from '../plugins/auth.js'
import { SyncBusyError, DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, type SyncJob, type SyncRun } from '../../services/sync-service.js'
import { CHANGE_LOG_PAGE_SIZE } from '../../services/admin-service.js'
import * as view from '../admin/views.js'
import { httpStatus } from '../errors.js'

export { ADMIN_COOKIE, ADMIN_SESSION_TTL_S } from '../plugins/admin-session.js'
import type { AdminCookie } from '../plugins/admin-session.js'

const html = (reply: FastifyReply, status: number, body: string) =>
  reply.code(status).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(body)

const DATE = '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'
const IdParam = Type.Object({ id: Type.String({ pattern: '^[1-9][0-9]{0,9}$' }) })
const utcDay = (d: Date) => d.toISOString().slice(0, 10)
/** Skipped users named on the pages; the API (`/v1/admin/sync/jobs/:id/skipped`) has them all. */
const SKIPPED_SHOWN = 100

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const config = app.config
  const { sync: service, joomlaUsers, admin } = app.services
  let current: SyncRun | null = null
  const abort = new AbortController()
  // The running job stops after its chunk (the pools close after: they were opened earlier).
  app.addHook('onClose', async () => {
    abort.abort()
    await current?.done.catch(() => {})
  })

  async function startJob (batchSize: number): Promise<SyncRun> {
    const run = await service.start({ batchSize, signal: abort.signal })
    current = run
    run.done.then(
      (r) => app.log.info({ job: r.jobId, counts: r.counts, ms: r.durationMs, status: r.status }, r.message),
      (err) => app.log.error({ job: run.jobId, err: (err as Error).message }, 'synchronization failed; start it again to resume')
    )
    return run
  }

  /** The job as the API and pages show it: live figures when this process runs it. */
  async function jobView (job: SyncJob): Promise<view.JobView> {
    const live = current?.jobId === job.id ? current.progress() : null
    let status: view.JobView['status'] = job.status === 'done' ? 'done' : 'running'
    if (status === 'running' && live?.status !== 'running') {
      // Not running here: running in another process exactly when someone holds the sync claim.
      if (!await service.syncClaimed()) status = 'interrupted'
    }
    const done = live?.done ?? job.counts.checked
    const total = Math.max(live?.total ?? job.totalUsers ?? 0, done)
    const elapsedS = (job.heartbeatAt.getTime() - job.startedAt.getTime()) / 1000
    const rate = live ? live.rate : (elapsedS > 0 ? job.counts.checked / elapsedS : null)
    return {
      id: job.id,
      status,
      done,
      total,
      percent: total === 0 ? (status === 'done' ? 100 : 0) : Math.floor((done / total) * 100),
      counts: live?.counts ?? job.counts,
      rate: status === 'running' ? rate : null,
      etaS: status === 'running' && rate ? Math.max(total - done, 0) / rate : null,
      message: job.message,
      error: live?.error ?? job.error,
      startedAt: job.startedAt.toISOString(),
      finishedAt: job.finishedAt?.toISOString() ?? null,
    }
  }

  /** The first skipped users of a finished job, named as Joomla knows them. */
  async function skippedUsers (job: view.JobView | null): Promise<view.SkippedUser[]> {
    if (job?.status !== 'done' || job.counts.skipped === 0) return []
    const skipped = await service.jobs.skippedUsers(job.id, SKIPPED_SHOWN)
    const names = await joomlaUsers.names(skipped.map((s) => s.id))
    return skipped.map((s) => ({ id: s.id, username: names.get(s.id)?.username ?? null, name: names.get(s.id)?.name ?? null, reason: s.reason }))
  }

  /**
   * Admin token (any method) or admin session cookie (reads only: writes by cookie go through
   * the CSRF-protected pages). Failures count towards the address's lock-out.
   */
  async function requireAdminRead (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    await app.guardAuth(request, reply, async () => {
      const token = bearerToken(request)
      if (token !== null ? safeEqual(token, config.adminToken) : await app.adminSessions.check(request) === 'open') return
      throw new AuthError('admin token or admin session required')
    })
  }

  // ---- JSON API ----------------------------------------------------------------------

  app.post('/v1/admin/sync', {
    onRequest: app.requireAdmin,
    schema: { body: Type.Object({ batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_BATCH_SIZE })) }, { additionalProperties: false }) },
  }, async (request, reply) => {
    try {
      const run = await startJob(request.body.batchSize ?? DEFAULT_BATCH_SIZE)
      const job = (await service.jobs.get(run.jobId!))!
      return reply.code(202).header('location', `/v1/admin/sync/jobs/${job.id}`).send({ ...await jobView(job), resumed: run.resumed })
    } catch (err) {
      if (err instanceof SyncBusyError) return reply.code(httpStatus(err)).send({ error: 'Conflict', message: err.message, jobId: err.job?.id ?? null })
      throw err
    }
  })

  app.get('/v1/admin/sync', { onRequest: requireAdminRead }, async () => {
    const job = await service.jobs.latest()
    return { latest: job ? await jobView(job) : null }
  })

  app.get('/v1/admin/sync/jobs/:id', { onRequest: requireAdminRead, schema: { params: IdParam } }, async (request) => {
    const job = await service.jobs.get(Number(request.params.id))
    if (!job) throw app.httpErrors.notFound(`no sync job ${request.params.id}`)
    return jobView(job)
  })

  app.get('/v1/admin/sync/jobs/:id/skipped', { onRequest: requireAdminRead, schema: { params: IdParam } }, async (request) => {
    const job = await service.jobs.get(Number(request.params.id))
    if (!job) throw app.httpErrors.notFound(`no sync job ${request.params.id}`)
    return { jobId: job.id, skippedUsers: await service.jobs.skippedUsers(job.id) }
  })

  // ---- pages -------------------------------------------------------------------------

  /**
   * Pages need a session; without one the browser goes to the login form and comes back. A
   * cookie we did not sign counts as a failed attempt (a locked-out address gets 429).
   */
  async function requireAdminPage (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    let state = 'none' as AdminCookie
    try {
      await app.guardAuth(request, reply, async () => {
        state = await app.adminSessions.check(request)
        if (state === 'forged') throw new AuthError('admin cookie not signed by this bridge')
      })
    } catch (err) {
      if (!(err instanceof AuthError)) throw err
    }
    if (state !== 'open') return reply.redirect(`/admin/login?next=${encodeURIComponent(request.url)}`, 303)
  }
  const safeNext = (next: unknown): string => (typeof next === 'string' && /^\/admin\/[A-Za-z0-9/_?=&.%-]*$/.test(next) ? next : '/admin/sync')

  app.get('/admin', async (_request, reply) => reply.redirect('/admin/sync', 303))

  app.get('/admin/login', { schema: { querystring: Type.Object({ next: Type.Optional(Type.String({ maxLength: 500 })) }) } }, async (request, reply) =>
    html(reply, 200, view.loginPage(reply.generateCsrf(), safeNext(request.query.next), null)))

  app.post('/admin/login', {
    preHandler: app.csrfProtection,
    schema: { body: Type.Object({ token: Type.String({ maxLength: 1000 }), next: Type.Optional(Type.String({ maxLength: 500 })), _csrf: Type.Optional(Type.String()) }) },
  }, async (request, reply) => {
    try {
      // Wrong tokens count per address like the event route's failures: past the limit even the right one gets 429.
      await app.guardAuth(request, reply, () => {
        if (!safeEqual(request.body.token, config.adminToken)) throw new AuthError('wrong admin token')
      })
    } catch (err) {
      const status = httpStatus(err)
      // guardAuth throws only these two; anything else would be a bug, not a refusal.
      /* c8 ignore next */
      if (!(err instanceof AuthError) && status !== 429) throw err
      request.log.info({ status }, 'admin login refused')
      const message = status === 429 ? 'Too many wrong attempts from your address. Wait a minute, then try again.' : 'That is not the administrator token.'
      return html(reply, status === 429 ? 429 : 401, view.loginPage(reply.generateCsrf(), safeNext(request.body.next), message))
    }
    await app.adminSessions.open(request, reply)
    return reply.redirect(safeNext(request.body.next), 303)
  })

  app.post('/admin/logout', { preHandler: app.csrfProtection }, async (request, reply) => {
    await app.adminSessions.close(request, reply)
    return reply.redirect('/admin/login', 303)
  })

  // The pages' script (sync.js), a file beside the views; revalidated on every load.
  await app.register(fastifyStatic, {
    root: fileURLToPath(new URL('../admin/static/', import.meta.url)),
    prefix: '/admin/static/',
    decorateReply: false,
    cacheControl: false,
    setHeaders: (reply) => { reply.header('cache-control', 'no-cache') },
  })

  app.get('/admin/sync', { onRequest: requireAdminPage }, async (_request, reply) => {
    const job = await service.jobs.latest()
    const latest = job ? await jobView(job) : null
    return html(reply, 200, view.syncPage(latest, reply.generateCsrf(), null, await skippedUsers(latest)))
  })

  app.get('/admin/sync/confirm', { onRequest: requireAdminPage }, async (_request, reply) =>
    html(reply, 200, view.confirmPage(reply.generateCsrf())))

  app.post('/admin/sync/start', { onRequest: requireAdminPage, preHandler: app.csrfProtection }, async (request, reply) => {
    try {
      const run = await startJob(DEFAULT_BATCH_SIZE)
      return reply.redirect(`/admin/sync/jobs/${run.jobId}`, 303)
    } catch (err) {
      const job = await service.jobs.latest()
      if (err instanceof SyncBusyError) return html(reply, httpStatus(err), view.syncPage(job ? await jobView(job) : null, reply.generateCsrf(), err.message))
      request.log.error({ err }, 'the synchronization could not start')
      return html(reply, 500, view.syncPage(job ? await jobView(job) : null, reply.generateCsrf(),
        `The synchronization could not start because of an error; nothing was changed. Check the bridge's configuration (JOOMLA_DB_URL, JOOMLA_DB_PREFIX) and try again. (Details: ${(err as Error).message})`))
    }
  })

  app.get('/admin/sync/jobs/:id', { onRequest: requireAdminPage, schema: { params: IdParam } }, async (request, reply) => {
    const job = await service.jobs.get(Number(request.params.id))
    if (!job) return html(reply, 404, view.notFoundPage(`There is no synchronization job ${request.params.id}.`, reply.generateCsrf()))
    const shown = await jobView(job)
    return html(reply, 200, view.jobPage(shown, reply.generateCsrf(), await skippedUsers(shown)))
  })

  app.get('/admin/change-log', {
    onRequest: requireAdminPage,
    schema: { querystring: Type.Object({ from: Type.Optional(Type.String({ maxLength: 10 })), to: Type.Optional(Type.String({ maxLength: 10 })), page: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,6}$' })) }) },
  }, async (request, reply) => {
    const today = utcDay(new Date())
    const from = request.query.from || today
    const to = request.query.to || from
    const paging = { page: Number(request.query.page ?? 1), pageSize: CHANGE_LOG_PAGE_SIZE, civicrmBaseUrl: config.civicrmBaseUrl }
    const valid = (d: string) => new RegExp(DATE).test(d) && !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && utcDay(new Date(`${d}T00:00:00Z`)) === d
    if (!valid(from) || !valid(to) || to < from) {
      return html(reply, 400, view.changeLogPage(from, to, [], 0, 'Enter two dates (from, then to), the second not before the first.', reply.generateCsrf(), { ...paging, page: 1 }))
    }
    const { rows, total } = await admin.changeLog(new Date(`${from}T00:00:00Z`), new Date(Date.parse(`${to}T00:00:00Z`) + 86_400_000), paging.page)
    return html(reply, rows.length === 0 && total > 0 ? 404 : 200, view.changeLogPage(from, to, rows, total, null, reply.generateCsrf(), paging))
  })

  app.get('/admin/contacts/:id', { onRequest: requireAdminPage, schema: { params: IdParam } }, async (request, reply) => {
    const contact = await admin.contactDetails(Number(request.params.id))
    if (!contact) return html(reply, 404, view.notFoundPage(`There is no contact ${request.params.id}.`, reply.generateCsrf()))
    return html(reply, 200, view.contactPage(contact, reply.generateCsrf(), config.civicrmBaseUrl))
  })

  // Any other /admin/ address: a page, not JSON (static routes above take precedence).
  app.route({
    method: ['GET', 'HEAD', 'POST'],
    url: '/admin/*',
    schema: { hide: true },
    handler: async (request, reply) => html(reply, 404, view.notFoundPage(`There is no page ${request.url.split('?')[0]}.`, reply.generateCsrf())),
  })
}
export default routes
