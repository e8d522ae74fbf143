// The floors of bench/events: what MariaDB gives for the bridge's own statements when a minimal
// mysql2 client sends them, with no HTTP, no JWT, no framework.
// (e) registrations: the statements the bridge sends for one registration, recorded from the
//     bridge's own code once per run (captureRegistration), replayed for new users.
// (f) logins: the bridge's reads batched as its DataLoader batches them (the requests that
//     arrive within READ_WINDOW_MS, at most 100 per statement) and its write-behind batches.
import { randomBytes } from 'node:crypto'
import mysql from 'mysql2/promise'
import { Database } from '../../server/data/db.js'
import { BufferedEventLog } from '../../server/data/event-log.js'
import { INSERT_AUDIT_JSON, INSERT_EVENT, auditRowJson } from '../../server/data/event-store.js'
import { EventService, READ_WINDOW_MS, type JoomlaEvent } from '../../server/services/event-service.js'
import { lockKeys } from '../../server/domain/link-user.js'

/** One command as mysql2 sent it: a text query (values already in it) or a prepared statement's execution. */
export interface Sent { kind: 'query' | 'execute', sql: string, params: unknown[], insertId: number }

interface CoreCommand { constructor: { name: string }, sql?: string, statement?: { query: string }, parameters?: unknown[], onResult?: (err: unknown, res?: unknown) => void }

const CAPTURED_ID = 987654321
export const registrationBody = (id: number): JoomlaEvent => ({ event: 'onUserAfterSave', user: { id, username: `new${id}`, email: `new${id}@example.org`, name: `New Person ${id}`, block: 0 }, isNew: true, success: true, occurredAt: new Date().toISOString() })

/**
 * The commands of one registration as the bridge sends them: its EventService on its Database
 * (the server's own classes), every command of the pool's connections recorded, for user
 * CAPTURED_ID (a number found nowhere else in the statements). One registration first, so that
 * the settings read and the connections' set-up are not in the recording.
 */
export async function captureRegistration (url: string): Promise<Sent[]> {
  const database = new Database(url)
  const sent: Sent[] = []
  let recording = false
  database.pool.pool.on('connection', (conn) => {
    const core = conn as unknown as { addCommand (cmd: CoreCommand): unknown }
    const add = core.addCommand.bind(core)
    core.addCommand = (cmd) => {
      const kind = cmd.constructor.name
      if (recording && (kind === 'Query' || kind === 'Execute')) {
        const s: Sent = kind === 'Query' ? { kind: 'query', sql: cmd.sql!, params: [], insertId: 0 } : { kind: 'execute', sql: cmd.statement!.query, params: [...cmd.parameters!], insertId: 0 }
        sent.push(s)
        const reply = cmd.onResult
        if (reply) cmd.onResult = (err, res) => { s.insertId = (res as { insertId?: number } | undefined)?.insertId ?? 0; reply.call(cmd, err, res) }
      }
      return add(cmd)
    }
  })
  const log = new BufferedEventLog(database, { flushMs: 10, maxBatch: 500, onError: (err) => { throw err } })
  const events = new EventService(database, log)
  try {
    const first = await events.apply('bench', database.domainId, `capture-${CAPTURED_ID - 1}`, 'c'.repeat(64), registrationBody(CAPTURED_ID - 1))
    recording = true
    const outcome = await events.apply('bench', database.domainId, `capture-${CAPTURED_ID}`, 'c'.repeat(64), registrationBody(CAPTURED_ID))
    recording = false
    for (const o of [first, outcome]) if (o.kind !== 'applied' || o.result.action !== 'created-contact') throw new Error(`capture: unexpected outcome ${JSON.stringify(o)}`)
  } finally {
    await log.close()
    await database.close()
  }
  return sent
}

/**
 * The registration of user `id` as the recording, replayed: the recorded user's id (in the ids,
 * emails, names and jti), its lock rows' keys and the contact's hash replaced, the ids the
 * recording's inserts returned replaced by those the replay's return, dates made now.
 * Only users whose lock keys sort as the recorded user's do (floorUsers): the lock rows go in
 * the bridge's order.
 */
export class RegistrationReplay {
  private readonly userKey = lockKeys.user(CAPTURED_ID)
  private readonly emailKey = lockKeys.email(`new${CAPTURED_ID}@example.org`)
  /** The inserts whose id a later statement uses. */
  private readonly usedIds: Set<number>
  /** The commands sent before the unit of work (the shared context read), and the unit's own, from its BEGIN. */
  readonly before: Sent[]
  readonly unit: Sent[]

  constructor (readonly sent: Sent[]) {
    const begin = sent.findIndex((s) => s.kind === 'query' && /^\s*(begin|start transaction)/i.test(s.sql))
    if (begin < 0) throw new Error('capture: no BEGIN')
    this.before = sent.slice(0, begin)
    this.unit = sent.slice(begin)
    const text = (s: Sent) => `${s.sql} ${JSON.stringify(s.params)}`
    this.usedIds = new Set(sent.map((s) => s.insertId).filter((id, i) => id > 0 && sent.slice(i + 1).some((later) => new RegExp(`\\b${id}\\b`).test(text(later)))))
    if (this.userKey === this.emailKey) throw new Error('capture: the recorded user and email share a lock row')
  }

  /** Ids of new users whose two lock rows differ and sort as the recorded user's. */
  floorUsers (from: number, n: number): number[] {
    const ordered = this.userKey < this.emailKey
    const ids: number[] = []
    for (let id = from; ids.length < n; id++) {
      const u = lockKeys.user(id)
      const e = lockKeys.email(`new${id}@example.org`)
      if (u !== e && (u < e) === ordered) ids.push(id)
    }
    return ids
  }

  /** One registration of user `id` on `pool`: the reads before the unit, then the unit on one connection; re-run on a deadlock like the bridge's units. */
  async run (pool: mysql.Pool, id: number): Promise<void> {
    const ids = new Map<number, number>()
    const swap = this.swapper(id, ids)
    for (const s of this.before) await send(pool, s, swap, ids, this.usedIds)
    for (let attempt = 1; ; attempt++) {
      const conn = await pool.getConnection()
      try {
        for (const s of this.unit) await send(conn, s, swap, ids, this.usedIds)
        return
      } catch (err) {
        await conn.query('ROLLBACK').catch(() => {})
        if ((err as { code?: string }).code !== 'ER_LOCK_DEADLOCK' || attempt >= 10) throw err
      } finally {
        conn.release()
      }
    }
  }

  private swapper (id: number, ids: Map<number, number>): (v: string) => string {
    const hash = randomBytes(16).toString('hex')
    const pairs: Array<[RegExp, () => string]> = [
      [new RegExp(String(CAPTURED_ID), 'g'), () => String(id)],
      [new RegExp(`'${this.userKey}'|"${this.userKey}"`, 'g'), () => `'${lockKeys.user(id)}'`],
      [new RegExp(`'${this.emailKey}'|"${this.emailKey}"`, 'g'), () => `'${lockKeys.email(`new${id}@example.org`)}'`],
      [/\b[0-9a-f]{32}\b/g, () => hash],
    ]
    return (v) => {
      for (const [re, to] of pairs) v = v.replace(re, to)
      for (const [from, to] of ids) v = v.replace(idPattern(from), String(to))
      return v
    }
  }
}

const idPatterns = new Map<number, RegExp>()
const idPattern = (id: number) => {
  let re = idPatterns.get(id)
  if (!re) idPatterns.set(id, re = new RegExp(`\\b${id}\\b`, 'g'))
  return re
}

type Sender = Pick<mysql.Pool, 'query' | 'execute'>

async function send (to: Sender, s: Sent, swap: (v: string) => string, ids: Map<number, number>, used: Set<number>): Promise<void> {
  let res: unknown
  if (s.kind === 'query') {
    [res] = await to.query(swap(s.sql))
  } else {
    const params = s.params.map((p) => typeof p === 'string' ? swap(p) : typeof p === 'number' ? (ids.get(p) ?? (p === CAPTURED_ID ? Number(swap(String(p))) : p)) : p instanceof Date ? new Date() : p)
    ;[res] = await to.execute({ sql: s.sql, rowsAsArray: true }, params as Array<string | number | null>)
  }
  const insertId = (res as { insertId?: number }).insertId ?? 0
  // The first insert that returned a used id is the one later statements name (an email row may have the contact's number too).
  if (used.has(s.insertId) && !ids.has(s.insertId)) ids.set(s.insertId, insertId)
}

/** A mysql2 pool set up as the bridge's (server/data/db.ts): same options and session, without the bridge's per-command timers. */
export function floorPool (url: string, size: number): mysql.Pool {
  const pool = mysql.createPool({ uri: url, connectionLimit: size, timezone: 'Z', charset: 'utf8mb4_unicode_ci', supportBigNumbers: true, trace: false, multipleStatements: true })
  pool.pool.on('connection', (conn) => {
    conn.query("SET time_zone = '+00:00', SESSION innodb_lock_wait_timeout = 10")
    conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED')
  })
  return pool
}

/**
 * (f): logins of linked users, as the bridge's hot path does them: the context reads of the
 * logins that arrive within READ_WINDOW_MS in one prepared statement (the recorded context
 * read, its key list batched, at most 100 keys), and the event and audit rows written behind
 * in a transaction every `flushMs` or 500 rows, in the bridge's statements (INSERT_EVENT,
 * INSERT_AUDIT_JSON).
 */
export class LoginFloor {
  private keys: Array<[number, string, string]> = []
  private waiting: Array<() => void> = []
  private scheduled = false
  private rows: Array<{ id: number, jti: string, at: Date }> = []
  private timer: NodeJS.Timeout | null = null
  private flushing: Promise<void> = Promise.resolve()
  private n = 0

  constructor (private readonly pool: mysql.Pool, private readonly contextSql: string, private readonly flushMs = 10) {}

  async login (id: number): Promise<void> {
    const jti = `floor-${process.pid}-${this.n++}`
    await new Promise<void>((resolve) => {
      this.keys.push([id, jti, 'bench'])
      this.waiting.push(resolve)
      if (this.keys.length >= 100) this.dispatch()
      else if (!this.scheduled) { this.scheduled = true; setTimeout(() => this.dispatch(), READ_WINDOW_MS) }
    })
    this.rows.push({ id, jti, at: new Date() })
    if (this.rows.length >= 500) this.flush()
    else this.timer ??= setTimeout(() => this.flush(), this.flushMs)
  }

  private dispatch (): void {
    this.scheduled = false
    if (this.keys.length === 0) return
    const keys = this.keys
    const waiting = this.waiting
    this.keys = []
    this.waiting = []
    this.pool.execute({ sql: this.contextSql, rowsAsArray: true }, [JSON.stringify(keys), 1]).then(() => { for (const w of waiting) w() }, (err) => { throw err })
  }

  private flush (): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null }
    const batch = this.rows
    this.rows = []
    if (batch.length === 0) return
    const result = JSON.stringify({ action: 'already-linked', contactId: 1, reason: null })
    this.flushing = this.flushing.then(async () => {
      const conn = await this.pool.getConnection()
      try {
        // As the bridge's BufferedEventLog sends them: one round trip.
        await conn.query(`BEGIN; ${INSERT_EVENT} ?; ${INSERT_AUDIT_JSON}; COMMIT`, [
          batch.map((r) => [r.jti, 'bench', 'f'.repeat(64), 'onUserLogin', r.id, r.at, r.at, result]),
          JSON.stringify(batch.map((r) => auditRowJson(1, r.id, 'login', 'already-linked', r.id + 1000, null, r.at))),
        ])
      } finally {
        conn.release()
      }
    })
  }

  async close (): Promise<void> {
    this.flush()
    await this.flushing
  }
}

/** The bridge's context read, recorded from its own code like the registration (one linked user's login). */
export function contextReadOf (sent: Sent[]): string {
  const read = sent.find((s) => s.kind === 'execute' && /JSON_TABLE/.test(s.sql))
  if (!read) throw new Error('capture: no context read')
  return read.sql
}
