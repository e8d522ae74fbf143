// The linking engine on real CiviCRM tables: match order, what is never matched, creation,
// email sync, unlinking, audit, rollback and races inside one process.
import t, { type Test } from 'tap'
import { Database, runBatch } from '../server/data/db.js'
import { SqlLinkStore, insertContacts, readEventContext, readEventContexts } from '../server/data/link-store.js'
import { defaultSiteSettings, newContact } from '../server/domain/contact.js'
import { linkUser, unlinkUser, lockKeys, type JoomlaUser, type LinkTrigger } from '../server/domain/link-user.js'
import { testDatabase, insertContact, roundTripsOf, type TestDb } from './helper.js'
import { insertJoomlaUsers, syncService } from './sync-helper.js'
import { BufferedEventLog } from '../server/data/event-log.js'
import { EventService } from '../server/services/event-service.js'

const user = (id: number, email: string, name = 'Ann Lee', block = false): JoomlaUser => ({ id, username: `u${id}`, email, name, block })

async function setup (t: Test) {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 8 })
  t.teardown(() => database.close())
  const site = await database.siteSettings()
  const link = (u: JoomlaUser, trigger: LinkTrigger = 'save', occurredAt?: Date) =>
    database.unit((unit) => linkUser(new SqlLinkStore(unit, 1, site), u, trigger, { occurredAt }))
  const unlink = (id: number, occurredAt?: Date) => database.unit((unit) => unlinkUser(new SqlLinkStore(unit, 1, site), id, { occurredAt }))
  return { db, database, site, link, unlink }
}

const count = async (db: TestDb, table: string) => Number((await db.rows<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))[0].n)

t.test('a new user with an unknown email gets a new Individual, its primary Home email, a log row and a link', async (t) => {
  const { db, link } = await setup(t)
  const before = new Date(Date.now() - 1000)
  const r = await link(user(7, '  Jan.Berg@Example.ORG ', 'Jan van der Berg'))
  t.equal(r.action, 'created-contact')
  const [c] = await db.rows<Record<string, unknown>>('SELECT * FROM civicrm_contact WHERE id = ?', [r.contactId])
  t.match(c, { contact_type: 'Individual', first_name: 'Jan', middle_name: 'van der', last_name: 'Berg', display_name: 'Jan Berg', sort_name: 'Berg, Jan', is_deleted: 0 })
  t.match(c.hash, /^[0-9a-f]{32}$/)
  t.ok(c.created_date, 'the created_date trigger ran')
  t.same(await db.rows('SELECT email, is_primary, location_type_id FROM civicrm_email WHERE contact_id = ?', [r.contactId]), [{ email: 'jan.berg@example.org', is_primary: 1, location_type_id: 1 }])
  const logs = await db.rows<Record<string, unknown>>('SELECT * FROM civicrm_log WHERE entity_id = ?', [r.contactId])
  t.equal(logs.length, 1)
  t.match(logs[0], { entity_table: 'civicrm_contact', data: `civicrm_contact,${r.contactId}`, modified_id: r.contactId })
  t.ok((logs[0].modified_date as Date) >= before)
  t.same(await db.rows('SELECT domain_id, uf_id, uf_name, contact_id FROM civicrm_uf_match'), [{ domain_id: 1, uf_id: 7, uf_name: 'Jan.Berg@Example.ORG', contact_id: r.contactId }], 'uf_name keeps the email as typed (trimmed)')
})

t.test('a new user\'s unit takes three round trips: the lock rows with the reads under them, the contact, the rest with the link and the COMMIT', async (t) => {
  const { db, site } = await setup(t)
  const database = new Database(db.url, { poolSize: 1 })
  t.teardown(() => database.close())
  const sent = roundTripsOf(database)
  // As the event service does: the user's state read before the unit serves its first look.
  const known = await readEventContext(database.prepared, 1, 7, '')
  const before = sent.length
  const r = await database.unit((unit) => linkUser(new SqlLinkStore(unit, 1, site, undefined, known), user(7, 'jan@example.org'), 'save'))
  t.equal(r.action, 'created-contact')
  t.same(sent.slice(before), [
    'BEGIN; INSERT civibridge_lock; SELECT civicrm_uf_match; SELECT (',
    'INSERT civicrm_contact',
    'INSERT civicrm_email; INSERT civicrm_log; INSERT civicrm_uf_match; INSERT civibridge_audit; COMMIT',
  ])
  t.same(await db.rows('SELECT uf_id, contact_id FROM civicrm_uf_match'), [{ uf_id: 7, contact_id: r.contactId }])
  t.same(await db.rows('SELECT contact_id, email FROM civicrm_email WHERE contact_id = ?', [r.contactId]), [{ contact_id: r.contactId, email: 'jan@example.org' }])
})

t.test('an existing Individual is matched by any email row, case-insensitively and trimmed', async (t) => {
  const { db, link } = await setup(t)
  const id = await insertContact(db, { first: 'Ann', emails: [{ email: 'other@example.org', primary: true }, { email: ' ANN@example.org', location: 2 }] })
  const r = await link(user(1, 'ann@EXAMPLE.org'))
  t.same(r, { action: 'linked-existing', contactId: id, reason: null })
  t.equal(await count(db, 'civicrm_contact'), 2, 'no contact created (1 is the domain organisation)')
})

t.test('a primary email row wins over a lower contact id with a non-primary row', async (t) => {
  const { db, link } = await setup(t)
  await insertContact(db, { first: 'Old', emails: [{ email: 'ann@example.org', primary: false }] })
  const primary = await insertContact(db, { first: 'New', emails: [{ email: 'ann@example.org', primary: true }] })
  t.equal((await link(user(1, 'ann@example.org'))).contactId, primary)
})

t.test('between equal rows the lowest contact id wins, every time', async (t) => {
  const { db, link } = await setup(t)
  const first = await insertContact(db, { first: 'A', emails: [{ email: 'ann@example.org', primary: true }] })
  await insertContact(db, { first: 'B', emails: [{ email: 'ann@example.org', primary: true }] })
  t.equal((await link(user(1, 'ann@example.org'))).contactId, first)
})

t.test('a trashed contact is never matched', async (t) => {
  const { db, link } = await setup(t)
  const trashed = await insertContact(db, { first: 'Ann', deleted: true, emails: [{ email: 'ann@example.org', primary: true }] })
  const r = await link(user(1, 'ann@example.org'))
  t.equal(r.action, 'created-contact')
  t.not(r.contactId, trashed)
})

t.test('an Organization or Household with the user\'s email is never matched', async (t) => {
  const { db, link } = await setup(t)
  const org = await insertContact(db, { type: 'Organization', first: 'ACME', emails: [{ email: 'ann@example.org', primary: true }] })
  const house = await insertContact(db, { type: 'Household', emails: [{ email: 'ann@example.org', primary: true }] })
  const r = await link(user(1, 'ann@example.org'))
  t.equal(r.action, 'created-contact')
  t.notOk([org, house].includes(r.contactId!))
})

t.test('a candidate linked to another user is passed over for the next free one', async (t) => {
  const { db, link } = await setup(t)
  const taken = await insertContact(db, { first: 'A', emails: [{ email: 'shared@example.org', primary: true }] })
  const free = await insertContact(db, { first: 'B', emails: [{ email: 'shared@example.org', primary: true }] })
  await db.sql.query("INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 99, 'someone@example.org', ?)", [taken])
  t.same(await link(user(1, 'shared@example.org')), { action: 'linked-existing', contactId: free, reason: null })
})

t.test('when every candidate is linked to someone else, a contact is created', async (t) => {
  const { db, link } = await setup(t)
  const taken = await insertContact(db, { first: 'A', emails: [{ email: 'shared@example.org', primary: true }] })
  await db.sql.query("INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 99, 'someone@example.org', ?)", [taken])
  const r = await link(user(1, 'shared@example.org'))
  t.equal(r.action, 'created-contact')
  t.not(r.contactId, taken)
})

t.test('a link in another domain does not take a candidate', async (t) => {
  const { db, link } = await setup(t)
  await db.sql.query("INSERT INTO civicrm_domain (id, name) VALUES (2, 'Second')")
  const c = await insertContact(db, { first: 'A', emails: [{ email: 'ann@example.org', primary: true }] })
  await db.sql.query("INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (2, 99, 'ann@example.org', ?)", [c])
  t.equal((await link(user(1, 'ann@example.org'))).contactId, c)
})

t.test('an email already held as uf_name by another user is not taken over', async (t) => {
  const { db, link } = await setup(t)
  const c = await insertContact(db, { first: 'A', emails: [{ email: 'a@example.org', primary: true }] })
  await db.sql.query("INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 99, 'ann@example.org', ?)", [c])
  t.same(await link(user(1, 'Ann@example.org')), { action: 'skipped', contactId: null, reason: 'email-linked-to-user:99' })
  t.equal(await count(db, 'civicrm_uf_match'), 1)
})

t.test('a linked user is already-linked, and nothing is written but the audit row', async (t) => {
  const { db, link } = await setup(t)
  const first = await link(user(1, 'ann@example.org'))
  const again = await link(user(1, 'ANN@example.org '), 'login')
  t.same(again, { action: 'already-linked', contactId: first.contactId, reason: null })
  t.equal(await count(db, 'civicrm_contact'), 2)
  t.equal(await count(db, 'civicrm_uf_match'), 1)
  t.same(await db.rows('SELECT `trigger`, action FROM civibridge_audit ORDER BY id'), [{ trigger: 'save', action: 'created-contact' }, { trigger: 'login', action: 'already-linked' }])
})

t.test('an email change updates uf_name and the contact\'s primary email', async (t) => {
  const { db, link } = await setup(t)
  const c = await insertContact(db, { first: 'Ann', emails: [{ email: 'old@example.org', primary: true }, { email: 'work@example.org', location: 2 }] })
  await link(user(1, 'old@example.org'))
  const r = await link(user(1, 'New@Example.org'))
  t.same(r, { action: 'already-linked', contactId: c, reason: 'email-updated' })
  t.same(await db.rows('SELECT uf_name FROM civicrm_uf_match WHERE uf_id = 1'), [{ uf_name: 'New@Example.org' }])
  const emails = await db.rows<{ id: number, email: string, is_primary: number }>('SELECT id, email, is_primary FROM civicrm_email WHERE contact_id = ? ORDER BY id', [c])
  t.same(emails.map((e) => [e.email, e.is_primary]), [['new@example.org', 1], ['work@example.org', 0]], 'the email row lowercased, as CiviCRM stores emails')
  t.same(await db.rows('SELECT entity_table, entity_id, data, modified_id FROM civicrm_log'), [{ entity_table: 'civicrm_contact', entity_id: c, data: `civicrm_email,${emails[0].id}`, modified_id: c }],
    'a civicrm_log row civicrm_email,<id> by the contact, as UFMatch::updateContactEmail writes')
})

t.test('syncCMSEmail off: an email change updates uf_name only; the contact\'s email stays and no log row is written', async (t) => {
  const { db, database } = await setup(t)
  await db.sql.query("INSERT INTO civicrm_setting (name, value, domain_id, is_domain) VALUES ('syncCMSEmail', 'b:0;', 1, 1)")
  const fresh = new Database(db.url, { poolSize: 1 })
  t.teardown(() => fresh.close())
  const site = await fresh.siteSettings()
  t.equal(site.syncCmsEmail, false)
  const c = await insertContact(db, { first: 'Ann', emails: [{ email: 'old@example.org', primary: true }] })
  const link = (u: JoomlaUser) => database.unit((unit) => linkUser(new SqlLinkStore(unit, 1, site), u, 'save'))
  await link(user(1, 'old@example.org'))
  t.same(await link(user(1, 'New@Example.org')), { action: 'already-linked', contactId: c, reason: 'email-updated' })
  t.same(await db.rows('SELECT uf_name FROM civicrm_uf_match WHERE uf_id = 1'), [{ uf_name: 'New@Example.org' }])
  t.same(await db.rows('SELECT email FROM civicrm_email WHERE contact_id = ?', [c]), [{ email: 'old@example.org' }])
  t.equal(await count(db, 'civicrm_log'), 0)
})

t.test('an email change on a contact without a primary email adds one', async (t) => {
  const { db, link } = await setup(t)
  const c = await insertContact(db, { first: 'Ann', emails: [] })
  await db.sql.query("INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 1, 'old@example.org', ?)", [c])
  await link(user(1, 'new@example.org'))
  t.same(await db.rows('SELECT email, is_primary FROM civicrm_email WHERE contact_id = ?', [c]), [{ email: 'new@example.org', is_primary: 1 }])
})

t.test('an email change to an email another user holds keeps the link and says why', async (t) => {
  const { db, link } = await setup(t)
  await link(user(1, 'one@example.org'))
  await link(user(2, 'two@example.org'))
  const r = await link(user(1, 'two@example.org'))
  t.equal(r.action, 'already-linked')
  t.equal(r.reason, 'email-linked-to-user:2')
  t.same(await db.rows('SELECT uf_id, uf_name FROM civicrm_uf_match ORDER BY uf_id'), [{ uf_id: 1, uf_name: 'one@example.org' }, { uf_id: 2, uf_name: 'two@example.org' }])
})

t.test('a linked user whose email became invalid stays linked and nothing changes', async (t) => {
  const { db, link } = await setup(t)
  const first = await link(user(1, 'ann@example.org'))
  t.same(await link(user(1, '')), { action: 'already-linked', contactId: first.contactId, reason: null })
  t.same(await db.rows('SELECT uf_name FROM civicrm_uf_match'), [{ uf_name: 'ann@example.org' }])
})

t.test('a user with a missing or invalid email is skipped and no contact is made', async (t) => {
  const { db, link } = await setup(t)
  t.same(await link(user(1, '')), { action: 'skipped', contactId: null, reason: 'missing-email' })
  t.same(await link(user(2, 'nope')), { action: 'skipped', contactId: null, reason: 'invalid-email' })
  t.equal(await count(db, 'civicrm_contact'), 1)
  t.equal(await count(db, 'civicrm_uf_match'), 0)
  t.equal(await count(db, 'civibridge_audit'), 2, 'skips are audited too')
})

t.test('a blocked user is linked on save but not on login', async (t) => {
  const { db, link } = await setup(t)
  t.same(await link(user(1, 'b@example.org', 'B', true), 'login'), { action: 'skipped', contactId: null, reason: 'user-blocked' })
  t.equal(await count(db, 'civicrm_uf_match'), 0)
  t.equal((await link(user(1, 'b@example.org', 'B', true), 'save')).action, 'created-contact')
})

t.test('a trashed linked contact stays linked: no fresh duplicate', async (t) => {
  const { db, link } = await setup(t)
  const first = await link(user(1, 'ann@example.org'))
  await db.sql.query('UPDATE civicrm_contact SET is_deleted = 1 WHERE id = ?', [first.contactId])
  t.same(await link(user(1, 'ann@example.org'), 'login'), { action: 'already-linked', contactId: first.contactId, reason: null })
  t.equal(await count(db, 'civicrm_contact'), 2)
})

t.test('unlinking deletes the uf_match row only; the contact and its history stay', async (t) => {
  const { db, link, unlink } = await setup(t)
  const first = await link(user(1, 'ann@example.org'))
  t.same(await unlink(1), { action: 'unlinked', contactId: first.contactId, reason: null })
  t.equal(await count(db, 'civicrm_uf_match'), 0)
  t.equal(await count(db, 'civicrm_contact'), 2)
  t.equal(await count(db, 'civicrm_email'), 1)
  t.equal(await count(db, 'civicrm_log'), 1)
  t.same(await unlink(1), { action: 'unlinked', contactId: null, reason: 'not-linked' })
})

t.test('a save that happened before a delete never relinks; a later one does', async (t) => {
  const { db, link, unlink } = await setup(t)
  const t0 = new Date('2026-01-01T10:00:00Z')
  await link(user(1, 'ann@example.org'), 'save', t0)
  await unlink(1, new Date('2026-01-01T11:00:00Z'))
  t.same(await link(user(1, 'ann@example.org'), 'save', new Date('2026-01-01T10:30:00Z')), { action: 'skipped', contactId: null, reason: 'user-deleted' })
  t.equal(await count(db, 'civicrm_uf_match'), 0)
  t.equal((await link(user(1, 'ann@example.org'), 'save', new Date('2026-01-01T12:00:00Z'))).action, 'linked-existing', 'the same contact comes back')
})

t.test('an older delete arriving late does not move the tombstone back', async (t) => {
  const { db, unlink } = await setup(t)
  await unlink(5, new Date('2026-01-01T11:00:00Z'))
  await unlink(5, new Date('2026-01-01T09:00:00Z'))
  const [row] = await db.rows<{ deleted_at: Date }>('SELECT deleted_at FROM civibridge_user_tombstone')
  t.equal(row.deleted_at.toISOString(), '2026-01-01T11:00:00.000Z')
})

t.test('no orphan contact when the link insert fails (it goes with the COMMIT): the whole creation rolls back', async (t) => {
  const { db, database, site } = await setup(t)
  await db.sql.query("CREATE TRIGGER refuse_link BEFORE INSERT ON civicrm_uf_match FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'link refused'")
  await t.rejects(database.unit((unit) => linkUser(new SqlLinkStore(unit, 1, site), user(1, 'ann@example.org'), 'save')), /link refused/)
  t.equal(await count(db, 'civicrm_contact'), 1, 'only the domain organisation')
  t.equal(await count(db, 'civicrm_email'), 0)
  t.equal(await count(db, 'civicrm_log'), 0)
  t.equal(await count(db, 'civicrm_uf_match'), 0)
  t.equal(await count(db, 'civibridge_audit'), 0)
})

t.test('no orphan contact when the log insert fails (a CiviCRM trigger or constraint refuses it)', async (t) => {
  const { db, database, site } = await setup(t)
  await db.sql.query("CREATE TRIGGER refuse_log BEFORE INSERT ON civicrm_log FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'log refused'")
  await t.rejects(database.unit((unit) => linkUser(new SqlLinkStore(unit, 1, site), user(1, 'ann@example.org'), 'save')), /log refused/)
  t.equal(await count(db, 'civicrm_contact'), 1)
  t.equal(await count(db, 'civicrm_email'), 0)
})

t.test('contacts created in one statement get their own emails and log rows, whatever the auto-increment mode', async (t) => {
  const { db, database } = await setup(t)
  const people = ['Ann Lee', 'Bob Berg', 'Cleo Diaz'].map((name, i) => newContact(name, `p${i}@example.org`, defaultSiteSettings()))
  // As the sync writes them: the contacts, then their emails and log rows in a batch.
  const created = async (unit: Parameters<typeof insertContacts>[0]) => {
    const { ids, rows } = await insertContacts(unit, people, 'test', new Date(), defaultSiteSettings())
    await runBatch(unit, rows)
    return ids
  }
  const byId = async (ids: number[]) => db.rows<{ id: number, display_name: string, email: string, data: string }>(
    `SELECT c.id, c.display_name, e.email, l.data FROM civicrm_contact c JOIN civicrm_email e ON e.contact_id = c.id AND e.is_primary = 1
      JOIN civicrm_log l ON l.entity_id = c.id AND l.entity_table = 'civicrm_contact' WHERE c.id IN (?) ORDER BY FIELD(c.id, ?)`, [ids, ids])
  const expectRows = async (ids: number[], label: string) => t.same((await byId(ids)).map((r) => [r.display_name, r.email, r.data]),
    people.map((p, i) => [p.displayName, p.email, `civicrm_contact,${ids[i]}`]), label)

  // Consecutive ids (InnoDB lock modes 0 and 1), stepping by auto_increment_increment as on a multi-primary setup.
  const stepped = await database.unit(async (unit) => {
    await unit.query('SET SESSION auto_increment_increment = 3', [])
    try { return await created(unit) } finally { await unit.query('SET SESSION auto_increment_increment = 1', []) }
  })
  t.same(stepped.map((id) => id - stepped[0]), [0, 3, 6], 'ids step by auto_increment_increment')
  await expectRows(stepped, 'each contact has its own email and log row')

  // Interleaved ids (lock mode 2, as Galera requires): this server's mode is read-only, so the
  // unit answers the bridge's question as a Galera node would; the ids are read back by hash.
  const interleaved = await database.unit((unit) => created({
    query: async (text, values) => {
      const results = await unit.query(text, values)
      // The contact insert asks the lock mode in its own query: its answer is replaced.
      return /innodb_autoinc_lock_mode/.test(text) ? [(results as unknown[])[0], [{ lockMode: 2, step: 1 }]] : results
    },
  }))
  await expectRows(interleaved, 'read back by hash: the same rows')
  t.equal(new Set([...stepped, ...interleaved]).size, 6)
})

t.test('contacts created in one statement keep every column as given, NULLs and non-ASCII text included; a value too long for its column writes nothing', async (t) => {
  const { db, database } = await setup(t)
  const site = defaultSiteSettings()
  const plain = newContact('Zoë Ångström-Łukasz', 'zoe@example.org', site)
  // A site without greetings or language: NULL ids and displays.
  const nulls = ['middleName', 'lastName', 'preferredLanguage', 'communicationStyleId', 'emailGreetingId', 'emailGreetingDisplay',
    'postalGreetingId', 'postalGreetingDisplay', 'addresseeId', 'addresseeDisplay'].map((k) => [k, null])
  const bare = { ...newContact('Solo', 'solo@example.org', site), ...Object.fromEntries(nulls) }
  const ids = await database.unit(async (unit) => (await insertContacts(unit, [plain, bare], 'Joomla user sync', new Date(), site)).ids)
  // Each column and the NewContact field it is written from.
  const fields = [['first_name', 'firstName'], ['middle_name', 'middleName'], ['last_name', 'lastName'], ['display_name', 'displayName'],
    ['sort_name', 'sortName'], ['preferred_language', 'preferredLanguage'], ['communication_style_id', 'communicationStyleId'],
    ['email_greeting_id', 'emailGreetingId'], ['email_greeting_display', 'emailGreetingDisplay'], ['postal_greeting_id', 'postalGreetingId'],
    ['postal_greeting_display', 'postalGreetingDisplay'], ['addressee_id', 'addresseeId'], ['addressee_display', 'addresseeDisplay']]
  const rows = await db.rows<Record<string, unknown>>(
    `SELECT contact_type, source, ${fields.map(([c]) => c).join(', ')} FROM civicrm_contact WHERE id IN (?) ORDER BY id`, [ids])
  const expected = [plain, bare].map((c) => Object.fromEntries([['contact_type', 'Individual'], ['source', 'Joomla user sync'],
    ...fields.map(([column, field]) => [column, (c as unknown as Record<string, unknown>)[field]])]))
  t.same(rows, expected)
  t.equal(rows[0].last_name, 'Ångström-Łukasz')
  t.equal(rows[1].email_greeting_id, null)

  const before = await count(db, 'civicrm_contact')
  const tooLong = { ...plain, firstName: 'x'.repeat(65) }
  await t.rejects(database.unit((unit) => insertContacts(unit, [plain, tooLong], 'test', new Date(), site)), { code: 'ER_DATA_TOO_LONG' },
    'refused, not cut to the column')
  t.equal(await count(db, 'civicrm_contact'), before, 'nothing written')
})

t.test('twenty concurrent links of one new email for one user end with one contact and one link', async (t) => {
  const { db, link } = await setup(t)
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => link(user(1, 'race@example.org'), i % 2 ? 'login' : 'save')))
  t.equal(results.filter((r) => r.action === 'created-contact').length, 1)
  t.equal(new Set(results.map((r) => r.contactId)).size, 1)
  t.equal(await count(db, 'civicrm_contact'), 2)
  t.equal(await count(db, 'civicrm_uf_match'), 1)
})

t.test('two users racing for one existing contact: one gets it, the other a new contact', async (t) => {
  const { db, link } = await setup(t)
  const c = await insertContact(db, { first: 'A', emails: [{ email: 'shared@example.org', primary: true }, { email: 'alt@example.org' }] })
  const [a, b] = await Promise.all([link(user(1, 'shared@example.org')), link(user(2, 'alt@example.org'))])
  t.same([a.contactId, b.contactId].filter((id) => id === c).length, 1, 'exactly one of them got the contact')
  t.equal(await count(db, 'civicrm_uf_match'), 2)
  const [dup] = await db.rows<{ n: number }>('SELECT COUNT(*) AS n FROM civicrm_uf_match GROUP BY contact_id HAVING n > 1')
  t.equal(dup, undefined, 'no contact is linked twice')
})

// ---- email changes that wait for another user's email ---------------------------------------

const linkRows = (db: TestDb) => db.rows('SELECT uf_id, uf_name FROM civicrm_uf_match ORDER BY uf_id')
const primaryOf = async (db: TestDb, contactId: number | null) => (await db.rows<{ email: string }>('SELECT email FROM civicrm_email WHERE contact_id = ? AND is_primary = 1', [contactId]))[0]?.email
const waiting = (db: TestDb) => db.rows('SELECT uf_id, email FROM civibridge_wanted_email ORDER BY uf_id')

t.test('a change to an email another user holds waits, and is applied in the unit where that user changes away from it', async (t) => {
  const { db, database, link, site } = await setup(t)
  const a = await link(user(1, 'a@example.org'))
  const b = await link(user(2, 'b@example.org'))
  t.same(await link(user(1, 'B@example.org')), { action: 'already-linked', contactId: a.contactId, reason: 'email-linked-to-user:2' })
  t.same(await waiting(db), [{ uf_id: 1, email: 'B@example.org' }], 'the change waits, for the email as typed')
  t.same(await linkRows(db), [{ uf_id: 1, uf_name: 'a@example.org' }, { uf_id: 2, uf_name: 'b@example.org' }])
  // B's change frees b@: A takes it in B's unit of work (rolled back with it, committed with it).
  let handedInside: unknown
  const r = await database.unit(async (unit) => {
    const res = await linkUser(new SqlLinkStore(unit, 1, site), user(2, 'c@example.org'), 'save')
    handedInside = await unit.query('SELECT uf_name FROM civicrm_uf_match WHERE uf_id = 1', [])
    return res
  })
  t.same(r, { action: 'already-linked', contactId: b.contactId, reason: 'email-updated' })
  t.same(handedInside, [{ uf_name: 'B@example.org' }], 'in the same unit of work')
  t.same(await linkRows(db), [{ uf_id: 1, uf_name: 'B@example.org' }, { uf_id: 2, uf_name: 'c@example.org' }])
  t.equal(await primaryOf(db, a.contactId), 'b@example.org', 'A\'s contact\'s primary email follows')
  t.equal(await primaryOf(db, b.contactId), 'c@example.org')
  t.same(await waiting(db), [], 'no change waits any more')
  t.same(await db.rows('SELECT uf_id, `trigger`, action, reason FROM civibridge_audit WHERE uf_id = 1 ORDER BY id DESC LIMIT 1'), [{ uf_id: 1, trigger: 'save', action: 'already-linked', reason: 'email-freed-by-user:2' }])
  t.same(await link(user(1, 'b@example.org'), 'login'), { action: 'already-linked', contactId: a.contactId, reason: null }, 'A\'s next login finds nothing to do')
})

t.test('a waiting change is applied when the holder is deleted', async (t) => {
  const { db, link, unlink } = await setup(t)
  const a = await link(user(1, 'a@example.org'))
  const b = await link(user(2, 'b@example.org'))
  await link(user(1, 'b@example.org'))
  t.same(await unlink(2), { action: 'unlinked', contactId: b.contactId, reason: null })
  t.same(await linkRows(db), [{ uf_id: 1, uf_name: 'b@example.org' }])
  t.equal(await primaryOf(db, a.contactId), 'b@example.org')
  t.same(await db.rows('SELECT `trigger`, reason FROM civibridge_audit WHERE uf_id = 1 ORDER BY id DESC LIMIT 1'), [{ trigger: 'delete', reason: 'email-freed-by-user:2' }])
  t.same(await waiting(db), [])
})

t.test('the longest waiting user takes a freed email, the others keep waiting; a chain of waits unwinds in one unit', async (t) => {
  const { db, link } = await setup(t)
  for (const [id, email] of [[1, 'a@x.org'], [2, 'b@x.org'], [3, 'c@x.org'], [4, 'd@x.org']] as const) await link(user(id, email))
  await link(user(1, 'b@x.org')) // 1 waits for 2's b@
  await new Promise((resolve) => setTimeout(resolve, 5))
  await link(user(4, 'b@x.org')) // 4 waits for b@ too, later
  await link(user(2, 'c@x.org')) // 2 waits for 3's c@
  t.same(await waiting(db), [{ uf_id: 1, email: 'b@x.org' }, { uf_id: 2, email: 'c@x.org' }, { uf_id: 4, email: 'b@x.org' }])
  // A repeated event of a waiting user keeps their place in the queue.
  await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal((await link(user(1, 'b@x.org'), 'login')).reason, 'email-linked-to-user:2')
  await link(user(3, 'e@x.org')) // 3 frees c@ → 2 takes it, frees b@ → 1 takes it, frees a@ (nobody waits)
  t.same(await linkRows(db), [{ uf_id: 1, uf_name: 'b@x.org' }, { uf_id: 2, uf_name: 'c@x.org' }, { uf_id: 3, uf_name: 'e@x.org' }, { uf_id: 4, uf_name: 'd@x.org' }])
  t.same(await waiting(db), [{ uf_id: 4, email: 'b@x.org' }], 'the later waiter still waits, now for user 1')
  t.same(await db.rows("SELECT uf_id, reason FROM civibridge_audit WHERE reason LIKE 'email-freed%' ORDER BY id"), [{ uf_id: 2, reason: 'email-freed-by-user:3' }, { uf_id: 1, reason: 'email-freed-by-user:2' }])
  t.equal((await link(user(4, 'b@x.org'), 'login')).reason, 'email-linked-to-user:1')
})

t.test('a waiting change is withdrawn by the user\'s next change: back to the email they hold, an unusable one, or a free one', async (t) => {
  const { db, link } = await setup(t)
  await link(user(1, 'a@x.org'))
  await link(user(2, 'b@x.org'))
  await link(user(1, 'b@x.org'))
  t.same((await link(user(1, 'A@x.org'), 'login')).reason, null, 'back to the email held: nothing waits')
  t.same(await waiting(db), [])
  await link(user(1, 'b@x.org'))
  t.same((await link(user(1, 'not an email'), 'login')).reason, null, 'an unusable email: nothing waits')
  t.same(await waiting(db), [])
  await link(user(1, 'b@x.org'))
  t.same((await link(user(1, 'f@x.org'))).reason, 'email-updated', 'a free email is taken at once')
  t.same(await waiting(db), [])
  await link(user(2, 'g@x.org'))
  t.same(await linkRows(db), [{ uf_id: 1, uf_name: 'f@x.org' }, { uf_id: 2, uf_name: 'g@x.org' }], 'b@ freed later goes to nobody')
})

t.test('waiters that changed their mind under the hand-over\'s locks are passed over; the releaser never takes its own email', async (t) => {
  const { db, database, link, site } = await setup(t)
  await link(user(1, 'a@x.org'))
  await link(user(2, 'b@x.org'))
  await link(user(3, 'c@x.org'))
  await link(user(1, 'b@x.org')) // 1 waits for b@
  // As the hand-over of b@ reads the queue, it also lists 2 itself (the releaser), 8 (no longer
  // linked) and 3 (now waiting for another email): as if their events had just changed them.
  await db.sql.query("INSERT INTO civibridge_wanted_email (domain_id, uf_id, email, created_at) VALUES (1, 3, 'z@x.org', NOW(3))")
  class StaleQueue extends SqlLinkStore {
    override async usersWaitingFor (email: string): Promise<number[]> {
      return email === 'b@x.org' ? [2, 8, 3, ...await super.usersWaitingFor(email)] : super.usersWaitingFor(email)
    }
  }
  await database.unit((unit) => linkUser(new StaleQueue(unit, 1, site), user(2, 'd@x.org'), 'save'))
  t.same(await linkRows(db), [{ uf_id: 1, uf_name: 'b@x.org' }, { uf_id: 2, uf_name: 'd@x.org' }, { uf_id: 3, uf_name: 'c@x.org' }])
  t.same(await waiting(db), [{ uf_id: 3, email: 'z@x.org' }])
})

t.test('the email a user holds is locked before it is freed, even when it changed between the first read and the locks', async (t) => {
  const { db, database, link, site } = await setup(t)
  await link(user(1, 'a@x.org'))
  await link(user(2, 'b@x.org'))
  await link(user(1, 'b@x.org'))
  const locks: string[][] = []
  class MovedBeforeTheLock extends SqlLinkStore {
    private reads = 0
    override async lockAndRead (keys: string[], ufId: number, email?: string) { locks.push(keys); return super.lockAndRead(keys, ufId, email) }
    // The first read (before the locks) still shows the email user 2 held a moment earlier.
    override async userState (ufId: number) {
      const state = await super.userState(ufId)
      return ufId === 2 && this.reads++ === 0 ? { ...state, link: { ...state.link!, ufName: 'old@x.org' } } : state
    }
  }
  await database.unit((unit) => linkUser(new MovedBeforeTheLock(unit, 1, site), user(2, 'c@x.org'), 'save'))
  t.same(locks.slice(0, 2), [[lockKeys.user(2), lockKeys.email('c@x.org'), lockKeys.email('old@x.org')], [lockKeys.email('b@x.org')]], 'b@ locked as soon as it is known')
  t.same(await linkRows(db), [{ uf_id: 1, uf_name: 'b@x.org' }, { uf_id: 2, uf_name: 'c@x.org' }])
})

t.test('a user seen linked before the locks and unlinked under them is matched all the same: the email\'s candidates are read then', async (t) => {
  const { db, database, site } = await setup(t)
  const ann = await insertContact(db, { first: 'Ann', emails: [{ email: 'ann@x.org', primary: true }] })
  // The first read (before the locks) still shows a link a delete removed a moment later.
  class UnlinkedBeforeTheLock extends SqlLinkStore {
    override async userState () { return { link: { id: 99, ufName: 'old@x.org', contactId: ann }, deletedAt: null, wantedEmail: null } }
  }
  const r = await database.unit((unit) => linkUser(new UnlinkedBeforeTheLock(unit, 1, site), user(3, 'ann@x.org'), 'save'))
  t.same(r, { action: 'linked-existing', contactId: ann, reason: null })
  t.same(await linkRows(db), [{ uf_id: 3, uf_name: 'ann@x.org' }])
  t.equal(await count(db, 'civicrm_contact'), 2, 'no contact created (1 is the domain organisation)')
})

t.test('a link without a uf_name changes email, or is deleted, and frees nothing', async (t) => {
  const { db, link, unlink } = await setup(t)
  const c = await insertContact(db, { first: 'N', emails: [] })
  await db.sql.query('INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 1, NULL, ?)', [c])
  t.equal((await link(user(1, 'n@x.org'))).reason, 'email-updated')
  await db.sql.query('UPDATE civicrm_uf_match SET uf_name = NULL')
  t.equal((await unlink(1)).action, 'unlinked')
  t.same(await linkRows(db), [])
})

t.test('the sync keeps the waits as linkUser does: a blocked change waits for the user\'s current email, every other user of the chunk waits for nothing', async (t) => {
  const { db, link } = await setup(t)
  await link(user(1, 'a@x.org'))
  await link(user(2, 'b@x.org'))
  await link(user(3, 'c@x.org'))
  await link(user(3, 'b@x.org')) // 3 waits for b@ (an event) ...
  await insertJoomlaUsers(db, [{ id: 1, email: 'b@x.org' }, { id: 2, email: 'b@x.org' }, { id: 3, email: 'c@x.org' }]) // ... but is back to c@ in Joomla
  const { service } = syncService(t, db)
  await service.run()
  t.same(await waiting(db), [{ uf_id: 1, email: 'b@x.org' }], '1 waits for b@ (held by 2); 3 no longer waits')
  await link(user(2, 'y@x.org'))
  t.same(await linkRows(db), [{ uf_id: 1, uf_name: 'b@x.org' }, { uf_id: 2, uf_name: 'y@x.org' }, { uf_id: 3, uf_name: 'c@x.org' }], 'the wait the sync recorded is handed over by the next release')
})

t.test('the event contexts of many users read in one statement are each user\'s own, in the order asked, as read one by one', async (t) => {
  const { db, database, link, unlink } = await setup(t)
  const a = await link(user(1, 'a@x.org'))
  await link(user(2, 'b@x.org'))
  await link(user(3, 'c@x.org'))
  await link(user(3, 'b@x.org')) // 3 waits for b@
  await unlink(4, new Date('2030-01-01T00:00:00Z')) // 4 deleted: a tombstone
  const other = await insertContact(db, { first: 'Dup', emails: [{ email: 'dup@x.org', primary: true }] })
  await db.sql.query("INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 1, 'dup@x.org', ?)", [other]) // a second link row: the first one counts
  await db.sql.query("INSERT INTO civibridge_event (jti, site, body_sha256, event, uf_id, occurred_at, received_at, result) VALUES ('seen', 's', REPEAT('a', 64), 'onUserLogin', 2, NOW(3), NOW(3), '{\"action\":\"already-linked\",\"contactId\":5,\"reason\":null}')")
  // A jti is its site's: 'seen' of another site is not this delivery's.
  const keys = [{ ufId: 3, jti: 'x', site: 's' }, { ufId: 2, jti: 'seen', site: 's' }, { ufId: 99, jti: '', site: 's' }, { ufId: 4, jti: 'seen', site: 's' }, { ufId: 1, jti: 'y', site: 's' }, { ufId: 2, jti: 'z', site: 's' }, { ufId: 2, jti: 'seen', site: 'other' }]
  const together = await readEventContexts(database.prepared, 1, keys)
  const oneByOne = await Promise.all(keys.map((k) => readEventContext(database.prepared, 1, k.ufId, k.jti, k.site)))
  t.same(together, oneByOne)
  t.match(together, [
    { link: { ufName: 'c@x.org' }, wantedEmail: 'b@x.org', deletedAt: null, prior: undefined },
    { link: { ufName: 'b@x.org' }, wantedEmail: null, prior: { bodySha256: 'a'.repeat(64), result: { action: 'already-linked', contactId: 5 } } },
    { link: null, wantedEmail: null, deletedAt: null, prior: undefined },
    { link: null, deletedAt: new Date('2030-01-01T00:00:00Z'), prior: { bodySha256: 'a'.repeat(64) } },
    { link: { ufName: 'a@x.org', contactId: a.contactId }, prior: undefined },
    { link: { ufName: 'b@x.org' }, prior: undefined },
    { link: { ufName: 'b@x.org' }, prior: undefined },
  ])
})

t.test('a uf_name taken by someone else (CiviCRM itself) between the locks and the COMMIT re-runs the unit: never answered as a jti delivered twice, no orphan contact', async (t) => {
  const { db } = await setup(t)
  const other = await insertContact(db, { first: 'Other', emails: [] })
  const database = new Database(db.url, { poolSize: 4 })
  t.teardown(() => database.close())
  const log = new BufferedEventLog(database, { flushMs: 10, maxBatch: 500, onError: (err) => { throw err } })
  t.teardown(() => log.close())
  const events = new EventService(database, log)
  // Right after the first unit's lock rows and reads, another writer links the email to user 99.
  let raced = false
  database.pool.pool.on('connection', (conn) => {
    type Cmd = { sql?: string, onResult?: (err: unknown, ...rest: unknown[]) => void }
    const core = conn as unknown as { addCommand (cmd: Cmd): unknown }
    const add = core.addCommand.bind(core)
    core.addCommand = (cmd) => {
      const reply = cmd.onResult
      if (!raced && reply && cmd.sql?.includes('civibridge_lock')) {
        raced = true
        cmd.onResult = (err, ...rest) => {
          db.sql.query("INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 99, 'ann@x.org', ?)", [other])
            .then(() => reply(err, ...rest), (e: unknown) => reply(e))
        }
      }
      return add(cmd)
    }
  })
  const body = { event: 'onUserAfterSave', user: { id: 5, username: 'ann', email: 'ann@x.org', name: 'Ann Lee', block: 0 }, isNew: true, success: true, occurredAt: new Date().toISOString() }
  const outcome = await events.apply('site-a', 1, 'jti-race', 'a'.repeat(64), body)
  t.ok(raced, 'the other writer came in between')
  t.same(outcome, { kind: 'applied', result: { action: 'skipped', contactId: null, reason: 'email-linked-to-user:99' }, replay: false })
  t.equal(await count(db, 'civicrm_contact'), 2, 'the first attempt\'s contact was rolled back (1 is the domain organisation, 2 the other\'s)')
  t.same(await linkRows(db), [{ uf_id: 99, uf_name: 'ann@x.org' }])
  t.same(await db.rows('SELECT jti, uf_id FROM civibridge_event'), [{ jti: 'jti-race', uf_id: 5 }])
})
