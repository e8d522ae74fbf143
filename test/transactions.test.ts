// Lazy linking on CiviCRM transactions: the validation rules and membership dates (pure), and
// POST /v1/transactions/{profile,contribution,membership} on the real MariaDB: who is linked,
// who is only matched, what is written, and every refusal leaving every table as it was.
import t from 'tap'
import {
  assertionUser, AssertionError, CURRENCIES, InvalidInput, isCurrency, membershipDates, membershipFee, namesFromParts, newInvoiceId,
  parseAmount, parseContribution, parseCurrency, parseEmail, parseId, parseMembership, parseName, parseProfile, parseSource,
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
  t.equal(parseAmount('amount', 12.5), '12.50')
  t.equal(parseAmount('amount', ' 007.1 '), '7.10')
  t.equal(parseAmount('amount', '100'), '100.00')
  t.equal(parseAmount('amount', '0.01'), '0.01')
  refused(t, () => parseAmount('amount', '0'), 'amount', /positive/)
  refused(t, () => parseAmount('amount', '0.00'), 'amount', /positive/)
  refused(t, () => parseAmount('amount', '1.234'), 'amount', /2 decimals/)
  refused(t, () => parseAmount('amount', -5), 'amount', /2 decimals/)
  refused(t, () => parseAmount('amount', 1e21), 'amount')
  refused(t, () => parseAmount('amount', '1,00'), 'amount')
  refused(t, () => parseAmount('amount', ''), 'amount', /required/)
  refused(t, () => parseAmount('amount', undefined), 'amount', /required/)
  refused(t, () => parseAmount('amount', true), 'amount', /number/)
  refused(t, () => parseAmount('amount', Number.NaN), 'amount', /number/)

  t.equal(parseCurrency('currency', undefined), 'USD')
  t.equal(parseCurrency('currency', ''), 'USD')
  t.equal(parseCurrency('currency', ' eur '), 'EUR')
  refused(t, () => parseCurrency('currency', 'ABC'), 'currency', /ISO 4217/)
  refused(t, () => parseCurrency('currency', 'HRK'), 'currency', /ISO 4217/)
  refused(t, () => parseCurrency('currency', 978), 'currency')
  t.ok(isCurrency('JPY'))
  t.notOk(isCurrency('XAU'), 'gold is not a currency one pays in')
  t.same(CURRENCIES, [...CURRENCIES].sort())

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
  refused(t, () => parseEmail('email', `${'a'.repeat(130)}@x.org`, true), 'email', /128/)
  refused(t, () => parseEmail('email', `${'a'.repeat(400)}@x.org`, true), 'email', /email address/)

  t.equal(parseName('first_name', '  Ann   Marie '), 'Ann Marie')
  t.equal(parseName('first_name', '   '), null)
  t.equal(parseName('first_name', undefined), null)
  t.equal(parseName('first_name', 'x'.repeat(64)), 'x'.repeat(64))
  refused(t, () => parseName('first_name', 'x'.repeat(65)), 'first_name', /64/)
  refused(t, () => parseName('first_name', 'a<b'), 'first_name', /control/)
  refused(t, () => parseName('first_name', 'a\u0007'), 'first_name', /control/)
  refused(t, () => parseName('first_name', 5), 'first_name', /text/)

  t.equal(parseSource('source', ' web ', 255), 'web')
  t.equal(parseSource('source', '', 255), null)
  t.equal(parseSource('source', '   ', 255), null)
  refused(t, () => parseSource('source', 'x'.repeat(129), 128), 'source', /128/)
  refused(t, () => parseSource('source', [], 128), 'source', /text/)
})

t.test('transaction inputs', async (t) => {
  t.same(parseContribution({ email: 'A@x.org', first_name: 'Ann', amount: '5', financial_type_id: 1 }, true),
    { amount: '5.00', currency: 'USD', financialTypeId: 1, source: null, person: { email: 'a@x.org', firstName: 'Ann', lastName: null } })
  t.same(parseContribution({ amount: 5, financial_type_id: '2', currency: 'gbp', source: 'Gala' }, false),
    { amount: '5.00', currency: 'GBP', financialTypeId: 2, source: 'Gala', person: null }, 'a logged-in user needs no email')
  refused(t, () => parseContribution({ amount: 5, financial_type_id: 1 }, true), 'email', /required/)
  refused(t, () => parseContribution({ amount: 5, financial_type_id: 1, email: 'bad' }, false), 'email', /email address/)
  refused(t, () => parseContribution({ amount: 5, financial_type_id: 1, email: 'a@x.org', password: 'x' }, true), 'password', /not a known field/)
  refused(t, () => parseContribution([], true), 'body')
  refused(t, () => parseContribution(null, true), 'body')
  t.same(parseMembership({ membership_type_id: 2, email: 'b@x.org' }, true),
    { membershipTypeId: 2, currency: 'USD', source: null, person: { email: 'b@x.org', firstName: null, lastName: null } })
  refused(t, () => parseMembership({ membership_type_id: 'x' }, false), 'membership_type_id')

  t.same(parseProfile({ gid: 1, fields: { first_name: 'Ann', email: 'ann@x.org' } }), { gid: 1, firstName: 'Ann', lastName: undefined, email: 'ann@x.org' })
  t.same(parseProfile({ gid: '2', fields: { last_name: '' } }), { gid: 2, firstName: undefined, lastName: null, email: null })
  refused(t, () => parseProfile({ gid: 1 }), 'fields', /required/)
  refused(t, () => parseProfile({ gid: 1, fields: 'x' }), 'fields', /object/)
  refused(t, () => parseProfile({ gid: 1, fields: { phone: '1' } }), 'fields.phone', /not a known field/)
  refused(t, () => parseProfile({ gid: 1, fields: { email: 'bad' } }), 'fields.email')
  refused(t, () => parseProfile({ fields: {} }), 'gid', /required/)
  refused(t, () => parseProfile({ gid: 1, fields: {}, extra: 1 }), 'extra')

  t.same(namesFromParts('Ann', 'Lee', 'a@x.org'), { firstName: 'Ann', middleName: null, lastName: 'Lee', displayName: 'Ann Lee', sortName: 'Lee, Ann' })
  t.same(namesFromParts(null, null, 'a@x.org'), { firstName: null, middleName: null, lastName: null, displayName: 'a@x.org', sortName: 'a@x.org' })
  t.match(newInvoiceId(), /^[0-9a-f]{32}$/)
  t.not(newInvoiceId(), newInvoiceId())
})

t.test('the assertion names the user; its purpose must be the page\'s', async (t) => {
  const claims = { act: 'profile', sub: '42', username: 'ann', email: 'ann@x.org', name: 'Ann Lee', extra: 'ignored' }
  t.same(assertionUser(claims, 'profile'), { id: 42, username: 'ann', email: 'ann@x.org', name: 'Ann Lee', block: false })
  t.same(assertionUser({ act: 'membership', sub: '7', email: '' }, 'membership'), { id: 7, username: '', email: '', name: '', block: false })
  t.throws(() => assertionUser(claims, 'contribution'), AssertionError)
  t.throws(() => assertionUser({ ...claims, act: 5 }, 'profile'), /no purpose/)
  t.throws(() => assertionUser({ ...claims, sub: 42 }, 'profile'), /sub/)
  t.throws(() => assertionUser({ ...claims, sub: '0' }, 'profile'), /sub/)
  t.throws(() => assertionUser({ ...claims, sub: '9999999999' }, 'profile'), /sub/)
  t.throws(() => assertionUser({ ...claims, email: undefined }, 'profile'), /email/)
})

t.test('membership dates follow CiviCRM\'s rolling rule', async (t) => {
  const rolling = (durationUnit: string, durationInterval: number | null) => ({ durationUnit, durationInterval, periodType: 'rolling', minimumFee: null })
  const day = (s: string) => new Date(`${s}T23:30:00Z`)
  t.same(membershipDates(rolling('year', 2), day('2026-11-25')), { joinDate: '2026-11-25', startDate: '2026-11-25', endDate: '2028-11-24' })
  t.same(membershipDates(rolling('year', 1), day('2028-02-29')), { joinDate: '2028-02-29', startDate: '2028-02-29', endDate: '2029-02-28' })
  t.equal(membershipDates(rolling('month', 1), day('2027-01-31')).endDate, '2027-03-02', 'PHP mktime overflow, as CiviCRM')
  t.equal(membershipDates(rolling('month', 3), day('2026-11-25')).endDate, '2027-02-24')
  t.equal(membershipDates(rolling('day', 30), day('2026-11-25')).endDate, '2026-12-24')
  t.equal(membershipDates(rolling('month', null), day('2026-11-25')).endDate, '2026-12-24', 'no interval: 1')
  t.same(membershipDates({ ...rolling('lifetime', 1), periodType: 'fixed' }, day('2026-11-25')), { joinDate: '2026-11-25', startDate: '2026-11-25', endDate: null })
  t.throws(() => membershipDates({ ...rolling('year', 1), periodType: 'fixed' }, day('2026-11-25')), /fixed-period/)
  t.throws(() => membershipDates(rolling('week', 1), day('2026-11-25')), /unknown duration unit/)
  t.equal(membershipFee({ ...rolling('year', 1), minimumFee: '100.000000000' }), '100.00')
  t.equal(membershipFee({ ...rolling('year', 1), minimumFee: '12.345000000' }), '12.35')
  t.equal(membershipFee({ ...rolling('year', 1), minimumFee: '0.050000000' }), '0.05')
  t.equal(membershipFee({ ...rolling('year', 1), minimumFee: '0.000000000' }), null)
  t.equal(membershipFee({ ...rolling('year', 1), minimumFee: null }), null)
})

const count = async (db: TestDb, table: string, where = '1') => Number((await db.rows<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`))[0].n)
const ann = { id: 42, username: 'ann', email: 'ann@example.org', name: 'Ann Lee' }

t.test('JSON API', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  const post = (path: string, body: unknown, token?: string, headers: Record<string, string> = {}) => app.inject({
    method: 'POST', url: `/v1/transactions/${path}`, payload: body as object,
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

  t.test('the seed\'s tip: anonymous contribution, registration without forwarding, then a logged-in transaction links', async (t) => {
    const started = Date.now()
    const r1 = await post('contribution', { email: 'Ann@Example.org', first_name: 'Ann', last_name: 'Lee', amount: '25.5', currency: 'eur', financial_type_id: 1, source: 'Spring appeal' })
    t.equal(r1.statusCode, 200)
    const c1 = r1.json()
    t.match(c1, { action: 'created-contact', contactId: Number, contributionId: Number })
    const [contact] = await db.rows<Record<string, unknown>>('SELECT * FROM civicrm_contact WHERE id = ?', [c1.contactId])
    t.match(contact, { contact_type: 'Individual', first_name: 'Ann', last_name: 'Lee', display_name: 'Ann Lee', sort_name: 'Lee, Ann', source: 'Anonymous contribution', is_deleted: 0 })
    t.same(await db.rows('SELECT email, is_primary, location_type_id FROM civicrm_email WHERE contact_id = ?', [c1.contactId]), [{ email: 'ann@example.org', is_primary: 1, location_type_id: 1 }])
    t.equal(await count(db, 'civicrm_log', `entity_id = ${c1.contactId}`), 1)
    const [contrib] = await db.rows<Record<string, unknown>>('SELECT * FROM civicrm_contribution WHERE id = ?', [c1.contributionId])
    t.match(contrib, { contact_id: c1.contactId, financial_type_id: 1, total_amount: '25.50', currency: 'EUR', contribution_status_id: 1, source: 'Spring appeal', is_test: 0, is_pay_later: 0 })
    t.match(contrib.invoice_id, /^[0-9a-f]{32}$/)
    t.ok((contrib.receive_date as Date).getTime() >= Math.floor(started / 1000) * 1000 && (contrib.receive_date as Date).getTime() <= Date.now())
    t.equal(await count(db, 'civicrm_uf_match'), 0, 'an anonymous visitor is never linked')

    // Step 2: the user registers on Joomla; save forwarding is off, so the bridge hears nothing.
    await db.sql.query("INSERT INTO jos_users (id, name, username, email, params) VALUES (42, 'Ann Lee', 'ann', 'ann@example.org', '')")
    t.equal(await count(db, 'civicrm_uf_match'), 0)

    // Steps 3-4: logged in, a CiviCRM transaction links her to the contact of step 1.
    const r2 = await post('contribution', { amount: 10, financial_type_id: 3 }, assertion('contribution'))
    t.equal(r2.statusCode, 200)
    t.match(r2.json(), { action: 'linked-existing', contactId: c1.contactId })
    t.same(await db.rows('SELECT uf_id, uf_name, contact_id FROM civicrm_uf_match'), [{ uf_id: 42, uf_name: 'ann@example.org', contact_id: c1.contactId }])
    t.equal(await count(db, 'civicrm_contribution', `contact_id = ${c1.contactId}`), 2)
    t.equal(await count(db, 'civicrm_email', "email = 'ann@example.org'"), 1, 'no duplicate contact')
    t.match(await db.rows('SELECT purpose FROM civibridge_used_token'), [{ purpose: 'contribution' }])
    t.match(await db.rows('SELECT `trigger`, action FROM civibridge_audit WHERE uf_id = 42'), [{ trigger: 'contribution', action: 'linked-existing' }])

    const r3 = await post('contribution', { amount: 1, financial_type_id: 1, currency: 'USD' }, assertion('contribution'))
    t.match(r3.json(), { action: 'already-linked', contactId: c1.contactId }, 'a second visit is already linked')
    const [c3] = await db.rows<Record<string, unknown>>('SELECT source, invoice_id FROM civicrm_contribution WHERE id = ?', [r3.json().contributionId])
    t.equal(c3.source, 'Online Contribution: Donation')
    t.not(c3.invoice_id, contrib.invoice_id)
  })

  t.test('an anonymous payment takes CiviCRM\'s unsupervised match and never links', async (t) => {
    await insertContact(db, { type: 'Organization', first: 'Org', emails: [{ email: 'shared@example.org', primary: true }] })
    await insertContact(db, { first: 'Trashed', deleted: true, emails: [{ email: 'shared@example.org', primary: true }] })
    const secondary = await insertContact(db, { first: 'Sec', emails: [{ email: 'other@example.org', primary: true }, { email: 'shared@example.org' }] })
    const primary = await insertContact(db, { first: 'Prim', emails: [{ email: ' SHARED@example.org', primary: true }] })
    await sendEvent(app, { user: { id: 77, email: 'shared@example.org' } })
    t.same(await db.rows('SELECT contact_id FROM civicrm_uf_match WHERE uf_id = 77'), [{ contact_id: primary }])
    const links = await count(db, 'civicrm_uf_match')
    const contacts = await count(db, 'civicrm_contact')
    const r = await post('membership', { membership_type_id: 2, email: 'shared@example.org', first_name: 'Someone', last_name: 'Else' })
    t.equal(r.statusCode, 200)
    t.match(r.json(), { action: 'matched-contact', contactId: primary }, 'primary email first, Organization and trashed skipped, even a linked contact')
    t.equal(await count(db, 'civicrm_contact'), contacts)
    t.equal(await count(db, 'civicrm_uf_match'), links)
    t.same(await db.rows('SELECT first_name FROM civicrm_contact WHERE id = ?', [primary]), [{ first_name: 'Prim' }], 'the matched contact is not renamed')
    t.not(secondary, primary)
  })

  t.test('two concurrent anonymous payments with one new email create one contact', async (t) => {
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => post('contribution', { email: 'race@example.org', amount: i + 1, financial_type_id: 1 })))
    t.same(rs.map((r) => r.statusCode), [200, 200, 200, 200, 200, 200])
    const ids = new Set(rs.map((r) => r.json().contactId))
    t.equal(ids.size, 1)
    t.equal(rs.filter((r) => r.json().action === 'created-contact').length, 1)
    t.equal(await count(db, 'civicrm_email', "email = 'race@example.org'"), 1)
    t.equal(await count(db, 'civicrm_contribution', `contact_id = ${[...ids][0]}`), 6)
  })

  t.test('memberships: dates from the type, status New, the fee as a contribution', async (t) => {
    const today = new Date().toISOString().slice(0, 10)
    const r = await post('membership', { membership_type_id: 1, email: 'member@example.org', first_name: 'Mem', source: 'Fair' })
    t.equal(r.statusCode, 200)
    const m = r.json()
    const [row] = await db.rows<Record<string, unknown>>("SELECT DATE_FORMAT(join_date, '%Y-%m-%d') AS j, DATE_FORMAT(start_date, '%Y-%m-%d') AS s, DATE_FORMAT(end_date, '%Y-%m-%d') AS e, status_id, membership_type_id, contact_id, source FROM civicrm_membership WHERE id = ?", [m.membershipId])
    const end = new Date(`${today}T00:00:00Z`)
    const expected = new Date(Date.UTC(end.getUTCFullYear() + 2, end.getUTCMonth(), end.getUTCDate() - 1)).toISOString().slice(0, 10)
    t.same(row, { j: today, s: today, e: expected, status_id: 1, membership_type_id: 1, contact_id: m.contactId, source: 'Fair' })
    t.equal(m.endDate, expected)
    t.match(await db.rows('SELECT total_amount, financial_type_id, contribution_status_id, currency, contact_id FROM civicrm_contribution WHERE id = ?', [m.contributionId]),
      [{ total_amount: '100.00', financial_type_id: 2, contribution_status_id: 1, currency: 'USD', contact_id: m.contactId }])

    const life = await post('membership', { membership_type_id: 3, email: 'member@example.org' })
    t.match(life.json(), { action: 'matched-contact', contactId: m.contactId, contributionId: null, endDate: null })
    t.same(await db.rows("SELECT end_date, source FROM civicrm_membership WHERE id = ?", [life.json().membershipId]), [{ end_date: null, source: 'Online Membership: Lifetime' }])

    const user = { id: 50, username: 'stu', email: 'stu@example.org', name: 'Stu Dent' }
    const stu = await post('membership', { membership_type_id: 2, currency: 'EUR' }, assertion('membership', user))
    t.match(stu.json(), { action: 'created-contact' })
    t.match(await db.rows('SELECT total_amount, currency FROM civicrm_contribution WHERE id = ?', [stu.json().contributionId]), [{ total_amount: '50.00', currency: 'EUR' }])
    t.same(await db.rows('SELECT uf_id FROM civicrm_uf_match WHERE contact_id = ?', [stu.json().contactId]), [{ uf_id: 50 }])
  })

  t.test('refused input names its field and writes nothing', async (t) => {
    await db.sql.query("INSERT INTO civicrm_financial_type (id, name, is_active) VALUES (9, 'Old', 0)")
    await db.sql.query("INSERT INTO civicrm_membership_type (id, domain_id, name, member_of_contact_id, financial_type_id, minimum_fee, duration_unit, duration_interval, period_type, is_active) VALUES (8, 1, 'Closed', 1, 2, 10, 'year', 1, 'rolling', 0), (9, 1, 'Calendar', 1, 2, 10, 'year', 1, 'fixed', 1)")
    const ok = { email: 'v@example.org', amount: '5', financial_type_id: 1 }
    await unchanged(t, () => post('contribution', { ...ok, amount: '0' }), 400, 'amount')
    await unchanged(t, () => post('contribution', { ...ok, amount: '1.001' }), 400, 'amount')
    await unchanged(t, () => post('contribution', { ...ok, currency: 'ABC' }), 400, 'currency')
    await unchanged(t, () => post('contribution', { ...ok, financial_type_id: 99 }), 400, 'financial_type_id')
    await unchanged(t, () => post('contribution', { ...ok, financial_type_id: 9 }), 400, 'financial_type_id')
    await unchanged(t, () => post('contribution', { ...ok, email: 'not an email' }), 400, 'email')
    await unchanged(t, () => post('contribution', { amount: '5', financial_type_id: 1 }), 400, 'email')
    await unchanged(t, () => post('contribution', { ...ok, first_name: 'x'.repeat(65) }), 400, 'first_name')
    await unchanged(t, () => post('contribution', { ...ok, is_test: 1 }), 400, 'is_test')
    await unchanged(t, () => post('membership', { membership_type_id: 99, email: 'v@example.org' }), 400, 'membership_type_id')
    await unchanged(t, () => post('membership', { membership_type_id: 8, email: 'v@example.org' }), 400, 'membership_type_id')
    await unchanged(t, () => post('membership', { membership_type_id: 9, email: 'v@example.org' }), 400, 'membership_type_id')
    await unchanged(t, () => post('membership', { membership_type_id: 1 }), 400, 'email')
    const arr = await unchanged(t, () => post('contribution', [1, 2]), 400)
    t.match(arr.json().message, /body/)
    // A logged-in user's refused input does not spend the assertion either.
    const a = assertion('contribution')
    await unchanged(t, () => post('contribution', { amount: 'x', financial_type_id: 1 }, a), 400, 'amount')
    t.equal((await post('contribution', { amount: '2', financial_type_id: 1 }, a)).statusCode, 200, 'the same assertion still works')
  })

  t.test('assertions: expired, replayed, forged, for another purpose or malformed change nothing', async (t) => {
    const body = { amount: '5', financial_type_id: 1 }
    const used = assertion('contribution')
    t.equal((await post('contribution', body, used)).statusCode, 200)
    const replay = await unchanged(t, () => post('contribution', body, used), 401)
    t.match(replay.json().message, /already used/)
    const iat = Math.floor(Date.now() / 1000) - 200
    const sign = createSigner({ key: SECRET, algorithm: 'HS256' })
    const expired = sign({ iss: SITE, aud: 'civicrm-bridge', iat, exp: iat + 60, jti: 'expired-1', act: 'contribution', sub: '42', email: 'ann@example.org' })
    t.match((await unchanged(t, () => post('contribution', body, expired), 401)).json().message, /expired/)
    await unchanged(t, () => post('contribution', body, assertion('contribution', ann, { ttlS: 300 })), 401)
    await unchanged(t, () => post('contribution', body, signAssertion('another-secret-0123456789abcdef-0123456789', SITE, ann, 'contribution')), 401)
    t.match((await unchanged(t, () => post('contribution', body, assertion('membership')), 401)).json().message, /not contribution/)
    await unchanged(t, () => post('contribution', body, undefined, { authorization: 'Basic abc' }), 401)
    t.match((await unchanged(t, () => post('profile', { gid: 1, fields: {} }), 401)).json().message, /missing/)
    const noSub = sign({ iss: SITE, aud: 'civicrm-bridge', iat: iat + 200, exp: iat + 250, jti: 'nosub-1', act: 'membership', email: 'ann@example.org' })
    await unchanged(t, () => post('membership', { membership_type_id: 1 }, noSub), 401)
  })

  t.test('a user who cannot be linked gets 409 and the assertion is not spent', async (t) => {
    await sendEvent(app, { user: { id: 60, email: 'held@example.org' } })
    // User 61's Joomla email is held as uf_name by user 60: the core refuses to link.
    const a = assertion('contribution', { id: 61, username: 'x', email: 'held@example.org', name: 'X' })
    const r = await unchanged(t, () => post('contribution', { amount: 3, financial_type_id: 1 }, a), 409)
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
    await t.rejects(service.contribute({ kind: 'session', ufId: 999, contactId: 1 }, parseContribution({ amount: 1, financial_type_id: 1 }, false)), AssertionError)
    await t.rejects(service.signUp({ kind: 'session', ufId: 999, contactId: 1 }, parseMembership({ membership_type_id: 3 }, false)), /session has ended/)
    t.equal(await snapshot(db), before)
  })

  t.test('a CiviCRM without the membership status New is an error, and nothing is written', async (t) => {
    await db.sql.query("UPDATE civicrm_membership_status SET name = 'Nouveau' WHERE id = 1")
    t.teardown(() => db.sql.query("UPDATE civicrm_membership_status SET name = 'New' WHERE id = 1"))
    await unchanged(t, () => post('membership', { membership_type_id: 1, email: 'x@example.org' }), 500)
  })
})
