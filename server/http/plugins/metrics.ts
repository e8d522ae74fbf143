// Prometheus metrics at GET /metrics: events by name and action, link latency, auth failures,
// sync progress, the write-behind queue and the database pool. One registry per app, so
// several apps (tests) never share counters.
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { desc, eq } from 'drizzle-orm'
import { bridgeSyncJob } from '../../../drizzle/schema/bridge.js'

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
    events: new Counter({ name: 'civibridge_events_total', help: 'Joomla events applied, by event name and action', labelNames: ['event', 'action'], registers: [registry] }),
    linkSeconds: new Histogram({
      name: 'civibridge_event_duration_seconds', help: 'Time to apply one event (link, unlink or acknowledge)', labelNames: ['event'], registers: [registry],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    }),
    authFailures: new Counter({ name: 'civibridge_auth_failures_total', help: 'Requests refused with 401, by route', labelNames: ['route'], registers: [registry] }),
  }
  // Read at scrape time from their owners, so nothing else has to remember to update them.
  const pool = app.database.pool.pool as unknown as PoolInternals
  new Gauge({ name: 'civibridge_db_pool_connections', help: 'Database connections: open, idle, and requests waiting for one', labelNames: ['state'], registers: [registry],
    collect () {
      this.set({ state: 'open' }, pool._allConnections.length)
      this.set({ state: 'idle' }, pool._freeConnections.length)
      this.set({ state: 'waiting' }, pool._connectionQueue.length)
    } })
  new Gauge({ name: 'civibridge_event_log_queued', help: 'Read-only decisions waiting to be written by the event log', registers: [registry],
    collect () { this.set(app.eventLog.size) } })
  new Gauge({ name: 'civibridge_sync_users', help: 'The latest Synchronize Users to Contacts job: users checked and users in all', labelNames: ['state'], registers: [registry],
    async collect () {
      const [job] = await app.database.db.select({ checked: bridgeSyncJob.checked, total: bridgeSyncJob.totalUsers }).from(bridgeSyncJob)
        .where(eq(bridgeSyncJob.domainId, app.config.domainId)).orderBy(desc(bridgeSyncJob.id)).limit(1)
      this.set({ state: 'checked' }, job?.checked ?? 0)
      this.set({ state: 'total' }, job?.total ?? 0)
    } })
  app.decorate('metrics', metrics)

  app.get('/metrics', { onRequest: app.requireMetricsToken }, async (request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
})
