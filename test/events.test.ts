// POST /v1/joomla/events end to end on the real database: what each event does, idempotent
// retries, and every way a request is refused without writing anything.
import t from 'tap'
import { createHmac, generateKeyPairSync, createSign } from 'node:crypto'
import { Writable } from 'node:stream'
import { buildApp } from '../server/http/app.js'
import { sha256Hex, signEvent } from '../server/protocol/sign.js'
import { testDatabase, buildTestApp, sendEvent, eventBody, insertContact, snapshot, testConfig, SECRET, ADMIN_TOKEN, SITE } from './helper.js'

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
function handToken (header: Record<string, unknown>, claims: Record<string, unknown>, key: string | null, alg = 'sha256'): string {
  const unsigned = `${b64(header)}.${b64(claims)}`
  return key === null ? `${unsigned}.` : `${unsigned}.${createHmac(alg, key).update(unsigned).digest('base64url')}`
}
const now = () => Math.floor(Date.now() / 1000)
const goodClaims = (body: string, extra: Record<string, unknown> = {}) => ({ iss: SITE, aud: 'civicrm-bridge', iat: now(), exp: now() + 60, jti: `j-${Math.random().toString(36).slice(2)}`, body_sha256: sha256Hex(body), ...extra })

t.test('events', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  // Read-only decisions are logged in batches: write them before comparing tables.
  const snap = async () => { await app.eventLog.flush(); return snapshot(db) }
  // Each caller its own address: too many failures from one address are throttled (tested below).
  let address = 0
  const post = (body: string, token: string | null, headers: Record<string, string> = {}) => app.inject({
    method: 'POST',
    url: '/v1/joomla/events',
    payload: body,
    remoteAddress: `10.0.${Math.floor(++address / 250)}.${address % 250}`,
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...headers },
  })

  t.test('a registration creates a contact and links it; the answer says so', async (t) => {
    const r = await sendEvent(app, { user: { id: 10, email: 'reg@example.org', name: 'Reg Ister' }, isNew: true })
    t.equal(r.status, 200)
    t.equal(r.json.action, 'created-contact')
    t.same(await db.rows('SELECT uf_id, uf_name, contact_id FROM civicrm_uf_match WHERE uf_id = 10'), [{ uf_id: 10, uf_name: 'reg@example.org', contact_id: r.json.contactId }])
    t.same(await db.rows('SELECT display_name FROM civicrm_contact WHERE id = ?', [r.json.contactId]), [{ display_name: 'Reg Ister' }])
  })

  t.test('a login of a user with an existing contact links it', async (t) => {
    const c = await insertContact(db, { first: 'Lo', emails: [{ email: 'login@example.org', primary: true }] })
    const r = await sendEvent(app, { event: 'onUserLogin', user: { id: 11, email: 'login@example.org' } })
    t.same(r.json, { action: 'linked-existing', contactId: c, reason: null })
    t.same(await db.rows('SELECT contact_id FROM civicrm_uf_match WHERE uf_id = 11'), [{ contact_id: c }])
  })

  t.test('Joomla 1.5 event names work the same', async (t) => {
    const r = await sendEvent(app, { event: 'onAfterStoreUser', user: { id: 12, email: 'old15@example.org' }, isNew: true })
    t.equal(r.json.action, 'created-contact')
    const d = await sendEvent(app, { event: 'onAfterDeleteUser', user: { id: 12, email: 'old15@example.org' } })
    t.same(d.json, { action: 'unlinked', contactId: r.json.contactId, reason: null })
    t.same(await db.rows('SELECT * FROM civicrm_uf_match WHERE uf_id = 12'), [])
  })

  t.test('a blocked user logging in is not linked', async (t) => {
    const r = await sendEvent(app, { event: 'onUserLogin', user: { id: 13, email: 'blocked@example.org', block: 1 } })
    t.same(r.json, { action: 'skipped', contactId: null, reason: 'user-blocked' })
    t.same(await db.rows('SELECT * FROM civicrm_uf_match WHERE uf_id = 13'), [])
  })

  t.test('a failed save or delete and the before/logout events change nothing', async (t) => {
    const before = await snap()
    for (const event of ['onUserBeforeSave', 'onUserBeforeDelete', 'onUserLogout', 'onLogoutUser', 'onBeforeStoreUser', 'onBeforeDeleteUser']) {
      const r = await sendEvent(app, { event, user: { id: 14, email: 'ack@example.org' } })
      t.same(r.json, { action: 'acknowledged', contactId: null, reason: null }, event)
    }
    for (const event of ['onUserAfterSave', 'onUserAfterDelete']) {
      const r = await sendEvent(app, { event, user: { id: 14, email: 'ack@example.org' }, success: false })
      t.same(r.json, { action: 'acknowledged', contactId: null, reason: 'not-successful' }, event)
    }
    const after = await snap()
    t.same(after.split('\n').slice(0, 6), before.split('\n').slice(0, 6), 'CiviCRM tables unchanged')
  })

  t.test('a retry with the same jti returns the first answer and does not do the work twice', async (t) => {
    const body = eventBody({ user: { id: 20, email: 'retry@example.org' }, isNew: true })
    const first = await sendEvent(app, body, { jti: 'retry-jti-1' })
    const second = await sendEvent(app, body, { jti: 'retry-jti-1' })
    t.equal(first.status, 200)
    t.same(second.json, first.json)
    t.same(await db.rows('SELECT COUNT(*) AS n FROM civibridge_audit WHERE uf_id = 20'), [{ n: 1 }])
    t.same(await db.rows('SELECT COUNT(*) AS n FROM civicrm_uf_match WHERE uf_id = 20'), [{ n: 1 }])
  })

  t.test('concurrent deliveries of one jti are applied once', async (t) => {
    const body = eventBody({ user: { id: 21, email: 'dup-delivery@example.org' }, isNew: true })
    const rs = await Promise.all(Array.from({ length: 8 }, () => sendEvent(app, body, { jti: 'same-jti-parallel' })))
    t.same(new Set(rs.map((r) => JSON.stringify(r.json))).size, 1)
    t.same(await db.rows('SELECT COUNT(*) AS n FROM civibridge_audit WHERE uf_id = 21'), [{ n: 1 }])
  })

  /** The users each context read asks for, in order, until the test ends (the pool's prepared statements, not a unit's). */
  const countContextReads = (t: Tap.Test): number[] => {
    const database = app.database as { prepared: typeof app.database.prepared }
    const prepared = database.prepared
    const reads: number[] = []
    database.prepared = async (text, values) => { reads.push(JSON.parse(String(values[0])).length); return prepared(text, values) }
    t.teardown(() => { database.prepared = prepared })
    return reads
  }

  t.test('an event that arrives a turn of the event loop after another still shares its read: the first waits READ_WINDOW_MS', async (t) => {
    const reads = countContextReads(t)
    const login = (id: number) => JSON.parse(eventBody({ event: 'onUserLogin', user: { id, email: `apart${id}@example.org` } }))
    // Straight to the service: over HTTP the two would not be a known number of turns apart.
    const first = app.services.events.apply(SITE, 1, 'apart-70', 'a'.repeat(64), login(70))
    await new Promise((resolve) => setImmediate(resolve))
    const second = app.services.events.apply(SITE, 1, 'apart-71', 'b'.repeat(64), login(71))
    const outcomes = await Promise.all([first, second])
    t.same(reads, [2], 'one statement for both')
    t.same(outcomes.map((o) => o.kind === 'applied' && o.result.action), ['created-contact', 'created-contact'])
    t.same(await db.rows('SELECT uf_id FROM civicrm_uf_match WHERE uf_id IN (70, 71) ORDER BY uf_id'), [{ uf_id: 70 }, { uf_id: 71 }])
  })

  t.test('events that arrive together have their users read in one statement, and each gets its own answer', async (t) => {
    const linked = await sendEvent(app, { user: { id: 40, email: 'together40@example.org' }, isNew: true })
    const retried = { body: eventBody({ event: 'onUserLogin', user: { id: 40, email: 'together40@example.org' } }), jti: 'together-retry' }
    const first = await sendEvent(app, retried.body, { jti: retried.jti })
    const c = await insertContact(db, { first: 'To', emails: [{ email: 'together42@example.org', primary: true }] })
    const reads = countContextReads(t)
    const rs = await Promise.all([
      sendEvent(app, { event: 'onUserLogin', user: { id: 40, email: 'together40@example.org' } }),
      sendEvent(app, retried.body, { jti: retried.jti }),
      sendEvent(app, { event: 'onUserLogin', user: { id: 41, email: 'together41@example.org' } }),
      sendEvent(app, { event: 'onUserLogin', user: { id: 42, email: 'together42@example.org' } }),
      sendEvent(app, { event: 'onUserLogin', user: { id: 40, email: 'together40@example.org', block: 1 } }),
    ])
    t.same(reads, [5], 'one statement for the five events')
    t.same(rs.map((r) => r.json), [
      { action: 'already-linked', contactId: linked.json.contactId, reason: null },
      first.json,
      { action: 'created-contact', contactId: rs[2].json.contactId, reason: null },
      { action: 'linked-existing', contactId: c, reason: null },
      { action: 'skipped', contactId: null, reason: 'user-blocked' },
    ])
    t.same(await db.rows('SELECT uf_id, contact_id FROM civicrm_uf_match WHERE uf_id IN (40, 41, 42) ORDER BY uf_id'),
      [{ uf_id: 40, contact_id: linked.json.contactId }, { uf_id: 41, contact_id: rs[2].json.contactId }, { uf_id: 42, contact_id: c }])
    await app.eventLog.flush()
    t.same(await db.rows('SELECT uf_id, action FROM civibridge_audit WHERE uf_id IN (40, 41, 42) ORDER BY uf_id, action'), [
      { uf_id: 40, action: 'already-linked' }, { uf_id: 40, action: 'already-linked' }, { uf_id: 40, action: 'created-contact' }, { uf_id: 40, action: 'skipped' },
      { uf_id: 41, action: 'created-contact' }, { uf_id: 42, action: 'linked-existing' },
    ], 'one decision each, the retry none')
  })

  t.test('a fault inside the unit of work leaves nothing behind, not even the jti: the retry applies the event', async (t) => {
    const body = eventBody({ user: { id: 45, email: 'fault45@example.org', name: 'Fau Lt' }, isNew: true })
    await db.sql.query('RENAME TABLE civicrm_log TO civicrm_log_away')
    const failed = await sendEvent(app, body, { jti: 'fault-jti-45' }).finally(() => db.sql.query('RENAME TABLE civicrm_log_away TO civicrm_log'))
    t.equal(failed.status, 500)
    t.same(await db.rows("SELECT COUNT(*) AS n FROM civicrm_contact WHERE display_name = 'Fau Lt'"), [{ n: 0 }], 'no contact')
    t.same(await db.rows('SELECT * FROM civicrm_uf_match WHERE uf_id = 45'), [], 'no link')
    t.same(await db.rows("SELECT * FROM civibridge_event WHERE jti = 'fault-jti-45'"), [], 'the jti is not recorded')
    const retried = await sendEvent(app, body, { jti: 'fault-jti-45' })
    t.equal(retried.json.action, 'created-contact')
    t.same(await db.rows("SELECT JSON_VALUE(result, '$.action') AS action FROM civibridge_event WHERE jti = 'fault-jti-45'"), [{ action: 'created-contact' }])
  })

  t.test('the same jti with another body is 409 and changes nothing', async (t) => {
    await sendEvent(app, { user: { id: 22, email: 'a22@example.org' } }, { jti: 'reused-jti' })
    const before = await snap()
    const r = await sendEvent(app, { user: { id: 23, email: 'b23@example.org' } }, { jti: 'reused-jti' })
    t.equal(r.status, 409)
    t.equal(r.json.error, 'Conflict')
    t.equal(await snap(), before)
  })

  t.test('a save retried after the user\'s delete does not bring the link back', async (t) => {
    const saveBody = eventBody({ user: { id: 30, email: 'late@example.org' }, isNew: true, occurredAt: new Date(Date.now() - 60_000).toISOString() })
    await sendEvent(app, saveBody, { jti: 'late-save' })
    await sendEvent(app, { event: 'onUserAfterDelete', user: { id: 30, email: 'late@example.org' } })
    // The plugin's outbox retries the save under a new jti (say, its first answer was lost).
    const r = await sendEvent(app, saveBody, { jti: 'late-save-again' })
    t.same(r.json, { action: 'skipped', contactId: null, reason: 'user-deleted' })
    t.same(await db.rows('SELECT * FROM civicrm_uf_match WHERE uf_id = 30'), [])
  })

  t.test('an unknown event is 422 and nothing is written', async (t) => {
    const before = await snap()
    const r = await sendEvent(app, { event: 'onUserSomethingElse', user: { id: 40, email: 'x40@example.org' } })
    t.equal(r.status, 422)
    t.match(r.json, { error: 'Unprocessable Entity', message: /unknown event/ })
    t.equal(await snap(), before)
  })

  t.test('malformed bodies are 400 and nothing is written', async (t) => {
    const before = await snap()
    const cases: Record<string, string> = {
      'broken JSON': '{"event": "onUserAfterSave", ',
      'no user': JSON.stringify({ event: 'onUserAfterSave', occurredAt: new Date().toISOString() }),
      'a password field': JSON.stringify({ event: 'onUserAfterSave', user: { id: 1, username: 'a', email: 'a@example.org', name: 'A', block: 0, password: 'secret' }, occurredAt: new Date().toISOString() }),
      'id as a string': JSON.stringify({ event: 'onUserAfterSave', user: { id: '1', username: 'a', email: 'a@example.org', name: 'A', block: 0 }, occurredAt: new Date().toISOString() }),
      'id zero': JSON.stringify({ event: 'onUserAfterSave', user: { id: 0, username: 'a', email: 'a@example.org', name: 'A', block: 0 }, occurredAt: new Date().toISOString() }),
      'a huge id': JSON.stringify({ event: 'onUserAfterSave', user: { id: 1e20, username: 'a', email: 'a@example.org', name: 'A', block: 0 }, occurredAt: new Date().toISOString() }),
      'a bad date': JSON.stringify({ event: 'onUserAfterSave', user: { id: 1, username: 'a', email: 'a@example.org', name: 'A', block: 0 }, occurredAt: 'yesterday' }),
      'a 401-character name': JSON.stringify({ event: 'onUserAfterSave', user: { id: 1, username: 'a', email: 'a@example.org', name: 'n'.repeat(401), block: 0 }, occurredAt: new Date().toISOString() }),
      'an array': '[]',
      'a prototype key': '{"__proto__": {"x": 1}, "event": "onUserAfterSave"}',
    }
    for (const [name, body] of Object.entries(cases)) {
      const r = await post(body, handToken({ alg: 'HS256', typ: 'JWT' }, goodClaims(body), SECRET))
      t.equal(r.statusCode, 400, name)
      t.type(r.json().message, 'string', name)
    }
    t.equal(await snap(), before)
  })

  t.test('a body over 64 KiB is 413', async (t) => {
    const body = JSON.stringify({ pad: 'x'.repeat(70 * 1024) })
    const r = await post(body, handToken({ alg: 'HS256', typ: 'JWT' }, goodClaims(body), SECRET))
    t.equal(r.statusCode, 413)
  })

  t.test('every token failure is 401 with a JSON error, and nothing is written', async (t) => {
    const body = eventBody({ user: { id: 50, email: 'auth@example.org' }, isNew: true })
    const hs = { alg: 'HS256', typ: 'JWT' }
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const rsUnsigned = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(goodClaims(body))}`
    const rs256 = `${rsUnsigned}.${createSign('RSA-SHA256').update(rsUnsigned).sign(privateKey).toString('base64url')}`
    const cases: Record<string, string | null> = {
      'no token': null,
      garbage: 'not.a.token',
      'alg none': handToken({ alg: 'none', typ: 'JWT' }, goodClaims(body), null),
      HS512: handToken({ alg: 'HS512', typ: 'JWT' }, goodClaims(body), SECRET, 'sha512'),
      RS256: rs256,
      'key confusion: RS256 header, HMAC with the secret': handToken({ alg: 'RS256', typ: 'JWT' }, goodClaims(body), SECRET),
      'another secret': handToken(hs, goodClaims(body), 'another-secret-another-secret-another-secret'),
      expired: handToken(hs, goodClaims(body, { iat: now() - 400, exp: now() - 100 }), SECRET),
      'exp more than 300 s after iat': handToken(hs, goodClaims(body, { exp: now() + 301 }), SECRET),
      'issued in the future': handToken(hs, goodClaims(body, { iat: now() + 120, exp: now() + 180 }), SECRET),
      'not yet valid': handToken(hs, goodClaims(body, { nbf: now() + 120 }), SECRET),
      'wrong aud': handToken(hs, goodClaims(body, { aud: 'someone-else' }), SECRET),
      'no iss': handToken(hs, goodClaims(body, { iss: undefined }), SECRET),
      'an empty iss': handToken(hs, goodClaims(body, { iss: '' }), SECRET),
      'a 65-character iss': handToken(hs, goodClaims(body, { iss: 's'.repeat(65) }), SECRET),
      'a numeric iss': handToken(hs, goodClaims(body, { iss: 42 }), SECRET),
      'no jti': handToken(hs, goodClaims(body, { jti: undefined }), SECRET),
      'a jti with spaces': handToken(hs, goodClaims(body, { jti: 'a b' }), SECRET),
      'a 65-character jti': handToken(hs, goodClaims(body, { jti: 'j'.repeat(65) }), SECRET),
      'no body_sha256': handToken(hs, goodClaims(body, { body_sha256: undefined }), SECRET),
      'a tampered body': handToken(hs, goodClaims(body, { body_sha256: sha256Hex(body + ' ') }), SECRET),
      'an uppercase body hash': handToken(hs, goodClaims(body, { body_sha256: sha256Hex(body).toUpperCase() }), SECRET),
      'a 10 KB token': handToken(hs, goodClaims(body, { pad: 'x'.repeat(10_000) }), SECRET),
    }
    const before = await snap()
    for (const [name, token] of Object.entries(cases)) {
      const r = await post(body, token)
      t.equal(r.statusCode, 401, name)
      t.match(r.json(), { error: 'Unauthorized', message: String }, name)
    }
    const lower = await post(body, null, { authorization: 'Basic abc' })
    t.equal(lower.statusCode, 401, 'another scheme')
    t.equal(await snap(), before)
  })

  t.test('GET /health reports the database', async (t) => {
    const r = await app.inject('/health')
    t.same(r.json(), { status: 'ok', database: 'up' })
    const ready = await app.inject('/ready')
    t.same(ready.json(), { ready: true })
  })

  t.test('GET /v1/users/:id/link shows the link and the decisions to an admin only', async (t) => {
    const r = await sendEvent(app, { user: { id: 60, email: 'audit@example.org' }, isNew: true })
    await sendEvent(app, { event: 'onUserLogin', user: { id: 60, email: 'audit@example.org' } })
    await app.eventLog.flush()
    t.equal((await app.inject({ url: '/v1/users/60/link', remoteAddress: '10.9.0.1' })).statusCode, 401)
    t.equal((await app.inject({ url: '/v1/users/60/link', remoteAddress: '10.9.0.2', headers: { authorization: 'Bearer wrong-token-wrong-token-wrong-token!' } })).statusCode, 401)
    const ok = await app.inject({ url: '/v1/users/60/link', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    t.equal(ok.statusCode, 200)
    const report = ok.json()
    t.same(report.link, { contactId: r.json.contactId, ufName: 'audit@example.org' })
    t.same(report.audit.map((a: { trigger: string, action: string }) => [a.trigger, a.action]), [['login', 'already-linked'], ['save', 'created-contact']])
    t.equal((await app.inject({ url: '/v1/users/abc/link', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).statusCode, 400)
    t.same((await app.inject({ url: '/v1/users/999/link', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json(), { userId: 999, link: null, audit: [] })
  })

  t.test('an unknown route is a JSON 404', async (t) => {
    const r = await app.inject('/nope')
    t.equal(r.statusCode, 404)
    t.equal(r.json().error, 'Not Found')
  })
})

t.test('/ready fails, naming it, when a CiviCRM column is missing', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  await db.sql.query('ALTER TABLE civicrm_contact DROP COLUMN hash')
  const r = await app.inject('/ready')
  t.equal(r.statusCode, 503)
  t.same(r.json(), { ready: false, reason: `CiviCRM columns missing in database ${db.name}: civicrm_contact.hash (CiviCRM 5.x expected)` })
})

t.test('the error policy: a duplicate key is 409, an unavailable database 503, anything else a JSON 500', async (t) => {
  const db = await testDatabase(t)
  const app = await buildApp(testConfig(db.url))
  t.teardown(() => app.close())
  app.get('/test/dup', async () => { throw Object.assign(new Error('Duplicate entry'), { code: 'ER_DUP_ENTRY' }) })
  app.get('/test/down', async () => { throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })
  app.get('/test/boom', async () => { throw new Error('secret internals') })
  t.same((await app.inject('/test/dup')).json(), { error: 'Conflict', message: 'a concurrent change won; retry' })
  const down = await app.inject('/test/down')
  t.equal(down.statusCode, 503)
  t.equal(down.headers['retry-after'], '5')
  const boom = await app.inject('/test/boom')
  t.equal(boom.statusCode, 500)
  t.same(boom.json(), { error: 'Internal Server Error', message: 'unexpected error' }, 'internals are not shown')
})

t.test('an event whose record is refused (a trigger, not a duplicate) is a 500 and leaves nothing: its record goes with the COMMIT, which is not run', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  await db.sql.query("CREATE TRIGGER refuse_event BEFORE INSERT ON civibridge_event FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'event refused'")
  const counts = () => db.rows('SELECT (SELECT COUNT(*) FROM civicrm_contact) AS contacts, (SELECT COUNT(*) FROM civicrm_uf_match) AS links, (SELECT COUNT(*) FROM civibridge_audit) AS audit')
  const before = await counts()
  const r = await sendEvent(app, { user: { id: 7, email: 'refused@example.org', name: 'Ref Used' }, isNew: true })
  t.equal(r.status, 500)
  t.same(await counts(), before, 'no contact, link or audit row')
})

t.test('an address with more than 20 authentication failures a minute is refused with 429, even with a good token; others are not', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  const body = eventBody({ user: { id: 1, email: 'a@example.org' } })
  const bad = (remoteAddress: string) => app.inject({ method: 'POST', url: '/v1/joomla/events', remoteAddress, payload: body, headers: { 'content-type': 'application/json', authorization: 'Bearer forged.token.x' } })
  const statuses: number[] = []
  for (let i = 0; i < 22; i++) statuses.push((await bad('192.0.2.7')).statusCode)
  t.same(statuses.slice(0, 20), Array(20).fill(401))
  t.same(statuses.slice(20), [429, 429])
  const signed = signEvent(SECRET, SITE, body)
  const good = (remoteAddress: string) => app.inject({ method: 'POST', url: '/v1/joomla/events', remoteAddress, payload: body, headers: { 'content-type': 'application/json', authorization: `Bearer ${signed.token}` } })
  const blocked = await good('192.0.2.7')
  t.equal(blocked.statusCode, 429)
  t.match(blocked.headers['retry-after'], /^\d+$/)
  t.same(await db.rows('SELECT * FROM civicrm_uf_match'), [], 'nothing applied while blocked')
  t.equal((await good('192.0.2.8')).statusCode, 200, 'another address is served')
  const admin = await app.inject({ url: '/v1/users/1/link', remoteAddress: '192.0.2.7', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(admin.statusCode, 429, 'admin routes too')
})

t.test('with a site list, a token from another site is 401', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db, { BRIDGE_SITES: 'site-a, site-b' })
  t.equal((await sendEvent(app, { user: { id: 1, email: 'a@example.org' } }, { site: 'site-c' })).status, 401)
  t.equal((await sendEvent(app, { user: { id: 1, email: 'a@example.org' } }, { site: 'site-b' })).status, 200)
})

t.test('during a key rotation both the new and the previous secret are accepted', async (t) => {
  const db = await testDatabase(t)
  const previous = 'previous-secret-previous-secret-previous-1'
  const app = await buildTestApp(t, db, { BRIDGE_SECRET_PREVIOUS: previous })
  t.equal((await sendEvent(app, { user: { id: 1, email: 'a@example.org' } }, { secret: previous })).status, 200)
  t.equal((await sendEvent(app, { user: { id: 2, email: 'b@example.org' } }, { secret: SECRET })).status, 200)
  t.equal((await sendEvent(app, { user: { id: 3, email: 'c@example.org' } }, { secret: 'a-third-secret-a-third-secret-a-third-secret' })).status, 401)
})

t.test('the log has one line per event with user, event, action, contact and ms, and never a token or a full email', async (t) => {
  const db = await testDatabase(t)
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  const app = await buildApp(testConfig(db.url), { logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  const body = eventBody({ user: { id: 5, email: 'private.person@example.org' }, isNew: true })
  const signed = signEvent(SECRET, SITE, body)
  await app.inject({ method: 'POST', url: '/v1/joomla/events', payload: body, headers: { 'content-type': 'application/json', authorization: `Bearer ${signed.token}` } })
  await app.inject({ method: 'POST', url: '/v1/joomla/events', payload: body, headers: { 'content-type': 'application/json', authorization: 'Bearer forged.token.here' } })
  const events = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'event')
  t.equal(events.length, 1)
  t.match(events[0], { userId: 5, event: 'onUserAfterSave', action: 'created-contact', contactId: Number, ms: Number, email: 'p***@example.org' })
  const all = lines.join('')
  t.notOk(all.includes(signed.token), 'no token')
  t.notOk(all.includes('forged.token.here'), 'no forged token either')
  t.notOk(all.includes('private.person@'), 'no full email')
})

t.test('when the database is down, events are 503 with Retry-After and /health says so', async (t) => {
  const db = await testDatabase(t)
  const app = await buildApp(testConfig(db.url.replace(':3306/', ':1/')))
  t.teardown(() => app.close())
  const r = await sendEvent(app, { user: { id: 1, email: 'a@example.org' } })
  t.equal(r.status, 503)
  t.equal(r.headers['retry-after'], '5')
  t.same((await app.inject('/health')).json(), { status: 'ok', database: 'down' })
  const ready = await app.inject('/ready')
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['retry-after'], '5', 'the Retry-After of every 503 (http/errors.ts)')
  t.same(ready.json(), { ready: false, reason: 'database unreachable' })
})
