// civicrm-bridge <command>: migrate, check, serve, demo, prune (and sync, see its module). The
// commands, options and help are in cli-args.ts.
import { existsSync, readFileSync } from 'node:fs'
import { loadConfig, configDomains, type Config } from './config.js'
import { Database } from './data/db.js'
import { USAGE, COMMANDS, commandHelp, parseCommandArgs } from './cli-args.js'
import { CliError, ConfigError, NotCivicrmError, SyncBusyError, UsageError } from './errors.js'
import { buildServices, type Services } from './services/index.js'

/**
 * How long event records are kept by default, and at least: the plugin's outbox retries an event
 * with the same jti for about three days (20 tries, back-off up to 6 h), and a retry whose record
 * is gone would be applied again. Saves and logins applied twice are harmless; keep the margin.
 */
export const EVENT_RETENTION_DAYS = { default: 30, min: 7 }

export { CliError, UsageError, USAGE }

/**
 * The services on the configured databases, as the app and the sync CLI build them (Joomla's
 * pool, when it is another database, connects only if a command reads it), closed after `fn`.
 */
async function withServices<T> (config: Config, fn: (services: Services, database: Database) => Promise<T>): Promise<T> {
  const database = new Database(config.civicrmDbUrl, {
    poolSize: 2, domainId: config.domainId, queryTimeoutMs: config.dbQueryTimeoutMs, timeZone: config.timeZone,
  })
  const joomlaDb = config.joomlaDbUrl === config.civicrmDbUrl ? database : new Database(config.joomlaDbUrl, { poolSize: 1 })
  try {
    return await fn(buildServices({ database, joomla: { pool: joomlaDb.pool, prefix: config.joomlaDbPrefix }, config }), database)
  } finally {
    if (joomlaDb !== database) await joomlaDb.close()
    await database.close()
  }
}

export async function runCli (argv: string[], env: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined) {
    out(USAGE)
    return 2
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    out(rest[0] !== undefined && Object.hasOwn(COMMANDS, rest[0]) ? commandHelp(rest[0]) : USAGE)
    return 0
  }
  if (command === '--version' || command === '-V') {
    out(`civicrm-bridge ${version()}`)
    return 0
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    const what = command.startsWith('-') ? 'option' : 'command'
    throw new UsageError(`unknown ${what} ${JSON.stringify(command)}; run civicrm-bridge --help for the commands`)
  }
  const options = parseCommandArgs(command, rest)
  if (options.help) {
    out(commandHelp(command))
    return 0
  }
  if (command === 'demo') {
    const { runDemo } = await import('./demo.js')
    await runDemo(env, out)
    return 0
  }
  const config = loadConfig(env)
  switch (command) {
    case 'migrate':
      await withServices(config, async (services, db) => {
        let problem: string | null
        try {
          problem = await services.maintenance.migrate(configDomains(config))
        } catch (err) {
          if (err instanceof NotCivicrmError) throw new CliError(err.message)
          throw err
        }
        out(problem ? `bridge tables migrated; ${problem}` : `bridge tables migrated in ${db.name}`)
      })
      return 0
    case 'check':
      return withServices(config, async (services, db) => {
        const problem = await services.health.schemaProblem(configDomains(config))
        if (problem) throw new CliError(problem)
        out(`schema ok in ${db.name}`)
        return 0
      })
    case 'sync': {
      const { runSyncCommand } = await import('./sync-cli.js')
      try {
        return await runSyncCommand(rest, config, { out, tty: process.stderr })
      } catch (err) {
        if (err instanceof SyncBusyError) throw new CliError(err.message)
        throw err
      }
    }
    case 'prune': {
      const days = retentionDays(options['older-than-days'] as string | undefined)
      const before = new Date(Date.now() - days * 86_400_000)
      return withServices(config, async (services, db) => {
        const pruned = await services.maintenance.prune(before)
        out(`pruned ${pruned.events} event records and ${pruned.tokens} used tokens from before ${before.toISOString()} in ${db.name}`)
        return 0
      })
    }
    default: { // serve
      const { startServer } = await import('./server.js')
      await startServer(config)
      /* c8 ignore start */ // reached only once listening: tested in a child process, whose coverage tap does not merge
      return 0
    }
    /* c8 ignore stop */
  }
}

/** The package's version, from package.json beside server/ (sources) or build/server/ (the build). */
function version (): string {
  const candidates = ['../package.json', '../../package.json'].map((p) => new URL(p, import.meta.url))
  const file = candidates.find((u) => existsSync(u) && JSON.parse(readFileSync(u, 'utf8')).name === 'civicrm-joomla-bridge')!
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
}

function retentionDays (value: string | undefined): number {
  if (value === undefined) return EVENT_RETENTION_DAYS.default
  if (!/^[0-9]{1,5}$/.test(value) || Number(value) < EVENT_RETENTION_DAYS.min) {
    throw new UsageError(`prune: --older-than-days must be a whole number of days, at least ${EVENT_RETENTION_DAYS.min} ` +
      '(the plugin retries an event for about three days)')
  }
  return Number(value)
}

export function describeError (err: unknown): string {
  if (err instanceof ConfigError || err instanceof CliError) return err.message
  const e = err as { code?: string, message?: string }
  if (e?.code === 'ECONNREFUSED') return `cannot reach the database: ${e.message}`
  if (e?.code === 'ER_ACCESS_DENIED_ERROR' || e?.code === 'ER_BAD_DB_ERROR') return `database error: ${e.message}`
  // What made the database unavailable (a statement that timed out, a lost connection) is the cause's message.
  const cause = (err as { cause?: { message?: unknown } } | null)?.cause?.message
  return `error: ${e?.message ?? String(err)}${typeof cause === 'string' ? ` (${cause})` : ''}`.replace(/\s+/g, ' ')
}
