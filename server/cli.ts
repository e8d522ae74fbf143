// civicrm-bridge <command>: migrate, check, serve, demo (and sync, see its module).
import { loadConfig, ConfigError, configDomains, type Config } from './config.js'
import { Database } from './data/db.js'
import { migrateBridgeTables, NotCivicrmError } from './data/migrate.js'
import { schemaProblem } from './data/schema-check.js'
import { pruneBefore } from './data/event-store.js'

export const USAGE = `usage: civicrm-bridge <command>
  migrate   create or upgrade the bridge's own tables (civibridge_*)
  check     verify the CiviCRM tables and the bridge's tables
  serve     start the HTTP bridge
  demo      build a demo database, start the bridge, send a signed registration, print the link
  sync      Synchronize Users to Contacts [--dry-run] [--json] [--batch-size N]
  prune     delete event records and used tokens older than N days [--older-than-days N] (default 30, at least 7)`

/**
 * How long event records are kept by default, and at least: the plugin's outbox retries an event
 * with the same jti for about three days (20 tries, back-off up to 6 h), and a retry whose record
 * is gone would be applied again. Saves and logins applied twice are harmless; keep the margin.
 */
export const EVENT_RETENTION_DAYS = { default: 30, min: 7 }

/** A failure the CLI reports as one line and a non-zero exit. */
export class CliError extends Error {
  override name = 'CliError'
}

async function withDatabase<T> (config: Config, fn: (db: Database) => Promise<T>): Promise<T> {
  const database = new Database(config.civicrmDbUrl, { poolSize: 2, domainId: config.domainId, queryTimeoutMs: config.dbQueryTimeoutMs, timeZone: config.timeZone })
  try {
    return await fn(database)
  } finally {
    await database.close()
  }
}

export async function runCli (argv: string[], env: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const [command] = argv
  if (command === undefined || command === 'help' || command === '--help') {
    out(USAGE)
    return command === undefined ? 2 : 0
  }
  if (command === 'demo') {
    const { runDemo } = await import('./demo.js')
    await runDemo(env, out)
    return 0
  }
  const config = loadConfig(env)
  switch (command) {
    case 'migrate':
      await withDatabase(config, async (db) => {
        try {
          await migrateBridgeTables(db)
        } catch (err) {
          if (err instanceof NotCivicrmError) throw new CliError(err.message)
          throw err
        }
        const problem = await schemaProblem(db, { domains: configDomains(config) })
        out(problem ? `bridge tables migrated; ${problem}` : `bridge tables migrated in ${db.name}`)
      })
      return 0
    case 'check':
      return withDatabase(config, async (db) => {
        const joomlaDb = config.joomlaDbUrl === config.civicrmDbUrl ? db : new Database(config.joomlaDbUrl, { poolSize: 1 })
        const problem = await schemaProblem(db, { joomla: { pool: joomlaDb.pool, prefix: config.joomlaDbPrefix }, domains: configDomains(config) })
          .finally(() => joomlaDb === db ? undefined : joomlaDb.close())
        if (problem) throw new CliError(problem)
        out(`schema ok in ${db.name}`)
        return 0
      })
    case 'sync': {
      const { runSyncCommand } = await import('./sync-cli.js')
      try {
        return await runSyncCommand(argv.slice(1), config, { out, tty: process.stderr })
      } catch (err) {
        if ((err as Error).name === 'SyncBusyError' || (err as Error).name === 'SyncUsageError') throw new CliError((err as Error).message)
        throw err
      }
    }
    case 'prune': {
      const days = retentionDays(argv.slice(1))
      const before = new Date(Date.now() - days * 86_400_000)
      return withDatabase(config, async (db) => {
        const pruned = await pruneBefore(db, before)
        out(`pruned ${pruned.events} event records and ${pruned.tokens} used tokens from before ${before.toISOString()} in ${db.name}`)
        return 0
      })
    }
    case 'serve': {
      const { startServer } = await import('./server.js')
      await startServer(config)
      /* c8 ignore start */ // reached only once listening: tested in a child process, whose coverage tap does not merge
      return 0
    }
    /* c8 ignore stop */
    default:
      throw new CliError(`unknown command ${JSON.stringify(command)}\n${USAGE}`)
  }
}

function retentionDays (args: string[]): number {
  if (args.length === 0) return EVENT_RETENTION_DAYS.default
  const [flag, value] = args
  if (args.length !== 2 || flag !== '--older-than-days') throw new CliError(`usage: civicrm-bridge prune [--older-than-days N]`)
  if (!/^[0-9]{1,5}$/.test(value) || Number(value) < EVENT_RETENTION_DAYS.min) {
    throw new CliError(`--older-than-days must be a whole number of days, at least ${EVENT_RETENTION_DAYS.min} (the plugin retries an event for about three days)`)
  }
  return Number(value)
}

export function describeError (err: unknown): string {
  if (err instanceof ConfigError || err instanceof CliError) return err.message
  const e = err as { code?: string, message?: string }
  if (e?.code === 'ECONNREFUSED') return `cannot reach the database: ${e.message}`
  if (e?.code === 'ER_ACCESS_DENIED_ERROR' || e?.code === 'ER_BAD_DB_ERROR') return `database error: ${e.message}`
  return `error: ${e?.message ?? String(err)}`
}
