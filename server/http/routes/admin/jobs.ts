// Synchronize Users to Contacts as the admin API and pages both see it: the job this process
// runs (started here, stopped when the app closes) and a job's figures as they are shown.
import type { FastifyInstance } from 'fastify'
import type { SyncJob, SyncRun } from '../../../services/sync-service.js'
import type { JobView, SkippedUser } from '../../views/admin.js'

/** Skipped users named on the pages; the API (`/v1/admin/sync/jobs/:id/skipped`) has them all. */
const SKIPPED_SHOWN = 100

export interface AdminJobs {
  /** Starts (or resumes) a synchronization in this process; throws SyncBusyError when one runs. */
  start (batchSize: number): Promise<SyncRun>
  /** The job as the API and pages show it: live figures when this process runs it. */
  view (job: SyncJob): Promise<JobView>
  /** The first skipped users of a finished job, named as Joomla knows them. */
  skippedUsers (job: JobView | null): Promise<SkippedUser[]>
}

export function adminJobs (app: FastifyInstance): AdminJobs {
  const { sync: service, joomlaUsers } = app.services
  let current: SyncRun | null = null
  const abort = new AbortController()
  // The running job stops after its chunk (the pools close after: they were opened earlier).
  app.addHook('onClose', async () => {
    abort.abort()
    await current?.done.catch(() => {})
  })

  return {
    async start (batchSize) {
      const run = await service.start({ batchSize, signal: abort.signal })
      current = run
      run.done.then(
        (r) => app.log.info({ job: r.jobId, counts: r.counts, ms: r.durationMs, status: r.status }, r.message),
        (err) => app.log.error({ job: run.jobId, err: (err as Error).message }, 'synchronization failed; start it again to resume')
      )
      return run
    },

    async view (job) {
      const live = current?.jobId === job.id ? current.progress() : null
      let status: JobView['status'] = job.status === 'done' ? 'done' : 'running'
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
    },

    async skippedUsers (job) {
      if (job?.status !== 'done' || job.counts.skipped === 0) return []
      const skipped = await service.jobs.skippedUsers(job.id, SKIPPED_SHOWN)
      const names = await joomlaUsers.names(skipped.map((s) => s.id))
      return skipped.map((s) => {
        const user = names.get(s.id)
        return { id: s.id, username: user?.username ?? null, name: user?.name ?? null, reason: s.reason }
      })
    },
  }
}
