// "Edit my details" on the bridge: the validation rules (pure), and POST /v1/transactions/profile
// on the real MariaDB: who is linked, what is written, and every refusal leaving every table as
// it was. (Contributions and memberships are CiviCRM's own pages: test/lazy-link.test.ts.)
import t from 'tap'
import {
  assertionUser, AssertionError, InvalidInput, parseEmail, parseId, parseName, parseProfile,
} from '../server/domain/transactions.js'
import { signAssertion } from '../server/protocol/sign.js'
import { createSigner } from 'fast-jwt'
import { Database } from '../server/data/db.js'
import { TransactionService } from '../server/services/transaction-service.js'
import { testDatabase, buildTestApp, insertContact, snapshot, sendEvent, SECRET, SITE, type TestDb } from './helper.js'

const refused = (t: Tap.Test, fn: () => unknown, field: string, reason?: RegExp) => {
  try {
    fn()
    t.fail(`expected ${field} to be refused`)
  } catch (err) {
    t.type(err, InvalidInput)
    t.equal((err as InvalidInput).field, field)
    if (reason) t.match((err as InvalidInput).reason, reason)
  }
}
declare global { namespace Tap { type Test = import('tap').Test } }

t.test('validation rules', async (t) => {
  t.equal(parseId('id', 3), 3)
  t.equal(parseId('id', '42'), 42)
  refused(t, () => parseId('id', 0), 'id', /positive integer/)
  refused(t, () => parseId('id', 1.5), 'id')
  refused(t, () => parseId('id', '01'), 'id')
  refused(t, () => parseId('id', '9999999999'), 'id')
  refused(t, () => parseId('id', null), 'id', /required/)

  t.equal(parseEmail('email', ' Ann@Example.ORG ', true), 'ann@example.org')
  t.equal(parseEmail('email', '', false), null)
  refused(t, () => parseEmail('email', undefined, true), 'email', /required/)
  refused(t, () => parseEmail('email', 'nope', true), 'email', /email address/)
  refused(t, () => parseEmail('email', 'a..b@x.org', true), 'email', /email address/)
  refused(t, () => parseEmail('email', 7, true), 'email', /email address/)
  refused(t, () => parseEmail('email', `${'a'.repeat(60)}@${'b'.repeat(60)}.${'c'.repeat(10)}.org`, true), 'email', /128/)
  refused(t, () => parseEmail('email', `${'a'.repeat(400)}@x.org`, true), 'email', /email address/)

  t.equal(parseName('first_name', '  Ann   Marie '), 'Ann Marie')
  t.equal(parseName('first_name', '   '), null)
  t.equal(parseName('first_name', undefined), null)
  t.equal(parseName('first_name', 'x'.repeat(64)), 'x'.repeat(64))
  refused(t, () => parseName('first_name', 'x'.repeat(65)), 'first_name', /64/)
  refused(t, () => parseName('first_name', 'a<b'), 'first_name', /control/)
  refused(t, () => parseName('first_name', 'a\u0007'), 'first_name', /control/)
  refused(t, () => parseName('first_name', 5), 'first_name', /text/)
})

t.test('profile inputs', async (t) => {
  t.same(parseProfile({ gid: 1, fields: { first_name: 'Ann', email: 'ann@x.org' } }), { gid: 1, firstName: 'Ann', lastName: undefined, email: 'ann@x.org' })
  t.same(parseProfile({ gid: '2', fields: { last_name: '' } }), { gid: 2, firstName: undefined, lastName: null, email: null })
  refused(t, () => parseProfile({ gid: 1 }), 'fields', /required/)
  refused(t, () => parseProfile({ gid: 1, fields: 'x' }), 'fields', /object/)
  refused(t, () => parseProfile({ gid: 1, fields: { phone: '1' } }), 'fields.phone', /not a known field/)
  refused(t, () => parseProfile({ gid: 1, fields: { email: 'bad' } }), 'fields.email')
  refused(t, () => parseProfile({ gid: 1, fields: { first_name: 'A', email: '' } }), 'fields.email', /is required/)
  refused(t, () => parseProfile({ gid: 1, fields: { email: '   ' } }), 'fields.email', /is required/)
  t.equal(parseProfile({ gid: 1, fields: { first_name: 'A' } }).email, null, 'left out: the email is kept')
  refused(t, () => parseProfile({ fields: {} }), 'gid', /required/)
  refused(t, () => parseProfile({ gid: 1, fields: {}, extra: 1 }), 'extra')
  refused(t, () => parseProfile(null), 'body')
  refused(t, () => parseProfile([]), 'body')
})

t.test('the assertion names the user; its purpose must be the page\'s', async (t) => {
  const claims = { act: 'profile', sub: '42', username: 'ann', email: 'ann@x.org', name: 'Ann Lee', extra: 'ignored' }
  t.same(assertionUser(claims, 'profile'), { id: 42, username: 'ann', email: 'ann@x.org', name: 'Ann Lee', block: false })
  t.same(assertionUser({ act: 'profile', sub: '7', email: '' }, 'profile'), { id: 7, username: '', email: '', name: '', block: false })
  t.throws(() => assertionUser({ ...claims, act: 'contribution' }, 'profile'), AssertionError, 'contribution assertions are gone with the bridge\'s payment pages')
  t.throws(() => assertionUser({ ...claims, act: 5 }, 'profile'), /no purpose/)
  t.throws(() => assertionUser({ ...claims, sub: 42 }, 'profile'), /sub/)
  t.throws(() => assertionUser({ ...claims, sub: '0' }, 'profile'), /sub/)
  t.throws(() => assertionUser({ ...claims, sub: '9999999999' }, 'profile'), /sub/)
  t.throws(() => assertionUser({ ...claims, email: undefined }, 'profile'), /email/)
})

const count = async (db: TestDb, table: string, where = '1') => Number((await db.rows<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`))[0].n)
const ann = { id: 42, username: 'ann', email: 'ann@example.org', name: 'Ann Lee' }

t.test('JSON API', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  const post = (path: string, body: unknown, token?: string, headers: Record<string, string> = {}) => app.inject({
    method: 'POST',
    url: `/v1/transactions/${path}`,
    payload: body as object,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  })
  const assertion = (act: string, user = ann, opts: { jti?: string, ttlS?: number } = {}) => signAssertion(SECRET, SITE, user, act, opts)
  const unchanged = async (t: Tap.Test, fn: () => Promise<{ statusCode: number, json: () => Record<string, unknown> }>, status: number, field?: string) => {
    const before = await snapshot(db)
    const res = await fn()
    t.equal(res.statusCode, status)
    if (field !== undefined) t.equal(res.json().field, field)
    t.equal(await snapshot(db), before, 'nothing written')
    return res
  }

  t.test('refused input names its field and writes nothing', async (t) => {
    const a = assertion('profile')
    await unchanged(t, () => post('profile', { gid: 1, fields: { first_name: 'x'.repeat(65) } }, a), 400, 'fields.first_name')
    await unchanged(t, () => post('profile', { gid: 1, fields: { email: 'not an email' } }, a), 400, 'fields.email')
    await unchanged(t, () => post('profile', { gid: 1, fields: { phone: '1' } }, a), 400, 'fields.phone')
    await unchanged(t, () => post('profile', { gid: 'x', fields: {} }, a), 400, 'gid')
    const arr = await unchanged(t, () => post('profile', [1, 2], a), 400)
    t.match(arr.json().message, /body/)
    // A refused input does not spend the assertion.
    t.equal((await post('profile', { gid: 1, fields: {} }, a)).statusCode, 200, 'the same assertion still works')
  })

  t.test('assertions: expired, replayed, forged, for another purpose or malformed change nothing', async (t) => {
    const body = { gid: 1, fields: {} }
    const used = assertion('profile')
    t.equal((await post('profile', body, used)).statusCode, 200)
    const replay = await unchanged(t, () => post('profile', body, used), 401)
    t.match(replay.json().message, /already used/)
    const iat = Math.floor(Date.now() / 1000) - 200
    const sign = createSigner({ key: SECRET, algorithm: 'HS256' })
    const expired = sign({ iss: SITE, aud: 'civicrm-bridge', iat, exp: iat + 60, jti: 'expired-1', act: 'profile', sub: '42', email: 'ann@example.org' })
    t.match((await unchanged(t, () => post('profile', body, expired), 401)).json().message, /expired/)
    await unchanged(t, () => post('profile', body, assertion('profile', ann, { ttlS: 300 })), 401)
    await unchanged(t, () => post('profile', body, signAssertion('another-secret-0123456789abcdef-0123456789', SITE, ann, 'profile')), 401)
    t.match((await unchanged(t, () => post('profile', body, assertion('membership')), 401)).json().message, /not profile/)
    await unchanged(t, () => post('profile', body, undefined, { authorization: 'Basic abc' }), 401)
    t.match((await unchanged(t, () => post('profile', { gid: 1, fields: {} }), 401)).json().message, /missing/)
    const noSub = sign({ iss: SITE, aud: 'civicrm-bridge', iat: iat + 200, exp: iat + 250, jti: 'nosub-1', act: 'profile', email: 'ann@example.org' })
    await unchanged(t, () => post('profile', body, noSub), 401)
  })

  t.test('a user who cannot be linked gets 409 and the assertion is not spent', async (t) => {
    await sendEvent(app, { user: { id: 60, email: 'held@example.org' } })
    // User 61's Joomla email is held as uf_name by user 60: the core refuses to link.
    const a = assertion('profile', { id: 61, username: 'x', email: 'held@example.org', name: 'X' })
    const r = await unchanged(t, () => post('profile', { gid: 1, fields: {} }, a), 409)
    t.match(r.json().message, /email-linked-to-user:60/)
    const bad = assertion('profile', { id: 62, username: 'y', email: 'not-an-email', name: 'Y' })
    t.match((await unchanged(t, () => post('profile', { gid: 1, fields: {} }, bad), 409)).json().message, /invalid-email/)
  })

  t.test('profile: links, then updates names and the primary email; uf_name stays Joomla\'s', async (t) => {
    const user = { id: 70, username: 'pat', email: 'pat@example.org', name: 'Pat Old' }
    const contact = await insertContact(db, { first: 'Pat', last: 'Old', emails: [{ email: 'pat@example.org', primary: true }, { email: 'pat@work.example', location: 2 }] })
    const r = await post('profile', { gid: 1, fields: { first_name: 'Patricia', last_name: 'New', email: 'Pat.New@Example.org' } }, assertion('profile', user))
    t.equal(r.statusCode, 200)
    t.same(r.json(), { contactId: contact, action: 'linked-existing' })
    t.match(await db.rows('SELECT first_name, last_name, display_name, sort_name FROM civicrm_contact WHERE id = ?', [contact]), [{ first_name: 'Patricia', last_name: 'New', display_name: 'Patricia New', sort_name: 'New, Patricia' }])
    t.same(await db.rows('SELECT email, is_primary FROM civicrm_email WHERE contact_id = ? ORDER BY id', [contact]), [{ email: 'pat.new@example.org', is_primary: 1 }, { email: 'pat@work.example', is_primary: 0 }])
    t.same(await db.rows('SELECT uf_name FROM civicrm_uf_match WHERE uf_id = 70'), [{ uf_name: 'pat@example.org' }])
    // Later logins with the unchanged Joomla email leave the profile's email alone.
    await sendEvent(app, { event: 'onUserLogin', user: { id: 70, email: 'pat@example.org' } })
    await app.eventLog.flush() // a login that changes nothing is logged in the background
    t.same(await db.rows('SELECT email FROM civicrm_email WHERE contact_id = ? AND is_primary = 1', [contact]), [{ email: 'pat.new@example.org' }])

    // Absent fields are kept; an empty last name is cleared; the same email writes no email row.
    const r2 = await post('profile', { gid: 2, fields: { last_name: '', email: 'pat.new@example.org' } }, assertion('profile', user))
    t.same(r2.json(), { contactId: contact, action: 'already-linked' })
    t.match(await db.rows('SELECT first_name, last_name, display_name, sort_name FROM civicrm_contact WHERE id = ?', [contact]), [{ first_name: 'Patricia', last_name: null, display_name: 'Patricia', sort_name: 'Patricia' }])

    const before = await snapshot(db)
    t.equal((await post('profile', { gid: 99, fields: {} }, assertion('profile', user))).statusCode, 404)
    await db.sql.query('UPDATE civicrm_uf_group SET is_active = 0 WHERE id = 2')
    t.equal((await post('profile', { gid: 2, fields: {} }, assertion('profile', user))).statusCode, 404)
    await db.sql.query('UPDATE civicrm_uf_group SET is_active = 1 WHERE id = 2')
    const bad = await post('profile', { gid: 1, fields: { first_name: 'x'.repeat(70) } }, assertion('profile', user))
    t.same([bad.statusCode, bad.json().field], [400, 'fields.first_name'])
    t.equal(await snapshot(db), before, 'nothing written')

    // A contact with no name and no email gets both.
    const bare = await insertContact(db, { emails: [] })
    await db.sql.query('INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 71, ?, ?)', ['bare@example.org', bare])
    const r3 = await post('profile', { gid: 1, fields: { email: 'bare@example.org' } }, assertion('profile', { id: 71, username: 'b', email: 'bare@example.org', name: '' }))
    t.same(r3.json(), { contactId: bare, action: 'already-linked' })
    t.same(await db.rows('SELECT email, is_primary FROM civicrm_email WHERE contact_id = ?', [bare]), [{ email: 'bare@example.org', is_primary: 1 }])
    t.match(await db.rows('SELECT display_name FROM civicrm_contact WHERE id = ?', [bare]), [{ display_name: 'bare@example.org' }])
    const bare2 = await insertContact(db, { emails: [] })
    await db.sql.query('INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 73, ?, ?)', ['bare2@example.org', bare2])
    const r5 = await post('profile', { gid: 1, fields: { first_name: 'Bo' } }, assertion('profile', { id: 73, username: 'b2', email: 'bare2@example.org', name: '' }))
    t.same(r5.json(), { contactId: bare2, action: 'already-linked' })
    t.match(await db.rows('SELECT display_name FROM civicrm_contact WHERE id = ?', [bare2]), [{ display_name: 'Bo' }])
    t.equal(await count(db, 'civicrm_email', `contact_id = ${bare2}`), 0, 'no email is invented')
    const r4 = await post('profile', { gid: 1, fields: { first_name: 'Bea' } }, assertion('profile', { id: 72, username: 'c', email: 'nobody@example.org', name: '' }))
    t.match(r4.json(), { action: 'created-contact' })
  })

  t.test('a session whose link has gone is refused inside the unit of work', async (t) => {
    const database = new Database(db.url, { poolSize: 2 })
    t.teardown(() => database.close())
    const service = new TransactionService(database, 1)
    const before = await snapshot(db)
    await t.rejects(service.saveProfile({ kind: 'session', domainId: 1, ufId: 999, contactId: 1 }, parseProfile({ gid: 1, fields: { first_name: 'X' } })), AssertionError)
    await t.rejects(service.saveProfile({ kind: 'session', domainId: 1, ufId: 999, contactId: 1 }, parseProfile({ gid: 1, fields: {} })), /session has ended/)
    t.equal(await snapshot(db), before)
  })
})
