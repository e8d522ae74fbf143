// The write-behind log of read-only decisions: answered at once, written in batches, never
// lost on a clean shutdown, kept when the database is down, and still idempotent per jti.
import t from 'tap'
import { Writable } from 'node:stream'
import { Database } from '../server/data/db.js'
import { BufferedEventLog } from '../server/data/event-log.js'
import { INSERT_AUDIT_JSON, auditRowJson } from '../server/data/event-store.js'
import { buildApp } from '../server/http/app.js'
import { sha256Hex } from '../server/protocol/sign.js'
import { testDatabase, buildTestApp, sendEvent, eventBody, testConfig } from './helper.js'

t.test('a linked user\'s login is answered at once and logged in the next batch', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db, { EVENT_LOG_FLUSH_MS: '1000' })
  const reg = await sendEvent(app, { user: { id: 1, email: 'a@example.org' }, isNew: true })
  const before = new Date()
  const loginBody = eventBody({ event: 'onUserLogin', user: { id: 1, email: 'a@example.org' }, occurredAt: '2026-11-29T10:11:12.345Z' })
  const login = await sendEvent(app, loginBody, { jti: 'login-1' })
  const after = new Date()
  t.same(login.json, { action: 'already-linked', contactId: reg.json.contactId, reason: null })
  t.same(await db.rows("SELECT jti FROM civibridge_event WHERE jti = 'login-1'"), [], 'not written yet')
  t.equal(app.eventLog.size, 1)
  await app.eventLog.flush()
  const [event] = await db.rows<{ jti: string, site: string, body_sha256: string, event: string, uf_id: number, occurred_at: Date, received_at: Date, result: unknown }>(
    "SELECT * FROM civibridge_event WHERE jti = 'login-1'")
  t.match(event, { jti: 'login-1', site: 'test-site', event: 'onUserLogin', uf_id: 1 }, 'the written-behind event row is the delivery\'s')
  t.equal(event.body_sha256, sha256Hex(loginBody), 'the hash of the body as sent')
  t.same(event.result, login.json, 'with the answer it got')
  t.ok(event.received_at >= new Date(before.getTime() - 1) && event.received_at <= after, 'received at the time it was decided, to the millisecond, in UTC')
  t.equal(event.occurred_at.toISOString(), '2026-11-29T10:11:12.345Z', 'occurred when the site says, to the millisecond')
  t.same(await db.rows('SELECT `trigger`, action FROM civibridge_audit WHERE uf_id = 1 ORDER BY id'), [{ trigger: 'save', action: 'created-contact' }, { trigger: 'login', action: 'already-linked' }])
  const [row] = await db.rows<{ domain_id: number, contact_id: number, reason: string | null, created_at: Date }>(
    "SELECT domain_id, contact_id, reason, created_at FROM civibridge_audit WHERE `trigger` = 'login'")
  t.match(row, { domain_id: 1, contact_id: reg.json.contactId, reason: null }, 'the written-behind audit row is the decision\'s')
  t.ok(row.created_at >= new Date(before.getTime() - 1) && row.created_at <= after, 'at the time it was decided, to the millisecond, in UTC')
  t.equal(app.eventLog.size, 0)
})

t.test('a retry of a queued or written jti gets the first answer; another body gets 409', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db, { EVENT_LOG_FLUSH_MS: '1000' })
  await sendEvent(app, { user: { id: 1, email: 'a@example.org' }, isNew: true })
  const body = eventBody({ event: 'onUserLogin', user: { id: 1, email: 'a@example.org' } })
  const first = await sendEvent(app, body, { jti: 'L' })
  t.same((await sendEvent(app, body, { jti: 'L' })).json, first.json, 'from the queue')
  t.equal((await sendEvent(app, eventBody({ event: 'onUserLogin', user: { id: 1, email: 'a@example.org', name: 'x' } }), { jti: 'L' })).status, 409)
  await app.eventLog.flush()
  t.same((await sendEvent(app, body, { jti: 'L' })).json, first.json, 'from the table')
  t.equal((await sendEvent(app, eventBody({ event: 'onUserLogin', user: { id: 1, email: 'a@example.org', name: 'y' } }), { jti: 'L' })).status, 409)
  t.same(await db.rows("SELECT COUNT(*) AS n FROM civibridge_audit WHERE `trigger` = 'login'"), [{ n: 1 }], 'one decision, one audit row')
})

t.test('closing the app writes what is queued', async (t) => {
  const db = await testDatabase(t)
  const app = await buildApp(testConfig(db.url, { EVENT_LOG_FLUSH_MS: '1000' }))
  await sendEvent(app, { user: { id: 1, email: 'a@example.org' }, isNew: true })
  for (let i = 0; i < 5; i++) await sendEvent(app, { event: 'onUserLogin', user: { id: 1, email: 'a@example.org' } })
  await app.close()
  t.same(await db.rows("SELECT COUNT(*) AS n FROM civibridge_event WHERE event = 'onUserLogin'"), [{ n: 5 }])
})

t.test('a full batch is written without waiting for the timer', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url)
  t.teardown(() => database.close())
  const log = new BufferedEventLog(database, { flushMs: 60_000, maxBatch: 3, onError: () => {} })
  const rec = (jti: string) => ({ jti, site: 's', bodySha256: 'a'.repeat(64), event: 'onUserLogin', ufId: 1, occurredAt: new Date() })
  const result = { action: 'already-linked' as const, contactId: null, reason: null }
  t.ok(log.add(rec('a'), 1, result, 'login'))
  t.notOk(log.add(rec('a'), 1, result, 'login'), 'a jti is queued once')
  log.add(rec('b'), 1, result, 'login')
  log.add(rec('c'), 1, result, 'login')
  await log.flush()
  t.same(await db.rows('SELECT jti FROM civibridge_event ORDER BY jti'), [{ jti: 'a' }, { jti: 'b' }, { jti: 'c' }])
  await log.flush()
  t.equal(log.size, 0, 'an empty flush is harmless')
})

t.test('when the database is down the batch is kept and reported, then written when it is back', async (t) => {
  const db = await testDatabase(t)
  const down = new Database(db.url.replace(':3306/', ':1/'))
  t.teardown(() => down.close())
  const errors: number[] = []
  const log = new BufferedEventLog(down, { flushMs: 5, maxBatch: 100, onError: (_err, rows) => errors.push(rows) })
  log.add({ jti: 'k', site: 's', bodySha256: 'a'.repeat(64), event: 'onUserLogin', ufId: 1, occurredAt: new Date() }, 1, { action: 'already-linked', contactId: null, reason: null }, 'login')
  await log.flush()
  t.same(errors, [1])
  t.equal(log.size, 1, 'kept')
  t.ok(log.find('s', 'k'))
  await log.close()
  t.equal(log.size, 1, 'a failed last flush keeps the rows and schedules nothing more')
})

t.test('a write in progress still answers retries, and rows queued meanwhile are written once', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url)
  t.teardown(() => database.close())
  const log = new BufferedEventLog(database, { flushMs: 60_000, maxBatch: 2, maxQueued: 5, onError: () => {} })
  const rec = (jti: string) => ({ jti, site: 's', bodySha256: 'a'.repeat(64), event: 'onUserLogin', ufId: 1, occurredAt: new Date() })
  const result = { action: 'already-linked' as const, contactId: null, reason: null }
  log.add(rec('a'), 1, result, 'login')
  log.add(rec('b'), 1, result, 'login') // a full batch: its write starts now
  t.ok(log.find('s', 'a'), 'in flight, still found')
  for (const j of ['c', 'd', 'e']) log.add(rec(j), 1, result, 'login')
  t.notOk(log.add(rec('f'), 1, result, 'login'), 'a full queue refuses: the caller takes the transactional path')
  await log.flush()
  t.same(await db.rows('SELECT jti FROM civibridge_event ORDER BY jti'), ['a', 'b', 'c', 'd', 'e'].map((jti) => ({ jti })))
  t.same(await db.rows('SELECT COUNT(*) AS n FROM civibridge_audit'), [{ n: 5 }], 'one audit row per decision')
})

t.test('the app logs a warning when queued decisions cannot be written, keeps them, and writes them once the table is back', async (t) => {
  const db = await testDatabase(t)
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  const app = await buildApp(testConfig(db.url, { EVENT_LOG_FLUSH_MS: '1000' }), { logger: { level: 'warn', stream } })
  t.teardown(() => app.close())
  await sendEvent(app, { user: { id: 1, email: 'a@example.org' }, isNew: true })
  const login = await sendEvent(app, { event: 'onUserLogin', user: { id: 1, email: 'a@example.org' } }, { jti: 'login-1' })
  t.equal(login.json.action, 'already-linked')
  await db.sql.query('RENAME TABLE civibridge_event TO civibridge_event_away')
  await app.eventLog.flush()
  const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'event log not written yet; will retry')
  t.match(warnings, [{ level: 40, rows: 1, err: /civibridge_event' doesn't exist/ }], 'one warning naming the rows and the error')
  t.equal(app.eventLog.size, 1, 'the decision is still queued')
  t.same(await db.rows("SELECT COUNT(*) AS n FROM civibridge_audit WHERE `trigger` = 'login'"), [{ n: 0 }], 'nothing half-written')
  await db.sql.query('RENAME TABLE civibridge_event_away TO civibridge_event')
  await app.eventLog.flush()
  t.same(await db.rows("SELECT jti FROM civibridge_event WHERE jti = 'login-1'"), [{ jti: 'login-1' }])
  t.same(await db.rows("SELECT COUNT(*) AS n FROM civibridge_audit WHERE `trigger` = 'login'"), [{ n: 1 }])
  t.equal(app.eventLog.size, 0)
})

t.test('the written-behind audit rows are a no-op outside their transaction (a Galera abort during the event rows writes none of them)', async (t) => {
  const db = await testDatabase(t)
  const rows = JSON.stringify([auditRowJson(1, 7, 'login', 'already-linked', 8, null, new Date())])
  const [outside] = await db.sql.query(INSERT_AUDIT_JSON, [rows]) as unknown as [{ affectedRows: number }]
  t.equal(outside.affectedRows, 0, 'in autocommit: nothing')
  const [inside] = await db.sql.query(`BEGIN; ${INSERT_AUDIT_JSON}; COMMIT`, [rows]) as unknown as [Array<{ affectedRows: number }>]
  t.equal(inside[1].affectedRows, 1, 'in a transaction: the row')
  t.same(await db.rows('SELECT uf_id, contact_id FROM civibridge_audit'), [{ uf_id: 7, contact_id: 8 }])
})
