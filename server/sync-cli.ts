// `civicrm-bridge sync [--dry-run] [--json] [--batch-size N]`: Synchronize Users to Contacts
// from the command line. The message is the last line on stdout; with --json the whole
// result is one JSON document instead; on a terminal a progress bar goes to stderr.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import mysql from 'mysql2/promise'
import cliProgress from 'cli-progress'
import type { Config } from './config.js'
import { UsageError, parseCommandArgs } from './cli-args.js'
import { Database } from './data/db.js'
import { buildServices } from './services/index.js'
import { DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, type SyncProgress } from './services/sync-service.js'

/** A wrong sync command line (the CLI's UsageError: one line and exit 1). */
export { UsageError as SyncUsageError }

export interface SyncArgs { dryRun: boolean, json: boolean, batchSize: number }

export function parseSyncArgs (argv: string[]): SyncArgs {
  const v = parseCommandArgs('sync', argv)
  const size = v['batch-size'] as string | undefined
  if (size !== undefined && (!/^[1-9][0-9]*$/.test(size) || Number(size) > MAX_BATCH_SIZE)) {
    throw new UsageError(`sync: --batch-size must be a whole number from 1 to ${MAX_BATCH_SIZE}`)
  }
  return { dryRun: v['dry-run'] === true, json: v.json === true, batchSize: size === undefined ? DEFAULT_BATCH_SIZE : Number(size) }
}

export interface SyncCliIo {
  out: (line: string) => void
  /** Where progress goes (stderr, say): a bar on a terminal, else a line every `progressEveryMs`. */
  tty?: NodeJS.WriteStream | null
  /** How often a progress line is written when `tty` is no terminal (cron, a pipe); default 5 s. */
  progressEveryMs?: number
}

export const PROGRESS_EVERY_MS = 5000
const num = (n: number) => n.toLocaleString('en-US')

/** One progress line, for logs and cron mail: "Synchronizing users: 2,000 of 10,000 checked (20%), 850 users/s, about 10 s left". */
export function progressLine (p: Pick<SyncProgress, 'done' | 'total' | 'rate' | 'etaS'>): string {
  const percent = p.total === 0 ? 100 : Math.floor((p.done / p.total) * 100)
  const eta = p.etaS === null ? '' : `, about ${num(Math.ceil(p.etaS))} s left`
  return `Synchronizing users: ${num(p.done)} of ${num(p.total)} checked (${percent}%), ${num(Math.round(p.rate))} users/s${eta}`
}

/** Progress lines at most every `everyMs` on a stream that is no terminal. */
function progressLines (stream: NodeJS.WriteStream, everyMs: number) {
  let last = Date.now()
  return {
    update (p: SyncProgress) {
      if (Date.now() - last < everyMs) return
      last = Date.now()
      stream.write(`${progressLine(p)}\n`)
    },
    stop () {},
  }
}

export async function runSyncCommand (argv: string[], config: Config, io: SyncCliIo): Promise<number> {
  const args = parseSyncArgs(argv)
  // The sync claim, the two chunks being written, the next one's facts read ahead, the job's
  // progress, and Joomla's users when on the same database.
  const database = new Database(config.civicrmDbUrl, {
    poolSize: 6, domainId: config.domainId, queryTimeoutMs: config.dbQueryTimeoutMs, timeZone: config.timeZone,
  })
  const joomlaPool = config.joomlaDbUrl === config.civicrmDbUrl
    ? null
    : mysql.createPool({ uri: config.joomlaDbUrl, connectionLimit: 1, charset: 'utf8mb4_unicode_ci', timezone: 'Z' })
  const bar = args.json || !io.tty
    ? null
    : io.tty.isTTY ? progressBar(io.tty) : progressLines(io.tty, io.progressEveryMs ?? PROGRESS_EVERY_MS)
  const abort = new AbortController()
  const stop = () => abort.abort()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    const service = buildServices({ database, joomla: { pool: joomlaPool ?? database.pool, prefix: config.joomlaDbPrefix }, config }).sync
    const keepHeapSmall = heapKeeper(HEAP_LIMIT_BYTES)
    const onProgress = (p: SyncProgress) => { keepHeapSmall(); bar?.update(p) }
    const result = await service.run({ dryRun: args.dryRun, batchSize: args.batchSize, signal: abort.signal, onProgress })
    bar?.stop()
    if (args.json) {
      io.out(JSON.stringify(result))
    } else {
      if (result.resumed) io.out(`Resumed job ${result.jobId}.`)
      io.out(result.message)
    }
    return result.status === 'done' ? 0 : 130
  } finally {
    bar?.stop()
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    await joomlaPool?.end()
    await database.close()
  }
}

/**
 * V8 lets a heap of chunks that die young in bulk grow to several times what is live before it
 * collects (18 MB live, 67 MB used at 100,000 users), which cost the sync its RSS bound. Past
 * `limit` bytes, a full collection between chunks: some 20 ms with ~19 MB live, about once in
 * 12 chunks of 1,000 users (docs/benchmarks.md).
 */
export const HEAP_LIMIT_BYTES = 48 * 2 ** 20
export function heapKeeper (limit: number): () => boolean {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  return () => {
    if (process.memoryUsage().heapUsed < limit) return false
    gc()
    return true
  }
}

/** The progress bar drawn on a terminal; started by the first progress report, which knows the total. */
function progressBar (stream: NodeJS.WriteStream) {
  const bar = new cliProgress.SingleBar({
    stream,
    format: 'Synchronizing users |{bar}| {percentage}% {value}/{total} users | {rate} users/s | ETA {eta_formatted}',
    hideCursor: true,
    etaBuffer: 20,
  }, cliProgress.Presets.shades_classic)
  let started = false
  return {
    update (p: SyncProgress) {
      const total = Math.max(p.total, 1)
      if (!started) { bar.start(total, p.done, { rate: '0' }); started = true }
      bar.setTotal(total)
      bar.update(p.done, { rate: Math.round(p.rate).toString() })
    },
    // cli-progress's stop does nothing before the bar starts or once it has stopped.
    stop: () => bar.stop(),
  }
}
