// Prometheus metrics at GET /metrics: events by name and action, link latency, auth failures,
// HTTP latency per route, profile saves, sync progress and the last sync's figures, the
// write-behind queue and the database pool. One registry per app, so
// several apps (tests) never share counters.
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface BridgeMetrics {
  registry: Registry
  events: Counter<'event' | 'action'>
  linkSeconds: Histogram<'event'>
  authFailures: Counter<'route'>
}

declare module 'fastify' {
  interface FastifyInstance { metrics: BridgeMetrics }
}

interface PoolInternals { _allConnections: { length: number }, _freeConnections: { length: number }, _connectionQueue: { length: number } }

export default fp(async (app) => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'civibridge_' })
  const metrics: BridgeMetrics = {
    registry,
    events: new Counter({
      name: 'civibridge_events_total',
      help: 'Joomla events applied, by event name and action',
      labelNames: ['event', 'action'],
      registers: [registry],
    }),
    linkSeconds: new Histogram({
      name: 'civibridge_event_duration_seconds',
      help: 'Time to apply one event (link, unlink or acknowledge)',
      labelNames: ['event'],
      registers: [registry],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    }),
    authFailures: new Counter({
      name: 'civibridge_auth_failures_total',
      help: 'Requests refused with 401, by route',
      labelNames: ['route'],
      registers: [registry],
    }),
  }
  // Read at scrape time from their owners, so nothing else has to remember to update them.
  const pool = app.database.pool.pool as unknown as PoolInternals
  /* eslint-disable no-new -- a gauge registers itself in `registers`; nothing else keeps it */
  new Gauge({
    name: 'civibridge_db_pool_connections',
    help: 'Database connections: open, idle, and requests waiting for one',
    labelNames: ['state'],
    registers: [registry],
    collect () {
      this.set({ state: 'open' }, pool._allConnections.length)
      this.set({ state: 'idle' }, pool._freeConnections.length)
      this.set({ state: 'waiting' }, pool._connectionQueue.length)
    }
  })
  new Gauge({
    name: 'civibridge_event_log_queued',
    help: 'Read-only decisions waiting to be written by the event log',
    registers: [registry],
    collect () { this.set(app.eventLog.size) }
  })
  new Gauge({
    name: 'civibridge_sync_users',
    help: 'The latest Synchronize Users to Contacts job: users checked and users in all',
    labelNames: ['state'],
    registers: [registry],
    async collect () {
      const job = await app.services.sync.latestProgress()
      this.set({ state: 'checked' }, job?.checked ?? 0)
      this.set({ state: 'total' }, job?.total ?? 0)
    }
  })
  // The last finished sync, whichever process ran it (the CLI too): read from its job row.
  const lastDone = () => app.services.sync.lastDone()
  new Gauge({
    name: 'civibridge_sync_last_contacts',
    help: 'The last finished Synchronize Users to Contacts: users matched to existing contacts, contacts created, users skipped',
    labelNames: ['outcome'],
    registers: [registry],
    async collect () {
      const job = await lastDone()
      this.set({ outcome: 'matched' }, job?.matched ?? 0)
      this.set({ outcome: 'created' }, job?.created ?? 0)
      this.set({ outcome: 'skipped' }, job?.skipped ?? 0)
    }
  })
  new Gauge({
    name: 'civibridge_sync_last_duration_seconds',
    help: 'How long the last finished Synchronize Users to Contacts took, start to finish (a resumed job counts from its first start)',
    registers: [registry],
    async collect () {
      const job = await lastDone()
      this.set(job?.finishedAt ? (job.finishedAt.getTime() - job.startedAt.getTime()) / 1000 : 0)
    }
  })
  /* eslint-enable no-new */

  // Per route (its pattern, so that ids do not make new series); 404s share "unmatched".
  const httpSeconds = new Histogram({
    name: 'civibridge_http_request_duration_seconds',
    help: 'HTTP requests by method, route and status code, and how long they took',
    labelNames: ['method', 'route', 'status_code'],
    registers: [registry],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  })
  // Saved profiles: the page's form and the JSON API answer 200 only when the save is done.
  const profileSaves = new Counter({
    name: 'civibridge_profile_saves_total',
    help: 'Profiles saved ("Edit my details"), by the page or the API',
    labelNames: ['via'],
    registers: [registry],
  })
  const PROFILE_SAVES: Record<string, string> = { 'POST /civicrm/profile/edit': 'page', 'POST /v1/transactions/profile': 'api' }
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    httpSeconds.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000)
    const via = PROFILE_SAVES[`${request.method} ${route}`]
    if (via !== undefined && reply.statusCode === 200) profileSaves.inc({ via })
  })
  app.decorate('metrics', metrics)

  app.get('/metrics', { onRequest: app.requireMetricsToken }, async (request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
})
