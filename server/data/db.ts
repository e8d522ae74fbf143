// Connection pool and units of work. A unit of work is one pooled connection running one
// READ COMMITTED transaction, with named locks (GET_LOCK) released when it ends. Deadlocks and
// lost unique-key races re-run the whole unit: the unique keys are the last guard.
import { createHash } from 'node:crypto'
import mysql from 'mysql2/promise'
import { drizzle } from 'drizzle-orm/mysql2'
import type { MySqlTransaction } from 'drizzle-orm/mysql-core'
import type { MySql2Database, MySql2QueryResultHKT, MySql2PreparedQueryHKT } from 'drizzle-orm/mysql2'
import type { ExtractTablesWithRelations } from 'drizzle-orm'

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
const UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'PROTOCOL_CONNECTION_LOST', 'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR', 'ENOTFOUND', 'EHOSTUNREACH', 'ER_GET_CONNECTION_TIMEOUT', 'POOL_CLOSED'])
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

export class Database {
  readonly pool: mysql.Pool
  readonly db: Db
  readonly name: string
  /** The CiviCRM domain (civicrm_domain.id) this bridge links users in. */
  readonly domainId: number
  private readonly lockPrefix: string
  /** How long a unit waits for a named lock (GET_LOCK's timeout), in seconds. */
  readonly lockTimeoutS: number

  constructor (url: string, opts: { poolSize?: number, domainId?: number, lockTimeoutS?: number } = {}) {
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
    // Dates are UTC on both sides. READ COMMITTED for the whole session (not per transaction,
    // which would cost a round trip per unit): a re-check under a lock sees committed rows.
    this.pool.pool.on('connection', (conn) => {
      conn.query("SET time_zone = '+00:00'")
      conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED')
    })
    this.db = drizzle(this.pool)
    // Lock names are server-wide: scope them to this database and domain.
    this.domainId = opts.domainId ?? 1
    this.lockPrefix = `${this.name}|${this.domainId}|`
    this.lockTimeoutS = opts.lockTimeoutS ?? 10
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
    const [rows] = await conn.query(`SELECT ${names.map((_, i) => `GET_LOCK(?, ?) AS l${i}`).join(', ')}`, names.flatMap((n) => [n, this.lockTimeoutS]))
    if (Object.values((rows as Array<Record<string, number | null>>)[0]).some((got) => got !== 1)) throw new DatabaseUnavailableError('timed out waiting for a lock')
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
