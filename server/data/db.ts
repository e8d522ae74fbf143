// Connection pool and units of work. A unit of work is one pooled connection running one
// READ COMMITTED transaction, with named locks (GET_LOCK) released when it ends. Deadlocks and
// lost unique-key races re-run the whole unit: the unique keys are the last guard.
import { createHash } from 'node:crypto'
import mysql from 'mysql2/promise'
import { drizzle } from 'drizzle-orm/mysql2'
import type { MySqlTransaction } from 'drizzle-orm/mysql-core'
import type { MySql2Database, MySql2QueryResultHKT, MySql2PreparedQueryHKT } from 'drizzle-orm/mysql2'
import type { ExtractTablesWithRelations } from 'drizzle-orm'
import { civicrmCollation, type Collation } from './collation.js'
import type { SiteSettings } from '../domain/contact.js'
import type { SiteTimeZone } from '../domain/time.js'
import { SiteSettingsCache } from './site-settings.js'

export type Tx = MySqlTransaction<MySql2QueryResultHKT, MySql2PreparedQueryHKT, Record<string, never>, ExtractTablesWithRelations<Record<string, never>>>
export type Db = MySql2Database

export interface Unit {
  tx: Tx
  lock (keys: string[]): Promise<void>
  /** Plain SQL on the unit's connection, for bulk inserts (`VALUES ?` with an array of rows), which Drizzle builds slowly. */
  query (text: string, values: unknown[]): Promise<unknown>
  /** A server-side prepared statement on the unit's connection; rows as arrays. */
  prepared: PreparedQuery
}

/** Runs a server-side prepared statement (prepared once per connection, then only executed); rows as arrays, in select order. */
export type PreparedQuery = (text: string, values: Array<string | number | Date | null>) => Promise<unknown>

/** The database cannot answer now; the HTTP layer turns this into 503 with Retry-After. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError'
  constructor (message: string, readonly cause?: unknown) { super(message) }
}

// ER_USER_LOCK_DEADLOCK: MySQL 8's name for a circle of named locks (MariaDB says ER_LOCK_DEADLOCK).
const RETRYABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_USER_LOCK_DEADLOCK', 'ER_DUP_ENTRY', 'ER_LOCK_WAIT_TIMEOUT'])
/** A statement the database did not answer in time (its connection is closed). */
export const STATEMENT_TIMEOUT = 'PROTOCOL_SEQUENCE_TIMEOUT'
/** How long a statement may wait for the database's answer by default (DB_QUERY_TIMEOUT_MS). */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000
const UNAVAILABLE = new Set([STATEMENT_TIMEOUT, 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'PROTOCOL_CONNECTION_LOST', 'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR', 'ENOTFOUND', 'EHOSTUNREACH', 'ER_GET_CONNECTION_TIMEOUT', 'POOL_CLOSED'])
const MAX_ATTEMPTS = 6

export function errorCode (err: unknown): string | undefined {
  const e = err as { code?: string, cause?: { code?: string } } | null
  return e?.code ?? e?.cause?.code
}

/** The database cannot be reached, or the connection died (Drizzle wraps driver errors in `cause`). */
export function isUnavailable (err: unknown): boolean {
  for (let e = err as { code?: string, fatal?: boolean, cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e instanceof DatabaseUnavailableError || e.fatal === true || (e.code !== undefined && UNAVAILABLE.has(e.code))) return true
    // mysql2 gives no code to a query queued for a connection when the pool closes (shutdown).
    if ((e as { message?: string }).message === 'Pool is closed.') return true
  }
  return false
}

interface CoreCommand { onResult?: (err: Error | null, ...rest: unknown[]) => void, timeout?: number }
interface CoreConnection { addCommand (cmd: CoreCommand): unknown, destroy (): void }

/**
 * Every command of a driver connection (query, prepare, execute, ping) gets an answer within
 * `ms` (or the command's own `timeout`): past it the command fails with STATEMENT_TIMEOUT and
 * the connection is closed, so that the commands queued behind it fail at once instead of
 * waiting for a database that stopped answering (the server rolls its transaction back).
 * mysql2's own query timeout does not cover prepares, and leaves the connection waiting.
 */
function boundStatements (conn: CoreConnection, ms: number): void {
  const add = conn.addCommand.bind(conn)
  conn.addCommand = (cmd) => {
    const reply = cmd.onResult
    if (typeof reply === 'function') {
      const limit = cmd.timeout ?? ms
      cmd.timeout = undefined // ours instead of mysql2's
      let answered = false
      const timer = setTimeout(() => {
        cmd.onResult!(Object.assign(new Error(`the database did not answer within ${limit} ms`), { code: STATEMENT_TIMEOUT, fatal: true }))
        conn.destroy()
      }, limit)
      cmd.onResult = (err, ...rest) => {
        if (answered) return
        answered = true
        clearTimeout(timer)
        reply.call(cmd, err, ...rest)
      }
    }
    return add(cmd)
  }
}

export class Database {
  readonly pool: mysql.Pool
  readonly db: Db
  readonly name: string
  /** The CiviCRM domain (civicrm_domain.id) this bridge links users in. */
  readonly domainId: number
  private readonly lockPrefix: string
  /** How long a unit waits for a named lock (GET_LOCK's timeout), in seconds. */
  readonly lockTimeoutS: number

  /** How long one statement may wait for its answer before its connection is given up (GET_LOCK: plus the lock's own wait). */
  readonly queryTimeoutMs: number
  private readonly settings = new Map<number, SiteSettingsCache>()
  private readonly timeZone: SiteTimeZone | null

  constructor (url: string, opts: { poolSize?: number, domainId?: number, lockTimeoutS?: number, queryTimeoutMs?: number, timeZone?: SiteTimeZone | null } = {}) {
    const parsed = new URL(url)
    this.name = decodeURIComponent(parsed.pathname.slice(1))
    this.pool = mysql.createPool({
      uri: url,
      connectionLimit: opts.poolSize ?? 20,
      connectTimeout: 3000,
      timezone: 'Z',
      charset: 'utf8mb4_unicode_ci',
      supportBigNumbers: true,
      enableKeepAlive: true,
      // No caller stack captured per query: it cost ~7 % of the login hot path's CPU.
      trace: false,
    })
    // Dates are UTC on both sides: TIMESTAMP columns store instants whatever the zone, the
    // bridge's own times are UTC, and CiviCRM's local datetimes are written as the site's
    // wall-clock strings (SiteSettings.localTime). READ COMMITTED for the whole session (not per transaction,
    // which would cost a round trip per unit): a re-check under a lock sees committed rows.
    this.queryTimeoutMs = opts.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS
    this.pool.pool.on('connection', (conn) => {
      boundStatements(conn as unknown as CoreConnection, this.queryTimeoutMs)
      conn.query("SET time_zone = '+00:00'")
      conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED')
    })
    this.db = drizzle(this.pool)
    // Lock names are server-wide: scope them to this database and domain.
    this.domainId = opts.domainId ?? 1
    this.lockPrefix = `${this.name}|${this.domainId}|`
    this.lockTimeoutS = opts.lockTimeoutS ?? 10
    this.timeZone = opts.timeZone ?? null
  }

  /** The CiviCRM configuration for contacts of a domain (this one by default), read at most once a minute. */
  siteSettings (domainId = this.domainId): Promise<SiteSettings> {
    let cache = this.settings.get(domainId)
    if (!cache) this.settings.set(domainId, cache = new SiteSettingsCache(async (text, values) => (await this.pool.query(text, values))[0], domainId, this.timeZone))
    return cache.get()
  }

  lockName (key: string): string {
    return 'cb:' + createHash('sha1').update(this.lockPrefix + key).digest('hex')
  }

  /** Runs fn in a fresh transaction on its own connection; re-runs it on deadlocks and key races. */
  async unit<T> (fn: (unit: Unit) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.unitOnce(fn)
      } catch (err) {
        const code = errorCode(err)
        if (code === undefined || !RETRYABLE.has(code) || attempt >= MAX_ATTEMPTS) {
          throw err instanceof DatabaseUnavailableError || !isUnavailable(err) ? err : new DatabaseUnavailableError('database unavailable', err)
        }
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt))
      }
    }
  }

  private async unitOnce<T> (fn: (unit: Unit) => Promise<T>): Promise<T> {
    let conn: mysql.PoolConnection
    try {
      conn = await this.pool.getConnection()
    } catch (err) {
      throw new DatabaseUnavailableError('database unavailable', err)
    }
    let healthy = true
    let locked = false
    try {
      const db = drizzle(conn)
      return await db.transaction(async (tx) => fn({
        tx: tx as unknown as Tx,
        query: async (text, values) => (await conn.query(text, values))[0],
        prepared: async (text, values) => (await conn.execute({ sql: text, rowsAsArray: true }, values))[0],
        lock: async (keys) => {
          locked = true
          await this.takeLocks(conn, keys)
        },
      }))
    /* c8 ignore start */ // V8 counts a branch into `finally` per exit path; the release's catch runs only if the connection dies right after the work
    } catch (err) {
      if (isUnavailable(err)) healthy = false
      throw err
    } finally {
      if (locked && healthy) {
        try { await conn.query('DO RELEASE_ALL_LOCKS()') } catch { healthy = false }
      }
      /* c8 ignore stop */
      if (healthy) conn.release()
      else conn.destroy()
    }
  }

  /** A server-side prepared statement on a pooled connection (see PreparedQuery). */
  readonly prepared: PreparedQuery = async (text, values) => (await this.pool.execute({ sql: text, rowsAsArray: true }, values))[0]

  /**
   * Takes the named locks of `keys` on a connection of their own and runs fn while they are
   * held: for work spread over several units of work at once (the sync's two chunks), which
   * cannot each take the same locks.
   */
  async withLocks<T> (keys: string[], fn: () => Promise<T>): Promise<T> {
    let conn: mysql.PoolConnection
    try {
      conn = await this.pool.getConnection()
    } catch (err) {
      throw new DatabaseUnavailableError('database unavailable', err)
    }
    try {
      await this.takeLocks(conn, keys)
      return await fn()
    } finally {
      // A connection that cannot release its locks is closed: the server then releases them.
      await conn.query('DO RELEASE_ALL_LOCKS()').then(() => conn.release(), () => conn.destroy())
    }
  }

  /**
   * One statement; the names in a fixed (sorted) order, which MariaDB takes left to right, so
   * two holders never wait on each other in a circle.
   */
  private async takeLocks (conn: mysql.PoolConnection, keys: string[]): Promise<void> {
    // Keys deduplicated before hashing: a sync pair's 4,000 keys fall in 256 stripes.
    const names = [...new Set(keys)].map((k) => this.lockName(k)).sort()
    const [rows] = await conn.query({ sql: `SELECT ${names.map((_, i) => `GET_LOCK(?, ?) AS l${i}`).join(', ')}`, timeout: this.lockTimeoutS * 1000 + this.queryTimeoutMs }, names.flatMap((n) => [n, this.lockTimeoutS]))
    if (Object.values((rows as Array<Record<string, number | null>>)[0]).some((got) => got !== 1)) throw new DatabaseUnavailableError('timed out waiting for a lock')
  }

  private collationRead: Promise<Collation> | null = null

  /** CiviCRM's character set and collation (civicrm_email.email's), read once; the fixture's when there is no such column yet. */
  collation (): Promise<Collation> {
    this.collationRead ??= civicrmCollation(this.pool).then(
      (c) => c ?? { charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci' },
      (err: unknown) => { this.collationRead = null; throw err })
    return this.collationRead
  }

  async ping (): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1')
      return true
    } catch {
      return false
    }
  }

  async close (): Promise<void> {
    await this.pool.end()
  }
}
