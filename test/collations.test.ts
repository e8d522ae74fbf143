// The bridge on the databases real sites run: a legacy CiviCRM still in utf8 (utf8mb3_unicode_ci)
// and a Joomla users table in a collation other than CiviCRM's, both in a database created with
// the server's default collation (as every test database is). Each: a registration, a login,
// an email change, a delete, a sync and a profile save; look-alike emails (accents, full-width
// forms, ligatures) are never taken for a contact's; jti values compare exactly.
import t from 'tap'
import { testDatabase, buildTestApp, insertContact, sendEvent, SECRET, SITE, SERVER_URL, type TestDb } from './helper.js'
import { insertJoomlaUsers, syncService } from './sync-helper.js'
import { signAssertion } from '../server/protocol/sign.js'
import { CookieJar } from './cookie-jar.js'
import { createFixtureDatabase, dropDatabase, type FixtureOptions } from '../server/dev/fixture.js'

const cases: Record<string, { opts: FixtureOptions, civicrm: string }> = {
  'a legacy CiviCRM in utf8mb3_unicode_ci': {
    opts: { civicrmCollation: { charset: 'utf8mb3', collation: 'utf8mb3_unicode_ci' } },
    civicrm: 'utf8mb3_unicode_ci',
  },
  'Joomla\'s users table in utf8mb3_general_ci, CiviCRM in utf8mb4_unicode_ci': {
    opts: { joomlaCollation: { charset: 'utf8mb3', collation: 'utf8mb3_general_ci' } },
    civicrm: 'utf8mb4_unicode_ci',
  },
  'Joomla\'s users table in utf8mb4_general_ci, CiviCRM in utf8mb3_unicode_ci': {
    opts: { joomlaCollation: { charset: 'utf8mb4', collation: 'utf8mb4_general_ci' }, civicrmCollation: { charset: 'utf8mb3', collation: 'utf8mb3_unicode_ci' } },
    civicrm: 'utf8mb3_unicode_ci',
  },
}

t.test('the fixture refuses a collation name that is not one', async (t) => {
  t.teardown(() => dropDatabase(SERVER_URL, 'cbt12_never'))
  await t.rejects(createFixtureDatabase(SERVER_URL, 'cbt12_never', { civicrmCollation: { charset: 'utf8mb4', collation: 'x; DROP' } }), /bad collation/)
})

// uf_name lowercased: whether it keeps the case as typed is not what these tests are about.
const linkOf = async (db: TestDb, ufId: number) => db.rows<{ uf_name: string, contact_id: number }>('SELECT LOWER(uf_name) AS uf_name, contact_id FROM civicrm_uf_match WHERE uf_id = ?', [ufId])
const emailsOf = async (db: TestDb, contactId: number) => (await db.rows<{ email: string }>('SELECT email FROM civicrm_email WHERE contact_id = ? ORDER BY id', [contactId])).map((r) => r.email)

for (const [name, { opts, civicrm }] of Object.entries(cases)) {
  t.test(name, async (t) => {
    const db = await testDatabase(t, opts)
    const [dbDefault] = await db.rows<{ coll: string }>('SELECT DEFAULT_COLLATION_NAME AS coll FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()')
    t.not(dbDefault.coll, civicrm, 'the database default is not CiviCRM\'s collation')
    const bridgeColls = await db.rows<{ coll: string }>(`SELECT DISTINCT COLLATION_NAME AS coll FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('civibridge_wanted_email', 'civibridge_audit', 'civibridge_sync_skip') AND COLLATION_NAME IS NOT NULL`)
    t.same(bridgeColls, [{ coll: civicrm }], 'the bridge\'s tables took CiviCRM\'s collation')
    const app = await buildTestApp(t, db)
    t.same((await app.inject('/ready')).json(), { ready: true })

    const ann = await insertContact(db, { first: 'Ann', last: 'Lee', emails: [{ email: 'ann@example.org', primary: true }] })
    // Contacts whose emails are look-alikes of the users' under CiviCRM's collation (an accent,
    // full-width letters, a ligature): equal for utf8mb*_unicode_ci, different emails all the same.
    const lookAlikes = [
      await insertContact(db, { first: 'Vicky', last: 'Accent', emails: [{ email: 'vicky.p@gmäil.com', primary: true }] }),
      await insertContact(db, { first: 'Vicky', last: 'Wide', emails: [{ email: 'vicky.p@ｇｍａｉｌ.com', primary: true }] }),
      await insertContact(db, { first: 'Sam', last: 'Ligature', emails: [{ email: 'straße@example.org', primary: true }] }),
    ]
    const [collated] = await db.rows<{ n: number }>("SELECT COUNT(*) AS n FROM civicrm_email WHERE email IN ('vicky.p@gmail.com', 'strasse@example.org')")
    t.equal(Number(collated.n), 3, 'the collation takes all three for the users\' emails')

    t.test('a registration links the contact by its email, trimmed and case-insensitively', async (t) => {
      const r = await sendEvent(app, { user: { id: 42, email: ' Ann@Example.org ', name: 'Ann Lee' }, isNew: true })
      t.same(r.json, { action: 'linked-existing', contactId: ann, reason: null })
      t.same(await linkOf(db, 42), [{ uf_name: 'ann@example.org', contact_id: ann }])
    })

    t.test('look-alike emails (an accent, full-width letters, a ligature) are other emails: the users get contacts of their own', async (t) => {
      for (const [id, email] of [[60, 'Vicky.P@gmail.com'], [61, 'strasse@example.org']] as const) {
        const r = await sendEvent(app, { user: { id, email, name: 'Real Person' }, isNew: true })
        t.equal(r.status, 200, email)
        t.equal(r.json.action, 'created-contact', email)
        t.notOk(lookAlikes.includes(r.json.contactId), `${email} is not given a look-alike's contact`)
        t.same(await emailsOf(db, r.json.contactId), [email.toLowerCase()], 'the new contact has the email')
      }
      t.same(await db.rows(`SELECT uf_id FROM civicrm_uf_match WHERE contact_id IN (${lookAlikes.join(', ')})`), [], 'the look-alikes\' contacts stay unlinked')
      t.same(await emailsOf(db, lookAlikes[0]), ['vicky.p@gmäil.com'], 'and their emails unchanged')
    })

    t.test('a login of a linked user is already linked', async (t) => {
      const r = await sendEvent(app, { event: 'onUserLogin', user: { id: 42, email: 'ann@example.org' } })
      t.same(r.json, { action: 'already-linked', contactId: ann, reason: null })
    })

    t.test('an email change follows to uf_name and the primary email', async (t) => {
      const r = await sendEvent(app, { user: { id: 42, email: 'ann.lee@example.org', name: 'Ann Lee' } })
      t.same(r.json, { action: 'already-linked', contactId: ann, reason: 'email-updated' })
      t.same(await linkOf(db, 42), [{ uf_name: 'ann.lee@example.org', contact_id: ann }])
      t.same(await emailsOf(db, ann), ['ann.lee@example.org'])
    })

    t.test('a delete removes the link only, and records it', async (t) => {
      const r = await sendEvent(app, { event: 'onUserAfterDelete', user: { id: 61, email: 'strasse@example.org' } })
      t.equal(r.json.action, 'unlinked')
      t.same(await linkOf(db, 61), [])
      t.equal((await db.rows('SELECT uf_id FROM civibridge_user_tombstone WHERE uf_id = 61')).length, 1)
    })

    t.test('jti values compare exactly: two jtis differing in case are two events', async (t) => {
      const a = await sendEvent(app, { user: { id: 42, email: 'ann.case@example.org' } }, { jti: 'CaseJti-x' })
      const b = await sendEvent(app, { user: { id: 42, email: 'ann.lee@example.org' } }, { jti: 'casejti-x' })
      t.same([a.json.reason, b.json.reason], ['email-updated', 'email-updated'], 'the second is not taken for a replay of the first')
      t.same(await linkOf(db, 42), [{ uf_name: 'ann.lee@example.org', contact_id: ann }])
      t.same((await db.rows<{ jti: string }>("SELECT jti FROM civibridge_event WHERE jti IN ('CaseJti-x', 'casejti-x') ORDER BY jti")).map((r) => r.jti), ['CaseJti-x', 'casejti-x'])
    })

    t.test('the sync (dry run, then for real) reads Joomla\'s users in their collation and matches exactly', async (t) => {
      const bob = await insertContact(db, { first: 'Bob', last: 'Berg', emails: [{ email: 'bob@example.org', primary: true }] })
      const vickyR = await insertContact(db, { first: 'Vicky', last: 'R', emails: [{ email: 'vicky.r@gmäil.com', primary: true }] })
      const wendy = await insertContact(db, { first: 'Wendy', last: 'Wide', emails: [{ email: 'ｗｅｎｄｙ@example.org', primary: true }] })
      await insertJoomlaUsers(db, [
        { id: 42, name: 'Ann Lee', email: 'ann.lee@example.org' },
        { id: 70, name: 'Bob Berg', email: 'Bob@Example.org' },
        { id: 71, name: 'Vicky R', email: 'vicky.r@gmail.com' },
        { id: 72, name: 'Wendy W', email: 'wendy@example.org' },
      ])
      const { service } = syncService(t, db)
      const dry = await service.run({ dryRun: true })
      t.equal(dry.status, 'done')
      t.same(await linkOf(db, 70), [], 'the dry run wrote nothing')
      const run = await service.run({})
      t.match(run.message, /Checked 4 user records\. Found 2 matching contact records\. Created 2 new contact records\./)
      t.same(await linkOf(db, 70), [{ uf_name: 'bob@example.org', contact_id: bob }])
      for (const [ufId, email, lookAlike] of [[71, 'vicky.r@gmail.com', vickyR], [72, 'wendy@example.org', wendy]] as const) {
        const [link] = await linkOf(db, ufId)
        t.not(link.contact_id, lookAlike, `${email} got a contact of its own, not its look-alike's`)
        t.same(await emailsOf(db, link.contact_id), [email])
      }
      t.same(await db.rows('SELECT uf_id FROM civicrm_uf_match WHERE contact_id IN (?, ?)', [vickyR, wendy]), [])
    })

    t.test('a profile save through "Edit my details" updates the linked contact', async (t) => {
      const b = new CookieJar(app)
      const user = { id: 42, username: 'ann', email: 'ann.lee@example.org', name: 'Ann Lee' }
      const res = await b.arrive(`/civicrm/profile/edit?gid=1&assertion=${signAssertion(SECRET, SITE, user, 'profile')}`)
      t.equal(res.statusCode, 303)
      const saved = await b.submit('/civicrm/profile/edit?gid=1', { first_name: 'Anna', last_name: 'Lée', email: 'anna.lee@example.org' })
      t.equal(saved.statusCode, 200)
      t.match(await db.rows('SELECT first_name, last_name FROM civicrm_contact WHERE id = ?', [ann]), [{ first_name: 'Anna', last_name: 'Lée' }])
      t.same(await emailsOf(db, ann), ['anna.lee@example.org'])
    })
  })
}
