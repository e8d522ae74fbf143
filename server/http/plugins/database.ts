// The CiviCRM database pool (and Joomla's when apart) and the event log on it, closed with the app.
import fp from 'fastify-plugin'
import { Database } from '../../data/db.js'
import { BufferedEventLog } from '../../data/event-log.js'
import type { Config } from '../../config.js'
import type { JoomlaTarget } from '../../data/schema-check.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    database: Database
    eventLog: BufferedEventLog
    /** Joomla's users table: its database's pool (CiviCRM's when they share one) and prefix. */
    joomla: JoomlaTarget
  }
}

export default fp(async (app, { config }: { config: Config }) => {
  const database = new Database(config.civicrmDbUrl, {
    poolSize: config.dbPoolSize,
    domainId: config.domainId,
    queryTimeoutMs: config.dbQueryTimeoutMs,
    timeZone: config.timeZone,
  })
  const eventLog = new BufferedEventLog(database, {
    flushMs: config.eventLogFlushMs,
    maxBatch: 500,
    onError: (err, rows) => app.log.warn({ err: (err as Error).message, rows }, 'event log not written yet; will retry'),
  })
  const joomlaDb = config.joomlaDbUrl === config.civicrmDbUrl
    ? null
    : new Database(config.joomlaDbUrl, { poolSize: 2, queryTimeoutMs: config.dbQueryTimeoutMs })
  app.decorate('joomla', { pool: (joomlaDb ?? database).pool, prefix: config.joomlaDbPrefix })
  app.decorate('config', config)
  app.decorate('database', database)
  app.decorate('eventLog', eventLog)
  // Hooks run in reverse order of registration: the log is flushed before the pool closes.
  app.addHook('onClose', async () => { await database.close(); await joomlaDb?.close() })
  app.addHook('onClose', async () => { await eventLog.close() })
})
