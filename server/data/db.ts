// Connection pool and units of work. A unit of work is one pooled connection running one
// READ COMMITTED transaction whose locks are rows it writes (civibridge_lock), so they hold on
// one server and across the nodes of a Galera cluster alike. Deadlocks, Galera's certification
// conflicts (reported as deadlocks) and lost unique-key races re-run the whole unit, with a
// jittered back-off: the unique keys are the last guard.
import mysql from 'mysql2/promise'
import { drizzle } from 'drizzle-orm/mysql2'
import type { MySqlTransaction } from 'drizzle-orm/mysql-core'
import type { MySql2Database, MySql2QueryResultHKT, MySql2PreparedQueryHKT } from 'drizzle-orm/mysql2'
import type { ExtractTablesWithRelations } from 'drizzle-orm'
import { civicrmCollation, type Collation } from './collation.js'
import type { SiteSettings } from '../domain/contact.js'
import type { SiteTimeZone } from '../domain/time.js'
import { SiteSettingsCache } from './site-settings.js'
import { DatabaseUnavailableError, STATEMENT_TIMEOUT, errorCode, isUnavailable } from '../errors.js'

export { DatabaseUnavailableError, STATEMENT_TIMEOUT, errorCode, isUnavailable }

export type Tx = MySqlTransaction<
  MySql2QueryResultHKT, MySql2PreparedQueryHKT, Record<string, never>, ExtractTablesWithRelations<Record<string, never>>
>
export type Db = MySql2Database

export interface Unit {
  tx: Tx
  /**
   * Writes the lock rows of `keys` (takeLocks). `then`: statements sent after them in the same
   * round trip (as runBatch's after its first), whose results it returns.
   */
  lock (keys: string[], then?: Statement[]): Promise<unknown[]>
  /**
   * lock, and the lock rows' counters `n` (this unit's increments included) read in the same
   * round trip: the sync checks a chunk's facts read before its locks against them. `then`:
   * statements sent after them in that round trip (as runBatch's after its first), whose
   * results come back with the counters.
   */
  lockAndCount (keys: string[], then?: Statement[]): Promise<{ counters: Map<string, number>, then: unknown[] }>
  /** Plain SQL on the unit's connection, for bulk inserts (`VALUES ?` with an array of rows), which Drizzle builds slowly. */
  query (text: string, values: unknown[]): Promise<unknown>
  /** A server-side prepared statement on the unit's connection; rows as arrays. */
  prepared: PreparedQuery
  /**
   * The unit's last statement and its COMMIT, in one round trip (`text; COMMIT`: text protocol;
   * `BEGIN; text; COMMIT` when the unit sent nothing before);
   * the statement's result. When it fails, COMMIT is not run and the unit rolls back when fn
   * throws. Nothing may be sent after it.
   */
  commitWith (text: string, values: unknown[]): Promise<unknown>
  /**
   * A write whose answer nothing waits for (an audit row, a new contact's email and log rows):
   * sent in front of the unit's next statement, in its round trip, or with its COMMIT; in a
   * round trip of its own first when that statement cannot follow others in one query (a
   * prepared one, Drizzle's, the lock rows, one without IN_TRANSACTION). It follows another
   * statement in one query, so it must do nothing outside the transaction (IN_TRANSACTION).
   */
  later (statement: Statement): void
}

/** A statement's text and its values. */
export type Statement = readonly [text: string, values: unknown[]]

/**
 * The condition that makes a statement a no-op once its transaction is gone (runBatch): a
 * writing statement after a batch's first carries it (INSERT … SELECT … WHERE, UPDATE or
 * DELETE … WHERE).
 */
export const IN_TRANSACTION = '@@in_transaction = 1'

/**
 * A one-row `INSERT INTO t (…) VALUES` of n values as a no-op outside its transaction: a
 * statement that may follow another in one query (Unit.later, runBatch).
 */
export const oneRowInTransaction = (insert: string, n: number) =>
  `${insert.replace(/\s*VALUES$/, '')} SELECT ${Array(n).fill('?').join(', ')} FROM DUAL WHERE ${IN_TRANSACTION}`

/**
 * Statements sent as one multi-statement query on a unit; each one's result, in order. MariaDB
 * runs them one after the other and stops at the first that fails: after a deadlock, which rolls
 * the whole transaction back, nothing else runs (statements queued one by one would run on
 * their own, in autocommit, and stay written whatever the unit did next). On Galera a
 * transaction aborted by a replicated one (BF abort) fails the next query; but the rest of a
 * query already running goes on, in autocommit (seen on MariaDB 10.11 with galera-4): so every
 * writing statement after the first is a no-op outside the transaction (IN_TRANSACTION), and
 * its answer, without the in-transaction flag, has the unit re-run (assertInTransaction).
 */
export async function runBatch (unit: Pick<Unit, 'query'>, statements: Statement[]): Promise<unknown[]> {
  if (statements.length === 0) return []
  assertGuarded(statements.slice(1))
  const [text, values] = joined(statements)
  const out = await unit.query(text, values)
  return statements.length === 1 ? [out] : out as unknown[]
}

/** A statement that may follow another in one query: it does nothing outside the transaction (runBatch), or only reads. */
const mayFollow = (text: string) => text.includes(IN_TRANSACTION) || /^\s*SELECT\b/i.test(text)

/** Statements that follow another in one query: each must do nothing outside the transaction (runBatch). */
function assertGuarded (statements: Statement[]): void {
  const unguarded = statements.find(([text]) => !mayFollow(text))
  if (unguarded) {
    throw new Error(`a statement after a batch's first must do nothing outside its transaction: ${unguarded[0].slice(0, 80)}`)
  }
}

/** Statements as one multi-statement query's text and values. */
const joined = (statements: Statement[]): Statement =>
  [statements.map(([text]) => text).join(';\n'), statements.flatMap(([, values]) => values)]

const BEGIN: Statement = ['BEGIN', []]
const COMMIT: Statement = ['COMMIT', []]

/** SERVER_STATUS_IN_TRANS: the flag of an OK packet saying a transaction is open. */
const IN_TRANS = 1

/** An error that Database.unit re-runs as it re-runs a deadlock (ER_LOCK_DEADLOCK). */
export const rerunAsDeadlock = (message: string, cause?: unknown): Error =>
  Object.assign(new Error(message), { code: 'ER_LOCK_DEADLOCK', errno: 1213, ...(cause === undefined ? {} : { cause }) })

/**
 * Throws, as a deadlock (the unit is re-run), when a statement of a unit ran with no transaction
 * open: the unit's transaction was rolled back under it without an error. Galera does that: a
 * transaction aborted by a replicated one (BF abort) while Node was between two statements;
 * MariaDB 10.11 then answered the unit's `INSERT …; COMMIT` with two OK packets, the first
 * without this flag, and nothing of the unit was kept (seen 3 times in 800 units of the
 * shared-email race, each answered as if applied). `results`: one statement's OK packet or
 * rows, or a multi-statement query's list of them.
 */
function assertInTransaction (results: unknown): void {
  for (const r of Array.isArray(results) ? results : [results]) {
    const status = (r as { serverStatus?: unknown } | null)?.serverStatus
    if (typeof status === 'number' && (status & IN_TRANS) === 0) {
      throw rerunAsDeadlock('the transaction was rolled back by the database before its end (a Galera BF abort): re-run')
    }
  }
}

/**
 * InnoDB's answer to a statement that could not take its table's AUTO-INC lock (an INSERT …
 * SELECT holds it to the statement's end, and other inserts into the table wait for it): either
 * the transaction was a deadlock's victim and is rolled back, or it waited innodb_lock_wait_timeout
 * and is still open. MariaDB names neither, so the unit asks the connection which it was.
 */
const AUTOINC_LOCK_FAILED = 'ER_AUTOINC_READ_FAILED'

/** The AUTO-INC lock failure as what it was: a deadlock (the unit is re-run) or a lock wait timeout (503). */
async function autoIncLockFailure (conn: mysql.PoolConnection, err: unknown): Promise<Error> {
  const [[{ open }]] = await conn.query('SELECT @@in_transaction AS open') as unknown as [[{ open: number }]]
  return open === 0
    ? rerunAsDeadlock('deadlock on an AUTO-INC lock: the transaction was rolled back', err)
    : Object.assign(new Error('lock wait timeout on an AUTO-INC lock'), { code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205, cause: err })
}

/** Runs a server-side prepared statement (prepared once per connection, then only executed); rows as arrays, in select order. */
export type PreparedQuery = (text: string, values: Array<string | number | Date | null>) => Promise<unknown>

// ER_LOCK_DEADLOCK (1213) is also what Galera answers when a transaction loses certification to
// one committed through another node. A lock wait that times out (1205) is not re-run: the
// unit already waited lockTimeoutS; the caller gets 503.
const RETRYABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_DUP_ENTRY'])
/** How long a statement may wait for the database's answer by default (DB_QUERY_TIMEOUT_MS). */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000
/**
 * Attempts of a unit. Sized for certification conflicts under contention: two nodes writing the
 * same stripe lose to each other in turn, and the back-off (full jitter, doubling from 10 ms up
 * to 1 s) spreads them apart; all ten take about 2 s at most in total, on average.
 */
export const MAX_ATTEMPTS = 10
const backoffMs = (attempt: number) => Math.random() * Math.min(1000, 10 * 2 ** attempt)

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
  /** How long a unit waits for a lock row (the session's innodb_lock_wait_timeout), in seconds. */
  readonly lockTimeoutS: number

  /**
   * How long one statement may wait for its answer before its connection is given up (the lock
   * rows' statement: plus the lock's own wait).
   */
  readonly queryTimeoutMs: number
  /**
   * The session's max_statement_time: the longest the bridge waits for any statement (the lock
   * rows' wait plus a statement's), past which MariaDB aborts it. A bridge statement never runs
   * that long, but one the bridge gave up on (its connection closed at its timeout) would go on
   * in the server until it ended: a sync's read on a 1,000,000-user database ran 4 minutes
   * after the CLI had failed, holding the metadata lock a DROP DATABASE waited for. In a
   * MariaDB-only comment: a Joomla database on MySQL ignores it.
   */
  readonly serverStatementLimitS: number
  private readonly settings = new Map<number, SiteSettingsCache>()
  private readonly timeZone: SiteTimeZone | null

  constructor (
    url: string,
    opts: { poolSize?: number, domainId?: number, lockTimeoutS?: number, queryTimeoutMs?: number, timeZone?: SiteTimeZone | null } = {}
  ) {
    const parsed = new URL(url)
    this.name = decodeURIComponent(parsed.pathname.slice(1))
    this.queryTimeoutMs = opts.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS
    this.pool = mysql.createPool({
      uri: url,
      connectionLimit: opts.poolSize ?? 20,
      // A new connection's handshake has as long as a statement: a loaded server can take
      // seconds to accept one, and a stopped one is given up as soon as a statement would be.
      connectTimeout: this.queryTimeoutMs,
      timezone: 'Z',
      charset: 'utf8mb4_unicode_ci',
      supportBigNumbers: true,
      enableKeepAlive: true,
      // No caller stack captured per query: it cost ~7 % of the login hot path's CPU.
      trace: false,
      // Only for a unit's round trips (unitOnce): its BEGIN with its first statement, its last
      // statement with its COMMIT, its lock rows with their counters, and batches of statements
      // (runBatch). Every value is a placeholder.
      multipleStatements: true,
    })
    this.domainId = opts.domainId ?? 1
    this.lockTimeoutS = opts.lockTimeoutS ?? 10
    const lockWaitS = Math.max(1, Math.trunc(this.lockTimeoutS))
    this.serverStatementLimitS = lockWaitS + this.queryTimeoutMs / 1000
    this.timeZone = opts.timeZone ?? null
    // Dates are UTC on both sides: TIMESTAMP columns store instants whatever the zone, the
    // bridge's own times are UTC, and CiviCRM's local datetimes are written as the site's
    // wall-clock strings (SiteSettings.localTime). READ COMMITTED for the whole session (not per transaction,
    // which would cost a round trip per unit): a re-check under a lock sees committed rows.
    this.pool.pool.on('connection', (conn) => {
      boundStatements(conn as unknown as CoreConnection, this.queryTimeoutMs)
      conn.query(`SET time_zone = '+00:00', SESSION innodb_lock_wait_timeout = ${lockWaitS}` +
        ` /*M!100108 , SESSION max_statement_time = ${this.serverStatementLimitS} */`)
      conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED')
    })
    this.db = drizzle(this.pool)
  }

  /** The CiviCRM configuration for contacts of a domain (this one by default), read at most once a minute. */
  siteSettings (domainId = this.domainId): Promise<SiteSettings> {
    let cache = this.settings.get(domainId)
    if (!cache) {
      const run = async (text: string, values: unknown[]) => (await this.pool.query(text, values))[0]
      this.settings.set(domainId, cache = new SiteSettingsCache(run, domainId, this.timeZone))
    }
    return cache.get()
  }

  /**
   * Runs fn in a fresh transaction on its own connection; re-runs it on deadlocks, certification
   * conflicts and key races, up to `opts.attempts` times in all (MAX_ATTEMPTS unless a caller,
   * the sync, can wait longer). One that outlives every attempt is a DatabaseUnavailableError
   * (503 with Retry-After): the work was rolled back, never half done.
   */
  async unit<T> (fn: (unit: Unit) => Promise<T>, opts: { attempts?: number } = {}): Promise<T> {
    const attempts = opts.attempts ?? MAX_ATTEMPTS
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.unitOnce(fn)
      } catch (err) {
        const code = errorCode(err)
        if (code !== undefined && RETRYABLE.has(code)) {
          if (attempt >= attempts) throw new DatabaseUnavailableError(`conflict outlived ${attempts} attempts`, err)
          await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt)))
          continue
        }
        throw err instanceof DatabaseUnavailableError || !isUnavailable(err)
          ? err
          : new DatabaseUnavailableError('database unavailable', err)
      }
    }
  }

  /**
   * One attempt of a unit. Its transaction begins with its first statement, in the same round
   * trip when that is the lock rows' or a plain query's (`BEGIN; INSERT INTO civibridge_lock …`),
   * and ends with COMMIT (with the last statement when fn sends it by commitWith), or ROLLBACK
   * when fn throws; a unit that sent nothing sends neither.
   */
  private async unitOnce<T> (fn: (unit: Unit) => Promise<T>): Promise<T> {
    let conn: mysql.PoolConnection
    try {
      conn = await this.pool.getConnection()
    } catch (err) {
      throw new DatabaseUnavailableError('database unavailable', err)
    }
    let healthy = true
    let begun: Promise<unknown> | null = null
    let committed = false
    const begin = () => (begun ??= conn.query('BEGIN'))
    // Writes queued by later(), for the front of the unit's next query.
    let queued: Statement[] = []
    /**
     * One query of the unit: its BEGIN in front when the unit sent nothing yet (should the BEGIN
     * fail, MariaDB runs nothing after it), then the queued writes, `text`, and the COMMIT when
     * `commit`. What `text` answers: one statement's result, or a multi-statement's list.
     */
    const send = async (text: string, values: unknown[], commit: boolean): Promise<unknown> => {
      if (queued.length > 0 && !mayFollow(text)) await sendQueued()
      const opening = begun === null
      if (begun) await begun
      const front: Statement[] = [...(opening ? [BEGIN] : []), ...queued]
      queued = []
      const [all, allValues] = joined([...front, [text, values], ...(commit ? [COMMIT] : [])])
      const sent = conn.query(all, allValues) as unknown as Promise<[unknown]>
      if (opening) begun = sent
      const [results] = await sent
      if (front.length === 0 && !commit) return inTx([results])[0]
      const list = results as unknown[]
      // Every statement before the COMMIT ran in the unit's transaction, or nothing of it was kept.
      assertInTransaction(commit ? list.slice(0, -1) : list)
      const own = list.slice(front.length, commit ? -1 : undefined)
      return own.length === 1 ? own[0] : own
    }
    /** The queued writes as one statement list, taken off the queue. */
    const takeQueued = (): Statement => { const all = joined(queued); queued = []; return all }
    /** The queued writes, alone: the next statement cannot carry them. */
    const sendQueued = async () => { if (queued.length > 0) await send(...takeQueued(), false) }
    // The lock rows, opening the transaction in the same round trip when nothing was sent before.
    type Locked = { counters: Map<string, number>, then: unknown[] }
    const lockRows = async (keys: string[], count: boolean, then: Statement[]): Promise<Locked> => {
      if (keys.length === 0) return { counters: new Map(), then: await runBatch(unit, then) }
      await sendQueued()
      if (begun) { await begun; return this.takeLocks(conn, keys, '', count, then) }
      const taking = this.takeLocks(conn, keys, 'BEGIN; ', count, then)
      begun = taking
      return taking
    }
    // Every statement's answer is checked for an open transaction (assertInTransaction).
    const inTx = <R extends [unknown, ...unknown[]]>(out: R): R => { assertInTransaction(out[0]); return out }
    // Drizzle's statements go through the connection too, after the BEGIN and the queued writes.
    const ready = async () => { await sendQueued(); await begin() }
    const client = Object.create(conn, {
      query: { value: async (...args: Parameters<typeof conn.query>) => { await ready(); return inTx(await conn.query(...args)) } },
      execute: { value: async (...args: Parameters<typeof conn.execute>) => { await ready(); return inTx(await conn.execute(...args)) } },
    }) as mysql.PoolConnection
    const unit: Unit = {
      tx: drizzle(client) as unknown as Tx,
      query: (text, values) => send(text, values, false),
      prepared: async (text, values) => { await ready(); return inTx(await conn.execute({ sql: text, rowsAsArray: true }, values))[0] },
      commitWith: async (text, values) => {
        const result = await send(text, values, true)
        committed = true
        return result
      },
      lock: async (keys, then = []) => (await lockRows(keys, false, then)).then,
      lockAndCount: (keys, then = []) => lockRows(keys, true, then),
      later: (statement) => {
        if (committed) throw new Error('the unit has committed: nothing may be sent after it')
        assertGuarded([statement])
        queued.push(statement)
      },
    }
    try {
      const result = await fn(unit)
      if (queued.length > 0) await unit.commitWith(...takeQueued())
      else if (begun && !committed) await conn.query('COMMIT')
      return result
    /* c8 ignore start */
    // V8 counts a branch into `finally` per exit path (returned, thrown while healthy, thrown
    // unhealthy: each tested in test/db.test.ts).
    } catch (err) {
      if (isUnavailable(err)) healthy = false
      else if (begun) {
        const lockFailure = errorCode(err) === AUTOINC_LOCK_FAILED
          ? await autoIncLockFailure(conn, err).catch(() => { healthy = false; return null })
          : null
        await conn.query('ROLLBACK').catch(() => { healthy = false })
        if (lockFailure !== null) throw lockFailure
      }
      throw err
    } finally {
      if (healthy) conn.release()
      else conn.destroy()
    }
    /* c8 ignore stop */
  }

  /** A server-side prepared statement on a pooled connection (see PreparedQuery). */
  readonly prepared: PreparedQuery = async (text, values) => (await this.pool.execute({ sql: text, rowsAsArray: true }, values))[0]

  /**
   * Writes the lock rows of `keys` in the unit's transaction: one statement, the keys in a
   * fixed (sorted) order, which InnoDB locks row by row in that order, so two units taking
   * theirs in one statement never wait on each other in a circle (one that takes more later
   * may: InnoDB detects that deadlock and the unit is re-run). The row changes (n + 1) so that
   * Galera certifies it: an unchanged row is not replicated. With `count`, the rows' counters
   * are read back in the same round trip.
   */
  private async takeLocks (
    conn: mysql.PoolConnection, keys: string[], prefix: 'BEGIN; ' | '', count: boolean, then: Statement[]
  ): Promise<{ counters: Map<string, number>, then: unknown[] }> {
    const unique = [...new Set(keys)].sort()
    const rows = unique.map((k) => [this.domainId, k, 1])
    assertGuarded(then)
    const statements: Statement[] = [
      ['INSERT INTO civibridge_lock (domain_id, lock_key, n) VALUES ? ON DUPLICATE KEY UPDATE n = n + 1', [rows]],
      ...(count
        ? [['SELECT lock_key, n FROM civibridge_lock WHERE domain_id = ? AND lock_key IN (?)', [this.domainId, unique]] satisfies Statement]
        : []),
      ...then,
    ]
    const [text, values] = joined(statements)
    // It may wait for a row up to lockTimeoutS (innodb_lock_wait_timeout), then answer.
    const timeout = this.lockTimeoutS * 1000 + this.queryTimeoutMs
    const [results] = await conn.query({ sql: `${prefix}${text}`, timeout }, values)
    assertInTransaction(results)
    // One statement's answer alone, or each one's in a list (the BEGIN's first).
    const answers = prefix === '' && statements.length === 1 ? [results] : (results as unknown[]).slice(prefix === '' ? 0 : 1)
    const counters = new Map<string, number>()
    for (const r of count ? answers[1] as Array<{ lock_key: string, n: number }> : []) counters.set(r.lock_key, Number(r.n))
    return { counters, then: answers.slice(count ? 2 : 1) }
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
