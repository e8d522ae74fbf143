// Shared test setup: a fresh database per test file (CiviCRM fixture tables + jos_users +
// bridge tables), dropped at teardown; an app built on it; signed requests.
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { readFileSync } from 'node:fs'
import mysql from 'mysql2/promise'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../server/http/app.js'
import { loadConfig, type Config } from '../server/config.js'
import { createFixtureDatabase, dropDatabase, type FixtureOptions } from '../server/dev/fixture.js'
import { signEvent } from '../server/protocol/sign.js'
import { Signer } from '@fastify/cookie'
import { cookieKey } from '../server/http/plugins/web.js'
import { SyncClaim } from '../server/data/sync-store.js'
import type { Database } from '../server/data/db.js'

export const SERVER_URL = process.env.TEST_DB_SERVER_URL ?? 'mysql://root@127.0.0.1:3306/test'
export const SECRET = 'test-secret-0123456789abcdef-0123456789abcdef'
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef-0123456789'
/**
 * Signs and reads cookies as the app does (key from the session secret, by default the admin
 * token; the pages' context has the cookie plugin, not the root app).
 */
export const cookieSigner = new Signer([cookieKey(ADMIN_TOKEN)])
export const SITE = 'test-site'

interface Teardown { teardown (fn: () => unknown): void }

export interface TestDb {
  url: string
  name: string
  /** For arranging and asserting rows directly. */
  sql: mysql.Pool
  rows<T = Record<string, unknown>> (query: string, params?: unknown[]): Promise<T[]>
}

export async function testDatabase (t: Teardown, opts: FixtureOptions = {}): Promise<TestDb> {
  const name = `cbt_${randomBytes(6).toString('hex')}`
  const url = await createFixtureDatabase(SERVER_URL, name, opts)
  const sql = mysql.createPool({ uri: url, connectionLimit: 4, timezone: 'Z', multipleStatements: true })
  sql.pool.on('connection', (c) => { c.query("SET time_zone = '+00:00'") })
  t.teardown(async () => {
    await sql.end()
    await dropDatabase(SERVER_URL, name)
  })
  return {
    url,
    name,
    sql,
    rows: async <T>(query: string, params: unknown[] = []) => (await sql.query(query, params))[0] as T[],
  }
}

export function testConfig (url: string, env: Record<string, string> = {}): Config {
  return loadConfig({ CIVICRM_DB_URL: url, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'silent', ...env })
}

export async function buildTestApp (t: Teardown, db: TestDb, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await buildApp(testConfig(db.url, env))
  t.teardown(() => app.close())
  await app.ready()
  return app
}

export interface EventInput {
  event?: string
  user: { id: number, username?: string, email?: string, name?: string, block?: number | boolean }
  isNew?: boolean
  success?: boolean
  occurredAt?: string
}

export function eventBody (e: EventInput): string {
  return JSON.stringify({
    event: e.event ?? 'onUserAfterSave',
    user: { username: `user${e.user.id}`, email: '', name: '', block: 0, ...e.user },
    ...(e.isNew === undefined ? {} : { isNew: e.isNew }),
    success: e.success ?? true,
    occurredAt: e.occurredAt ?? new Date().toISOString(),
  })
}

/** POSTs a signed event; returns status and parsed JSON. */
export async function sendEvent (
  app: FastifyInstance, e: EventInput | string, opts: { jti?: string, secret?: string, site?: string } = {}
) {
  const body = typeof e === 'string' ? e : eventBody(e)
  const signed = signEvent(opts.secret ?? SECRET, opts.site ?? SITE, body, { jti: opts.jti })
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${signed.token}` }
  const res = await app.inject({ method: 'POST', url: '/v1/joomla/events', headers, payload: body })
  return { status: res.statusCode, json: res.json(), jti: signed.jti, headers: res.headers }
}

/** A contact with emails, as CiviCRM would hold it. */
export interface TestContact {
  type?: string
  first?: string
  last?: string
  deleted?: boolean
  emails: Array<{ email: string, primary?: boolean, location?: number }>
}

const INSERT_CONTACT = 'INSERT INTO civicrm_contact ' +
  '(contact_type, first_name, last_name, display_name, sort_name, organization_name, is_deleted, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
const INSERT_EMAIL = 'INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) VALUES (?, ?, ?, ?)'

export async function insertContact (db: TestDb, c: TestContact): Promise<number> {
  const displayName = [c.first, c.last].filter(Boolean).join(' ') || null
  const sortName = [c.last, c.first].filter(Boolean).join(', ') || null
  const organization = c.type === 'Organization' ? (c.first ?? 'Org') : null
  const [res] = await db.sql.query(INSERT_CONTACT, [
    c.type ?? 'Individual', c.first ?? null, c.last ?? null, displayName, sortName, organization,
    c.deleted ? 1 : 0, randomBytes(16).toString('hex'),
  ])
  const id = (res as mysql.ResultSetHeader).insertId
  for (const e of c.emails) {
    await db.sql.query(INSERT_EMAIL, [id, e.location ?? 1, e.email, e.primary ? 1 : 0])
  }
  return id
}

/** A snapshot of every row of the tables a request may write, to prove nothing changed. */
export async function snapshot (db: TestDb): Promise<string> {
  const tables = [
    'civicrm_contact', 'civicrm_email', 'civicrm_uf_match', 'civicrm_log', ...MONEY_TABLES,
    'civibridge_event', 'civibridge_audit', 'civibridge_user_tombstone', 'civibridge_used_token', 'civibridge_wanted_email',
  ]
  const parts: string[] = []
  for (const table of tables) parts.push(JSON.stringify(await db.rows(`SELECT * FROM ${table} ORDER BY 1`)))
  return parts.join('\n')
}

/** CiviCRM's money tables: contributions, memberships and their financial records. */
export const MONEY_TABLES = ['civicrm_contribution', 'civicrm_membership', 'civicrm_membership_payment', 'civicrm_line_item',
  'civicrm_financial_trxn', 'civicrm_entity_financial_trxn', 'civicrm_financial_item']

/** Every row of the money tables: the bridge records no money, so this never changes. */
export async function moneySnapshot (db: TestDb): Promise<string> {
  const parts: string[] = []
  for (const table of MONEY_TABLES) parts.push(`${table} ${JSON.stringify(await db.rows(`SELECT * FROM ${table} ORDER BY 1`))}`)
  return parts.join('\n')
}

/**
 * How long a test waits for something it expects to happen (a child process's /health, a
 * sync's first checkpoint, a lock waiter). Generous on purpose: on a loaded machine a start
 * takes many times longer than on a quiet one, and a test that passes never waits it out.
 */
export const PATIENCE_MS = 120_000

/**
 * Polls `check` every `everyMs` until it gives something other than undefined or false, and
 * returns that; past `timeoutMs` (PATIENCE_MS) it throws, naming `what` it waited for. A check
 * that throws counts as not yet (a refused connection while a server starts, say).
 */
export async function eventually<T> (what: string, check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { everyMs?: number, timeoutMs?: number } = {}): Promise<Exclude<T, undefined | false>> {
  const until = Date.now() + (opts.timeoutMs ?? PATIENCE_MS)
  for (;;) {
    let value: T | undefined | false
    try { value = await check() } catch { value = undefined }
    if (value !== undefined && value !== false) return value as Exclude<T, undefined | false>
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, opts.everyMs ?? 20))
  }
}

// Ports handed out by freePort in this process: never twice.
const portsGiven = new Set<number>()
// The kernel's ephemeral ports (the local ports of outgoing connections) start here.
const EPHEMERAL_LOW = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])

/**
 * A TCP port free on 127.0.0.1 right now, below the ephemeral range: a port the kernel gives
 * for listen(0) it also gives to outgoing connections (the suite opens many), and once a Galera
 * node's IST port was in use by the time the node bound it, failing the cluster's start.
 */
export async function freePort (): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * (EPHEMERAL_LOW - 20_000))
    if (portsGiven.has(port)) continue
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer()
      s.once('error', () => resolve(false))
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
    })
    if (free) { portsGiven.add(port); return port }
  }
}

/**
 * Environment for a child process running the bridge: only what is given, and no coverage
 * recording (tap would merge the child's tsx-compiled coverage over the in-process one).
 */
export function childEnv (env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH!, _TAPJS_PROCESSINFO_COVERAGE_: '0', ...env }
}

interface LockHolder {
  release (): Promise<void>
  connectionId: number
  /** A statement in the holder's transaction: it commits with release(). */
  query (text: string, values?: unknown[]): Promise<unknown>
}

/**
 * Holds the lock rows of `keys` (civibridge_lock, as Unit.lock writes them) in an open
 * transaction on a connection of its own, as a unit of work in progress does; release() commits.
 */
export async function holdLocks (
  t: Teardown, url: string, keys: string[], domainId = 1
): Promise<LockHolder> {
  const conn = await mysql.createConnection({ uri: url })
  let open = true
  const release = async () => {
    if (!open) return
    open = false
    await conn.query('COMMIT')
    await conn.end()
  }
  t.teardown(release)
  await conn.query('BEGIN')
  const rows = [...new Set(keys)].sort().map((k) => [domainId, k, 1])
  const insert = 'INSERT INTO civibridge_lock (domain_id, lock_key, n) VALUES ? ON DUPLICATE KEY UPDATE n = n + 1'
  if (rows.length > 0) await conn.query(insert, [rows])
  const [[{ id }]] = await conn.query('SELECT CONNECTION_ID() AS id') as unknown as [[{ id: number }]]
  const query = async (text: string, values: unknown[] = []) => (await conn.query(text, values))[0]
  return { release, connectionId: id, query }
}

/** How many connections of this database wait for a row lock now (a unit blocked on a lock row). */
export async function lockWaiters (db: TestDb): Promise<number> {
  const rows = await db.rows<{ n: number }>(
    "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = ? AND info LIKE 'INSERT INTO civibridge_lock%'", [db.name])
  return Number(rows[0].n)
}

/** Another sync (or tool) holding the sync claim on a connection of its own, without a job row; release() gives it back. */
export async function holdSyncClaim (t: Teardown, url: string, domainId = 1): Promise<{ release (): Promise<void>, connectionId: number }> {
  const conn = await mysql.createConnection({ uri: url })
  const claim = new SyncClaim(domainId)
  if (!await claim.take(conn, 'another-sync')) throw new Error('the sync claim is taken')
  const [[{ id }]] = await conn.query('SELECT CONNECTION_ID() AS id') as unknown as [[{ id: number }]]
  let open = true
  const release = async () => {
    if (!open) return
    open = false
    await claim.release(conn, 'another-sync')
    await conn.end()
  }
  t.teardown(release)
  return { release, connectionId: id }
}

/**
 * The round trips of a database's connections (queries and statements prepared or executed),
 * in order: each as its statements' verbs and tables ("INSERT civibridge_lock"), joined by "; ".
 */
export function roundTripsOf (database: Database): string[] {
  const sent: string[] = []
  const shape = (text: string) => text.split(/;\s*/).map((st) => {
    const m = /^\s*(INSERT INTO|SELECT .*? FROM|\w+)\s*(\w+|\()?/s.exec(st)!
    return m[1].startsWith('SELECT') ? `SELECT ${m[2]}` : m[1] === 'INSERT INTO' ? `INSERT ${m[2]}` : m[1]
  }).join('; ')
  database.pool.pool.on('connection', (conn) => {
    type Cmd = { constructor: { name: string }, sql?: string, query?: string }
    const core = conn as unknown as { addCommand (cmd: Cmd): unknown }
    const add = core.addCommand.bind(core)
    core.addCommand = (cmd) => {
      const text = cmd.constructor.name === 'Query' ? cmd.sql : cmd.constructor.name === 'Prepare' ? cmd.query : undefined
      if (text !== undefined && !/^SET /.test(text)) sent.push(shape(text))
      return add(cmd)
    }
  })
  return sent
}
