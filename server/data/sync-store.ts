// SQL of Synchronize Users to Contacts: Joomla's users read by keyset pagination, one chunk's
// facts in three queries, its decisions written with multi-row inserts, and the job rows
// (civibridge_sync_job, civibridge_sync_skip) that make a sync resumable.
import type mysql from 'mysql2/promise'
import type { ExistingLink, JoomlaUser, NewContact } from '../domain/link-user.js'
import { type ChunkFacts, type SyncCounts, type SyncDecision } from '../domain/sync.js'
import {
  DELETE_WANTED_EMAILS, UPDATE_LINK_NAME, insertContacts, insertLogRows, setPrimaryEmail, upsertWantedEmails, type LogRow,
} from './link-store.js'
import type { Collation } from './collation.js'
import { candidatesByEmail, manyCandidates } from './candidates.js'
import type { SiteSettings } from '../domain/contact.js'
import { EMAIL_PROBLEMS, normalizeEmail } from '../domain/email.js'
import { INSERT_SYNC_AUDIT } from './event-store.js'
import { and, desc, eq } from 'drizzle-orm'
import { bridgeSyncJob } from '../../drizzle/schema/bridge.js'
import { errorCode, IN_TRANSACTION, runBatch, type Db, type Statement, type Unit } from './db.js'

type Queryable = Pick<mysql.Pool, 'query'>
/** Where a batch of plain SQL is sent: a unit, or the pool. */
type Batchable = Pick<Unit, 'query'>
type Run = (text: string, values: unknown[]) => Promise<unknown>
const runOn = (q: Queryable): Run => async (text, values) => (await q.query(text, values))[0]

/** Joomla's users table, read in id order; `prefix` was validated by config (^[A-Za-z0-9_]{0,32}$). */
export class JoomlaUsers {
  private readonly table: string
  constructor (private readonly pool: Queryable, prefix: string) {
    if (!/^[A-Za-z0-9_]{0,32}$/.test(prefix)) throw new Error(`bad Joomla table prefix ${JSON.stringify(prefix)}`)
    this.table = `\`${prefix}users\``
  }

  get tableName (): string { return this.table.slice(1, -1) }

  async count (): Promise<number> {
    const [rows] = await this.pool.query(`SELECT COUNT(*) AS n FROM ${this.table}`)
    return Number((rows as Array<{ n: number }>)[0].n)
  }

  /** Names of the given users (for the admin page); users no longer in Joomla are left out. */
  async names (ids: number[]): Promise<Map<number, { username: string, name: string }>> {
    if (ids.length === 0) return new Map()
    const [rows] = await this.pool.query(`SELECT id, username, name FROM ${this.table} WHERE id IN (?)`, [ids])
    return new Map((rows as Array<{ id: number, username: string, name: string }>)
      .map((r) => [Number(r.id), { username: r.username, name: r.name }]))
  }

  /** The next `limit` users after `afterId`, in id order (dates are never read: Joomla 3's zero dates are harmless). */
  async after (afterId: number, limit: number): Promise<JoomlaUser[]> {
    const [rows] = await this.pool.query(
      `SELECT id, name, username, email, block FROM ${this.table} WHERE id > ? ORDER BY id LIMIT ?`, [afterId, limit])
    // Joomla declares name, username, email and block NOT NULL.
    return (rows as Array<{ id: number, name: string, username: string, email: string, block: number }>).map((r) => ({
      id: Number(r.id), name: r.name, username: r.username, email: r.email, block: Boolean(r.block),
    }))
  }
}

/**
 * The given emails as a table, from one JSON parameter (a thousand `SELECT ? UNION ALL` rows
 * cost twice as much to parse as the join itself): k in CiviCRM's collation, to be compared with
 * its columns by their indexes whatever the connection's and the database's defaults; x the
 * email exactly (binary), to filter the collation's matches by and to answer with.
 */
function keysTable (keys: string[], c: Collation): { text: string, values: string[] } {
  return {
    text: `JSON_TABLE(?, '$[*]' COLUMNS (k VARCHAR(254) CHARACTER SET ${c.charset} COLLATE ${c.collation} PATH '$', ` +
      "x VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$'))",
    values: [JSON.stringify(keys)],
  }
}

// A chunk's users are a run of ids (keyset pages): one range of the uf_id index is read, not a
// thousand lookups (whose IN list costs MariaDB more than the rows); links of users outside the
// chunk in that range (a resumed job's chunks already done, users deleted) are left out in Node.
const SELECT_CHUNK_LINKS =
  'SELECT id, uf_id, uf_name, contact_id FROM civicrm_uf_match WHERE uf_id BETWEEN ? AND ? AND domain_id = ? ORDER BY id'

/** A read to send in one batch with others (runBatch): its statements, and what their results say. */
interface Read<T> { statements: Statement[], answer: (results: unknown[]) => T }

/** One chunk's links, waiting email changes, candidates and uf_name holders (four statements); `collation` is CiviCRM's. */
function chunkFactsRead (collation: Collation, domainId: number, ufIds: number[], emails: string[]): Read<ChunkFacts> {
  const q = keysTable(emails, collation)
  const [first, last] = [Math.min(...ufIds), Math.max(...ufIds)]
  const statements: Statement[] = [
    [SELECT_CHUNK_LINKS, [first, last, domainId]],
    // The same range of ids: users outside the chunk are left out in Node, as their links are.
    ['SELECT uf_id FROM civibridge_wanted_email WHERE domain_id = ? AND uf_id BETWEEN ? AND ?', [domainId, first, last]],
    ...(emails.length === 0
      ? []
      : [
          manyCandidates(q, domainId),
          // Under the collation, as CiviCRM's unique key on uf_name compares (see UF_NAME_HOLDER in candidates.ts).
          [`SELECT q.x AS k, m.uf_id FROM ${q.text} q JOIN civicrm_uf_match m ON m.uf_name = q.k AND m.domain_id = ? ORDER BY m.id`,
            [...q.values, domainId]] satisfies Statement,
        ]),
  ]
  const answer = ([links, waiting, candidates, holders]: unknown[]): ChunkFacts => {
    const ids = new Set(ufIds)
    const facts: ChunkFacts = {
      links: new Map(),
      candidates: new Map(),
      ufNameHolders: new Map(),
      waiting: new Set((waiting as Array<{ uf_id: number }>).map((w) => w.uf_id).filter((id) => ids.has(id))),
    }
    for (const l of links as Array<{ id: number, uf_id: number, uf_name: string | null, contact_id: number | null }>) {
      if (ids.has(l.uf_id) && !facts.links.has(l.uf_id)) {
        facts.links.set(l.uf_id, { id: l.id, ufName: l.uf_name, contactId: l.contact_id } satisfies ExistingLink)
      }
    }
    if (emails.length === 0) return facts
    facts.candidates = candidatesByEmail(candidates)
    for (const h of holders as Array<{ k: string, uf_id: number }>) if (!facts.ufNameHolders.has(h.k)) facts.ufNameHolders.set(h.k, h.uf_id)
    return facts
  }
  return { statements, answer }
}

/** Reads one chunk's facts (chunkFactsRead) in one round trip; `ufIds` are its users (at least one). */
export async function readChunkFacts (
  q: Batchable, collation: Collation, domainId: number, ufIds: number[], emails: string[]
): Promise<ChunkFacts> {
  const read = chunkFactsRead(collation, domainId, ufIds, emails)
  return read.answer(await runBatch(q, read.statements))
}

/**
 * The lock rows' counters of `keys`, and whether the chunk of `jobId` starting at user
 * `previousFirst` is done, in one statement: one read view, so the two agree (readAheadHolds).
 */
function lockCountersRead (
  domainId: number, keys: string[], jobId: number, previousFirst: number
): Read<{ counters: Map<string, number>, previousCommitted: boolean }> {
  return {
    statements: [[`SELECT
      (SELECT COUNT(*) FROM civibridge_sync_chunk WHERE job_id = ? AND first_user_id = ?) AS previous,
      (SELECT JSON_OBJECTAGG(lock_key, n) FROM civibridge_lock WHERE domain_id = ? AND lock_key IN (?)) AS counters`,
    [jobId, previousFirst, domainId, keys]]],
    answer: ([rows]) => {
      const [row] = rows as Array<{ previous: number, counters: Record<string, number> | null }>
      // The driver parses the JSON object (null: none of the rows exists yet).
      return { counters: new Map(Object.entries(row.counters ?? {})), previousCommitted: Number(row.previous) === 1 }
    },
  }
}

/**
 * A chunk's facts read ahead, without its locks: first the lock rows' counters (lockCountersRead),
 * then the facts (readChunkFacts), in one round trip. The facts are read after the counters, so
 * that a write between the two shows in the counters when the chunk takes its locks.
 */
export async function readFactsAhead (
  q: Batchable, collation: Collation, domainId: number, chunk: { ufIds: number[], emails: string[], keys: string[] },
  jobId: number, previousFirst: number
): Promise<{ counters: Map<string, number>, previousCommitted: boolean, facts: ChunkFacts }> {
  const counters = lockCountersRead(domainId, chunk.keys, jobId, previousFirst)
  const facts = chunkFactsRead(collation, domainId, chunk.ufIds, chunk.emails)
  const results = await runBatch(q, [...counters.statements, ...facts.statements])
  return { ...counters.answer(results.slice(0, 1)), facts: facts.answer(results.slice(1)) }
}

type AlreadyLinked = Extract<SyncDecision, { kind: 'already-linked' }>

/**
 * The already-linked users' email changes: uf_name, and the contact's primary email (with its
 * civicrm_log row) when synced.
 */
async function updateEmails (unit: Unit, updates: AlreadyLinked[], now: Date, site: SiteSettings): Promise<void> {
  const logRows: LogRow[] = []
  for (const u of updates) {
    await unit.query(UPDATE_LINK_NAME, [u.updateEmail, u.linkId])
    if (u.contactId !== null && u.syncContactEmail) {
      const emailId = await setPrimaryEmail(unit, u.contactId, normalizeEmail(u.updateEmail), site)
      logRows.push({ contactId: u.contactId, data: `civicrm_email,${emailId}`, actorId: u.contactId, at: site.localTime(now) })
    }
  }
  await insertLogRows(unit, logRows)
}

/**
 * Writes one chunk's decisions: contacts (with emails and civicrm_log rows), links, email
 * updates, waiting email changes, audit rows; then `after` (the checkpoint, when the chunk's
 * locks are already taken), whose results it answers.
 */
export async function writeDecisions (
  unit: Unit, domainId: number, { decisions, waitsEnded }: { decisions: SyncDecision[], waitsEnded: number[] }, now: Date,
  site: SiteSettings, after: Statement[] = []
): Promise<unknown[]> {
  const creates = decisions.filter((d): d is Extract<SyncDecision, { kind: 'create' }> => d.kind === 'create')
  const linksTo = decisions.filter((d): d is Extract<SyncDecision, { kind: 'link-existing' }> => d.kind === 'link-existing')
  const updates = decisions.filter((d): d is AlreadyLinked => d.kind === 'already-linked' && d.updateEmail !== null)
  if (updates.length > 0) await updateEmails(unit, updates, now, site)
  const contacts = creates.map((c) => c.contact satisfies NewContact)
  const { ids: newIds, rows: contactRows } = await insertContacts(unit, contacts, SYNC_SOURCE, now, site)
  // From here on no statement needs another's answer: one batch, which the database runs back
  // to back instead of waiting for Node between them, and stops at the first that fails.
  const batch: Statement[] = [...contactRows]
  const linkRows = [
    ...linksTo.map((d) => [d.ufId, d.email, d.contactId]),
    ...creates.map((d, i) => [d.ufId, d.email, newIds[i]]),
  ]
  if (linkRows.length > 0) batch.push([INSERT_LINKS, [domainId, JSON.stringify(linkRows)]])
  // The waiting email changes, as linkUser keeps them: the blocked ones wait (for their current
  // email), the other users who waited wait no more (decideChunk). (Emails the sync frees are
  // not handed over here: a waiting user takes theirs at their next event or sync.)
  const waiting = decisions.filter((d): d is AlreadyLinked => d.kind === 'already-linked' && d.wantedEmail !== null)
  if (waitsEnded.length > 0) batch.push([`${DELETE_WANTED_EMAILS} AND ${IN_TRANSACTION}`, [domainId, waitsEnded]])
  if (waiting.length > 0) batch.push([UPSERT_WANTED_EMAILS, [domainId, now, JSON.stringify(waiting.map((d) => [d.ufId, d.wantedEmail]))]])
  // The same audit trail linkUser leaves, for the decisions that wrote something.
  const audit = [
    ...linksTo.map((d) => [d.ufId, 'linked-existing', d.contactId, null]),
    ...creates.map((d, i) => [d.ufId, 'created-contact', newIds[i], null]),
    ...updates.map((d) => [d.ufId, 'already-linked', d.contactId, 'email-updated']),
  ]
  if (audit.length > 0) batch.push([INSERT_SYNC_AUDIT, [domainId, 'sync', now, JSON.stringify(audit)]])
  const results = await runBatch(unit, [...batch, ...after])
  return results.slice(batch.length)
}

/** The source of the contacts the sync creates. */
const SYNC_SOURCE = 'Joomla user sync'

// A chunk's rows from JSON arrays, each a no-op outside its transaction (see runBatch).
/** Links: [domain, JSON of [uf_id, uf_name, contact_id]]. */
const INSERT_LINKS = `INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id)
  SELECT ?, j.uf_id, j.uf_name, j.contact_id FROM JSON_TABLE(?, '$[*]' COLUMNS (uf_id INT UNSIGNED PATH '$[0]',
    uf_name VARCHAR(255) CHARACTER SET utf8mb4 PATH '$[1]', contact_id INT UNSIGNED PATH '$[2]')) j WHERE ${IN_TRANSACTION}`
/**
 * Waiting email changes: [domain, time, JSON of [uf_id, email]] (the JSON column is not named
 * email: ON DUPLICATE KEY UPDATE's email is the row's).
 */
const UPSERT_WANTED_EMAILS = upsertWantedEmails(`SELECT ?, j.uf_id, j.wanted, ? FROM JSON_TABLE(?, '$[*]' COLUMNS (
    uf_id INT UNSIGNED PATH '$[0]', wanted VARCHAR(255) CHARACTER SET utf8mb4 PATH '$[1]')) j WHERE ${IN_TRANSACTION}`)

// ---- the single-run claim ------------------------------------------------------------------

/** Seconds without a heartbeat after which a claim is void (its holder froze, or died on another node). */
export const SYNC_STALE_S = 30
/** How often the running sync renews its claim. */
export const SYNC_HEARTBEAT_MS = 5000
// The node a connection talks to: two bridges writing through two Galera nodes see two.
const NODE = "CONCAT(@@hostname, ':', @@port)"
// Free: nobody holds the claim, or its holder stopped beating, or it was taken through this node
// on a connection that is gone (the process died: a restart takes over at once).
const FREE = `(holder IS NULL OR heartbeat_at < NOW(3) - INTERVAL ${SYNC_STALE_S} SECOND
  OR (holder_node = ${NODE} AND NOT EXISTS (SELECT 1 FROM information_schema.PROCESSLIST p WHERE p.ID = holder_conn)))`

/**
 * The row `sync` of civibridge_lock, set by check-and-set: one sync at a time per database and
 * domain, here or in another process, through any node (two nodes setting it at once conflict
 * at certification: one fails). Taken on a connection the sync keeps for its life.
 */
export class SyncClaim {
  constructor (private readonly domainId: number) {}

  /** Takes the claim for `holder` when it is free; false when someone else holds it. */
  async take (conn: Queryable, holder: string): Promise<boolean> {
    try {
      await conn.query("INSERT IGNORE INTO civibridge_lock (domain_id, lock_key) VALUES (?, 'sync')", [this.domainId])
      const [res] = await conn.query(`UPDATE civibridge_lock
        SET holder = ?, holder_node = ${NODE}, holder_conn = CONNECTION_ID(), heartbeat_at = NOW(3), n = n + 1
        WHERE domain_id = ? AND lock_key = 'sync' AND ${FREE}`, [holder, this.domainId])
      return (res as { affectedRows: number }).affectedRows === 1
    } catch (err) {
      // Another node set it at the same moment and was certified first.
      if (errorCode(err) === 'ER_LOCK_DEADLOCK') return false
      throw err
    }
  }

  /** Renews the claim; false when it is no longer this holder's. */
  async beat (conn: Queryable, holder: string): Promise<boolean> {
    const [res] = await conn.query(
      "UPDATE civibridge_lock SET heartbeat_at = NOW(3), n = n + 1 WHERE domain_id = ? AND lock_key = 'sync' AND holder = ?",
      [this.domainId, holder])
    return (res as { affectedRows: number }).affectedRows === 1
  }

  async release (conn: Queryable, holder: string): Promise<void> {
    await conn.query('UPDATE civibridge_lock SET holder = NULL, holder_node = NULL, holder_conn = NULL, heartbeat_at = NULL, n = n + 1 ' +
      "WHERE domain_id = ? AND lock_key = 'sync' AND holder = ?", [this.domainId, holder])
  }

  /** Whether a sync holds the claim now (in this process or another, through any node). */
  async held (conn: Queryable): Promise<boolean> {
    const [rows] = await conn.query(
      `SELECT NOT ${FREE} AS held FROM civibridge_lock WHERE domain_id = ? AND lock_key = 'sync'`, [this.domainId])
    return Number((rows as Array<{ held: number }>)[0]?.held ?? 0) === 1
  }
}

// ---- jobs -------------------------------------------------------------------------------

export type JobStatus = 'running' | 'done' | 'failed'

export interface SyncJob {
  id: number
  status: JobStatus
  batchSize: number
  lastUserId: number
  counts: SyncCounts
  totalUsers: number | null
  message: string | null
  error: string | null
  startedAt: Date
  heartbeatAt: Date
  finishedAt: Date | null
}

interface JobRow {
  id: number,
  status: JobStatus,
  batch_size: number,
  last_user_id: number,
  checked: number,
  matched: number,
  created: number,
  skipped: number,
  total_users: number | null,
  message: string | null,
  error: string | null,
  started_at: Date,
  heartbeat_at: Date,
  finished_at: Date | null,
  skipped_invalid: number | string,
}

const INVALID_EMAIL_REASONS = EMAIL_PROBLEMS.map((r) => `'${r}'`).join(', ')
const JOB_COLUMNS = `j.id, j.status, j.batch_size, j.last_user_id, j.checked, j.matched, j.created, j.skipped, j.total_users,
  j.message, j.error, j.started_at, j.heartbeat_at, j.finished_at,
  (SELECT COUNT(*) FROM civibridge_sync_skip s WHERE s.job_id = j.id AND s.reason IN (${INVALID_EMAIL_REASONS})) AS skipped_invalid`

function toJob (r: JobRow): SyncJob {
  const skippedInvalid = Number(r.skipped_invalid)
  return {
    id: r.id,
    status: r.status,
    batchSize: r.batch_size,
    lastUserId: Number(r.last_user_id),
    counts: {
      checked: r.checked,
      matched: r.matched,
      created: r.created,
      skipped: r.skipped,
      skippedInvalid,
      skippedTaken: r.skipped - skippedInvalid,
    },
    totalUsers: r.total_users,
    message: r.message,
    error: r.error,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    finishedAt: r.finished_at,
  }
}

export class SyncJobs {
  private readonly run: Run
  constructor (pool: Queryable, private readonly domainId: number) {
    this.run = runOn(pool)
  }

  async get (id: number): Promise<SyncJob | null> {
    const rows = await this.run(
      `SELECT ${JOB_COLUMNS} FROM civibridge_sync_job j WHERE j.id = ? AND j.domain_id = ?`, [id, this.domainId]) as JobRow[]
    return rows[0] ? toJob(rows[0]) : null
  }

  async latest (): Promise<SyncJob | null> {
    const rows = await this.run(
      `SELECT ${JOB_COLUMNS} FROM civibridge_sync_job j WHERE j.domain_id = ? AND j.dry_run = 0 ORDER BY j.id DESC LIMIT 1`,
      [this.domainId]) as JobRow[]
    return rows[0] ? toJob(rows[0]) : null
  }

  /** The last job left running (its process died, or is still alive: the caller holds the sync lock to tell). */
  async unfinished (): Promise<SyncJob | null> {
    const rows = await this.run(`SELECT ${JOB_COLUMNS} FROM civibridge_sync_job j
      WHERE j.domain_id = ? AND j.status = 'running' AND j.dry_run = 0 ORDER BY j.id DESC LIMIT 1`, [this.domainId]) as JobRow[]
    return rows[0] ? toJob(rows[0]) : null
  }

  async create (batchSize: number, totalUsers: number, now: Date): Promise<SyncJob> {
    const res = await this.run(
      'INSERT INTO civibridge_sync_job (domain_id, status, dry_run, batch_size, total_users, started_at, heartbeat_at) ' +
      'VALUES (?, \'running\', 0, ?, ?, ?, ?)', [this.domainId, batchSize, totalUsers, now, now]) as { insertId: number }
    return (await this.get(res.insertId))!
  }

  /** An unfinished job taken up again: this run's batch size and user count, and a fresh heartbeat. */
  async resume (id: number, batchSize: number, totalUsers: number, now: Date): Promise<void> {
    await this.run('UPDATE civibridge_sync_job SET batch_size = ?, total_users = ?, heartbeat_at = ? WHERE id = ?',
      [batchSize, totalUsers, now, id])
  }

  /**
   * The job ran to its end: done, with its message; an error of an earlier, resumed attempt is no
   * longer the job's state. (A failed job stays 'running', to be resumed.)
   */
  async finish (id: number, message: string, now: Date): Promise<void> {
    await this.run(
      'UPDATE civibridge_sync_job SET status = \'done\', message = ?, error = NULL, finished_at = ?, heartbeat_at = ? WHERE id = ?',
      [message, now, now, id])
  }

  /** A chunk failed: its error, for the admin page (the job stays 'running', to be resumed). */
  async recordError (id: number, error: string): Promise<void> {
    await this.run('UPDATE civibridge_sync_job SET error = ? WHERE id = ?', [error.slice(0, 2000), id])
  }

  async skippedUsers (id: number, limit = 100_000): Promise<Array<{ id: number, reason: string }>> {
    const rows = await this.run('SELECT uf_id, reason FROM civibridge_sync_skip WHERE job_id = ? ORDER BY uf_id LIMIT ?', [id, limit]) as
      Array<{ uf_id: number, reason: string }>
    return rows.map((r) => ({ id: r.uf_id, reason: r.reason }))
  }
}

/** Skipped users: [job, JSON of [uf_id, reason]] (the JSON column is not named reason, as in UPSERT_WANTED_EMAILS). */
const INSERT_SKIPS = `INSERT INTO civibridge_sync_skip (job_id, uf_id, reason)
  SELECT ?, j.uf_id, j.why FROM JSON_TABLE(?, '$[*]' COLUMNS (
    uf_id INT UNSIGNED PATH '$[0]', why VARCHAR(255) CHARACTER SET utf8mb4 PATH '$[1]')) j WHERE ${IN_TRANSACTION}
  ON DUPLICATE KEY UPDATE reason = VALUES(reason)`

/**
 * The checkpoint, for the chunk's own transaction: its row in civibridge_sync_chunk, its counts
 * (added to the job's), its skipped users; and `check`, which throws, from the statements'
 * results, when it was refused: the job is no longer running, or a chunk starting at the same
 * user is already done (the unit then rolls back).
 */
export function chunkCheckpoint (
  jobId: number, users: { first: number, last: number }, c: SyncCounts, skips: Array<{ ufId: number, reason: string }>, now: Date
): { statements: Statement[], check: (results: unknown[]) => void } {
  const statements: Statement[] = [
    [`INSERT IGNORE INTO civibridge_sync_chunk (job_id, first_user_id, last_user_id, done_at)
      SELECT id, ?, ?, ? FROM civibridge_sync_job WHERE id = ? AND status = 'running' AND ${IN_TRANSACTION}`,
    [users.first, users.last, now, jobId]],
    // Added, not set: counts of a resumed job's earlier chunks are already in.
    [`UPDATE civibridge_sync_job
      SET checked = checked + ?, matched = matched + ?, created = created + ?, skipped = skipped + ?, heartbeat_at = ?
      WHERE id = ? AND ${IN_TRANSACTION}`, [c.checked, c.matched, c.created, c.skipped, now, jobId]],
  ]
  if (skips.length > 0) statements.push([INSERT_SKIPS, [jobId, JSON.stringify(skips.map((s) => [s.ufId, s.reason.slice(0, 255)]))]])
  const check = (results: unknown[]) => {
    if ((results[0] as { affectedRows: number }).affectedRows !== 1) {
      throw new Error(`sync job ${jobId} is no longer running, or users ${users.first} to ${users.last} are done already`)
    }
  }
  return { statements, check }
}

/** Every user up to lastUserId is done (both chunks written at once have committed): a resumed job reads from there. */
export async function advanceJob (pool: Queryable, jobId: number, lastUserId: number): Promise<void> {
  await pool.query('UPDATE civibridge_sync_job SET last_user_id = GREATEST(last_user_id, ?) WHERE id = ?', [lastUserId, jobId])
}

/** The chunks a job has done after its last_user_id (a chunk that committed while the other one of its pair did not). */
export async function doneChunksAfter (
  pool: Queryable, jobId: number, afterUserId: number
): Promise<Array<{ first: number, last: number }>> {
  const [rows] = await pool.query(
    'SELECT first_user_id, last_user_id FROM civibridge_sync_chunk WHERE job_id = ? AND last_user_id > ? ORDER BY first_user_id',
    [jobId, afterUserId])
  return (rows as Array<{ first_user_id: number, last_user_id: number }>)
    .map((r) => ({ first: Number(r.first_user_id), last: Number(r.last_user_id) }))
}

/** The latest job's progress in a domain, dry runs included (for /metrics). */
export async function latestJobProgress (db: Db, domainId: number) {
  const [job] = await db.select({ checked: bridgeSyncJob.checked, total: bridgeSyncJob.totalUsers }).from(bridgeSyncJob)
    .where(eq(bridgeSyncJob.domainId, domainId)).orderBy(desc(bridgeSyncJob.id)).limit(1)
  return job
}

/** The last finished job's figures in a domain, whichever process ran it (the CLI too). */
export async function lastDoneJob (db: Db, domainId: number) {
  const [job] = await db.select({
    matched: bridgeSyncJob.matched,
    created: bridgeSyncJob.created,
    skipped: bridgeSyncJob.skipped,
    startedAt: bridgeSyncJob.startedAt,
    finishedAt: bridgeSyncJob.finishedAt,
  }).from(bridgeSyncJob).where(and(eq(bridgeSyncJob.domainId, domainId), eq(bridgeSyncJob.status, 'done')))
    .orderBy(desc(bridgeSyncJob.id)).limit(1)
  return job
}
