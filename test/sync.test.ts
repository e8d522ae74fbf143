// Synchronize Users to Contacts: the seed's example and message, a second run, dry run,
// agreement with the one-user rules, skips, prefixes, Joomla 3 dates, one sync at a time,
// kill and resume, and live events during a sync.
import { defaultSiteSettings } from '../server/domain/contact.js'
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { Database, MAX_ATTEMPTS, runBatch, type Unit } from '../server/data/db.js'
import { SqlLinkStore } from '../server/data/link-store.js'
import { linkUser, lockKeys } from '../server/domain/link-user.js'
import { decideChunk, syncMessage, dryRunMessage, zeroCounts, collationKey } from '../server/domain/sync.js'
import { JoomlaUsers, SyncClaim, SyncJobs, chunkCheckpoint, readChunkFacts } from '../server/data/sync-store.js'
import { SYNC_CHUNK_ATTEMPTS, SyncBusyError, SyncService, chunkLockKeys } from '../server/services/sync-service.js'
import { HEAP_LIMIT_BYTES, heapKeeper, parseSyncArgs, progressLine, runSyncCommand, SyncUsageError } from '../server/sync-cli.js'
import { runCli } from '../server/cli.js'
import { createFixtureDatabase, dropDatabase } from '../server/dev/fixture.js'
import { testDatabase, testConfig, insertContact, snapshot, buildTestApp, sendEvent, childEnv, SERVER_URL, SECRET, ADMIN_TOKEN, type TestDb } from './helper.js'
import { GatedUsers, insertJoomlaUsers, seedExample, syncService, SEED_MESSAGE } from './sync-helper.js'
import { holdLocks, holdSyncClaim, eventually } from './helper.js'

const BIN = fileURLToPath(new URL('../bin/civicrm-bridge.js', import.meta.url))
const env = (url: string, extra: Record<string, string> = {}) => ({ CIVICRM_DB_URL: url, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'warn', ...extra })
const count = async (db: TestDb, q: string) => Number((await db.rows<{ n: number }>(q))[0].n)

t.test('the seed\'s example: 5 users, 3 matching contacts, 2 created; the exact message; a change log row per new contact', async (t) => {
  const db = await testDatabase(t)
  const { ann, bob, cy } = await seedExample(db)
  const { service } = syncService(t, db)
  const before = new Date(Date.now() - 1000)
  const r = await service.run({ batchSize: 2 })
  t.equal(r.message, SEED_MESSAGE)
  t.match(r, { status: 'done', dryRun: false, resumed: false, counts: { checked: 5, matched: 3, created: 2, skipped: 0 }, skippedUsers: [] })
  const links = await db.rows<{ uf_id: number, uf_name: string, contact_id: number }>('SELECT uf_id, uf_name, contact_id FROM civicrm_uf_match ORDER BY uf_id')
  t.same(links.slice(0, 3), [{ uf_id: 42, uf_name: 'ANN@example.org', contact_id: ann }, { uf_id: 43, uf_name: 'bob@example.org', contact_id: bob }, { uf_id: 44, uf_name: 'cy@example.org', contact_id: cy }])
  t.same(links.slice(3).map((l) => l.uf_name), ['Dana@Example.org', 'eve@example.org'], 'uf_name keeps the email as typed')
  const created = await db.rows<Record<string, unknown>>(`SELECT c.id, c.contact_type, c.first_name, c.middle_name, c.last_name, c.display_name, c.sort_name, c.preferred_language, c.communication_style_id,
      c.email_greeting_id, c.email_greeting_display, c.postal_greeting_id, c.postal_greeting_display, c.addressee_id, c.addressee_display, e.email, e.is_primary, e.location_type_id
    FROM civicrm_contact c JOIN civicrm_email e ON e.contact_id = c.id WHERE c.id IN (?, ?) ORDER BY FIELD(c.id, ?, ?)`,
  // Dana's first: the two are in different chunks, which may insert in either order (two chunks in flight).
  [links[3].contact_id, links[4].contact_id, links[3].contact_id, links[4].contact_id])
  const defaults = { contact_type: 'Individual', preferred_language: 'en_US', communication_style_id: 1, email_greeting_id: 1, postal_greeting_id: 1, addressee_id: 1, is_primary: 1, location_type_id: 1 }
  t.match(created, [
    {
      ...defaults,
      first_name: 'Dana',
      middle_name: 'van der',
      last_name: 'Berg',
      display_name: 'Dana Berg',
      sort_name: 'Berg, Dana',
      email: 'dana@example.org',
      email_greeting_display: 'Dear Dana',
      postal_greeting_display: 'Dear Dana',
      addressee_display: 'Dana van der Berg'
    },
    {
      ...defaults,
      first_name: null,
      last_name: null,
      display_name: 'eve@example.org',
      sort_name: 'eve@example.org',
      email: 'eve@example.org',
      email_greeting_display: 'Dear',
      postal_greeting_display: 'Dear',
      addressee_display: ''
    },
  ], 'each new contact as Contact::create makes it: language, communication style, greetings for Individuals, the default location type')
  const logs = await db.rows<{ entity_id: number, modified_date: Date }>("SELECT entity_id, modified_date FROM civicrm_log WHERE entity_table = 'civicrm_contact' ORDER BY entity_id")
  t.same(logs.map((l) => l.entity_id), [links[3].contact_id, links[4].contact_id].sort((x, y) => x - y), 'one civicrm_log row per new contact, none for matched ones')
  t.ok(logs.every((l) => l.modified_date >= new Date(Math.floor(before.getTime() / 1000) * 1000)))
  t.same(await db.rows('SELECT uf_id, `trigger`, action FROM civibridge_audit ORDER BY uf_id'), [
    { uf_id: 42, trigger: 'sync', action: 'linked-existing' }, { uf_id: 43, trigger: 'sync', action: 'linked-existing' }, { uf_id: 44, trigger: 'sync', action: 'linked-existing' },
    { uf_id: 45, trigger: 'sync', action: 'created-contact' }, { uf_id: 46, trigger: 'sync', action: 'created-contact' },
  ], 'the same audit trail as one-user linking')
  t.match(await db.rows('SELECT status, checked, matched, created, skipped, last_user_id, message FROM civibridge_sync_job'), [{ status: 'done', checked: 5, matched: 3, created: 2, skipped: 0, last_user_id: 46, message: SEED_MESSAGE }])

  const state = await snapshot(db)
  const again = await service.run()
  t.equal(again.message, 'Synchronize Users to Contacts completed. Checked 5 user records. Found 5 matching contact records. Created 0 new contact records.')
  t.equal(await snapshot(db), state, 'a second run writes nothing to CiviCRM')
})

t.test('the message: counts, singular forms, skip sentences', async (t) => {
  t.equal(syncMessage({ ...zeroCounts(), checked: 1, matched: 1, created: 1 }), 'Synchronize Users to Contacts completed. Checked one user record. Found one matching contact record. Created one new contact record.')
  t.equal(syncMessage(zeroCounts()), 'Synchronize Users to Contacts completed. Checked 0 user records. Created 0 new contact records.')
  t.equal(syncMessage({ checked: 9, matched: 3, created: 2, skipped: 4, skippedInvalid: 2, skippedTaken: 2 }),
    'Synchronize Users to Contacts completed. Checked 9 user records. Found 3 matching contact records. Created 2 new contact records. Skipped 2 user records without a valid email. Skipped 2 user records whose email belongs to another user.')
  t.equal(syncMessage({ checked: 2, matched: 0, created: 0, skipped: 2, skippedInvalid: 1, skippedTaken: 1 }),
    'Synchronize Users to Contacts completed. Checked 2 user records. Created 0 new contact records. Skipped one user record without a valid email. Skipped one user record whose email belongs to another user.')
  t.equal(dryRunMessage({ ...zeroCounts(), checked: 1, created: 1 }), 'Dry run of Synchronize Users to Contacts: nothing was written. Checked one user record. Would create one new contact record.')
  t.equal(dryRunMessage({ ...zeroCounts(), checked: 7, matched: 1, created: 4, skippedInvalid: 1, skippedTaken: 1 }), 'Dry run of Synchronize Users to Contacts: nothing was written. Checked 7 user records. Would link one user to a matching contact record. Would create 4 new contact records. Would skip one user record without a valid email. Would skip one user record whose email belongs to another user.')
  t.equal(dryRunMessage({ ...zeroCounts(), checked: 4, matched: 0, created: 0, skippedInvalid: 2, skippedTaken: 2 }), 'Dry run of Synchronize Users to Contacts: nothing was written. Checked 4 user records. Would create 0 new contact records. Would skip 2 user records without a valid email. Would skip 2 user records whose email belongs to another user.')
  t.equal(collationKey(' José@Example.ORG'), 'jose@example.org')
})

t.test('empty, invalid, too long and duplicate emails are skipped with a reason; blocked users are linked', async (t) => {
  const db = await testDatabase(t)
  const shared = await insertContact(db, { first: 'Sam', emails: [{ email: 'shared@example.org', primary: true }] })
  await insertJoomlaUsers(db, [
    { id: 1, email: '' },
    { id: 2, email: 'not-an-email' },
    { id: 3, email: 'two@@example.org' },
    { id: 4, email: 'shared@example.org' },
    { id: 5, email: 'SHARED@example.org' }, // same chunk: the first (lowest id) gets the contact
    { id: 6, email: 'new@example.org', block: 1 },
    { id: 7, email: 'new@example.org' },
    { id: 8, email: 'shared@example.org' }, // a later chunk: the email is already user 4's
  ])
  const { service } = syncService(t, db)
  const dry = await service.run({ dryRun: true, batchSize: 7 })
  const r = await service.run({ batchSize: 7 })
  t.equal(r.message, 'Synchronize Users to Contacts completed. Checked 8 user records. Found one matching contact record. Created one new contact record. Skipped 3 user records without a valid email. Skipped 3 user records whose email belongs to another user.')
  t.same(r.skippedUsers, [
    { id: 1, reason: 'missing-email' }, { id: 2, reason: 'invalid-email' }, { id: 3, reason: 'invalid-email' },
    { id: 5, reason: 'duplicate-email' }, { id: 7, reason: 'duplicate-email' }, { id: 8, reason: 'email-linked-to-user:4' },
  ])
  t.same(dry.counts, r.counts, 'the dry run counted the same')
  t.same(dry.skippedUsers, r.skippedUsers, 'and skipped the same users for the same reasons')
  t.same(await db.rows('SELECT uf_id, contact_id FROM civicrm_uf_match ORDER BY uf_id'), [{ uf_id: 4, contact_id: shared }, { uf_id: 6, contact_id: (await db.rows<{ id: number }>('SELECT MAX(id) AS id FROM civicrm_contact'))[0].id }], 'the blocked user 6 is linked')
})

t.test('dry run: the same counts as the run, nothing written, even across chunks', async (t) => {
  const db = await testDatabase(t)
  await seedExample(db)
  const two = await insertContact(db, { first: 'Two', emails: [{ email: 'two@example.org', primary: true }, { email: 'second@example.org' }] })
  await insertJoomlaUsers(db, [
    { id: 50, email: 'two@example.org' },
    { id: 51, email: 'second@example.org' }, // the contact is user 50's from the previous chunk: a new one is created
    { id: 52, email: 'dana@example.org' }, // user 45 claims it in an earlier chunk
  ])
  const { service } = syncService(t, db)
  const state = await snapshot(db)
  const jobs = await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job')
  const progress: number[] = []
  const dry = await service.run({ dryRun: true, batchSize: 1, onProgress: (p) => progress.push(p.done) })
  t.equal(await snapshot(db), state, 'nothing written')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job'), jobs, 'not even a job row')
  t.equal(dry.jobId, null)
  t.same(progress, [0, 1, 2, 3, 4, 5, 6, 7, 8, 8])
  t.match(dry.message, /^Dry run of Synchronize Users to Contacts: nothing was written\. Checked 8 user records\. Would link 4 users to matching contact records\. Would create 3 new contact records\. Would skip one user record whose email belongs to another user\.$/)
  const real = await service.run({ batchSize: 1 })
  t.same(real.counts, dry.counts)
  t.same(await db.rows('SELECT uf_id, contact_id FROM civicrm_uf_match WHERE uf_id IN (50, 51, 52) ORDER BY uf_id'), [{ uf_id: 50, contact_id: two }, { uf_id: 51, contact_id: (await db.rows<{ c: number }>('SELECT contact_id AS c FROM civicrm_uf_match WHERE uf_id = 51'))[0].c }])
  t.not((await db.rows<{ c: number }>('SELECT contact_id AS c FROM civicrm_uf_match WHERE uf_id = 51'))[0].c, two)
})

t.test('in bulk, the same decisions as linkUser one user at a time (random data): the same links and the same new contacts, as the site\'s settings make them', async (t) => {
  const names = ['Adams, Amy A', '"Alan Arkin"', 'Jan van der Berg', '', 'Seán O\'Brien', 'Cher']
  const emails = ['a@x.org', 'B@x.org', 'c@x.org', 'd@x.org', 'e@x.org', 'bad', '']
  const scenario = fc.record({
    contacts: fc.array(fc.record({
      type: fc.constantFrom('Individual', 'Individual', 'Individual', 'Organization'),
      deleted: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
      emails: fc.uniqueArray(fc.record({ email: fc.constantFrom(...emails.slice(0, 5)), primary: fc.boolean() }), { selector: (e) => e.email.toLowerCase(), maxLength: 3 }),
    }), { maxLength: 6 }),
    users: fc.array(fc.constantFrom(...emails, ' A@X.org', 'c@X.ORG '), { minLength: 1, maxLength: 10 }),
    batch: fc.integer({ min: 1, max: 4 }),
  })
  const samples = fc.sample(scenario, { numRuns: 12, seed: 20261125 })
  for (const [i, s] of samples.entries()) {
    const [a, b] = [await testDatabase(t), await testDatabase(t)]
    for (const db of [a, b]) {
      for (const c of s.contacts) await insertContact(db, { type: c.type, deleted: c.deleted, first: 'C', emails: c.emails })
      await insertJoomlaUsers(db, s.users.map((email, k) => ({ id: k + 1, email, name: names[k % names.length] })))
      await db.sql.query("INSERT INTO civicrm_setting (name, value, domain_id, is_domain) VALUES ('display_name_format', 's:60:\"{contact.first_name}{ }{contact.last_name}{ }{contact.email}\";', 1, 1), ('contact_default_language', 's:5:\"fr_FR\";', 1, 1)")
    }
    const { service } = syncService(t, a)
    const r = await service.run({ batchSize: s.batch })
    const database = new Database(b.url, { poolSize: 2 })
    const site = await database.siteSettings()
    const one = { matched: 0, created: 0, skipped: 0 }
    for (const [k, email] of s.users.entries()) {
      const res = await database.unit((unit) => linkUser(new SqlLinkStore(unit, 1, site), { id: k + 1, email, name: names[k % names.length], username: `u${k + 1}`, block: false }, 'sync'))
      if (res.action === 'skipped') one.skipped++
      else if (res.action === 'created-contact') one.created++
      else one.matched++
    }
    await database.close()
    t.same({ matched: r.counts.matched, created: r.counts.created, skipped: r.counts.skipped }, one, `sample ${i}: same counts`)
    // Two chunks are written at once: contacts they create may take their ids in either order.
    const existing = 1 + s.contacts.length
    const links = async (db: TestDb) => (await db.rows<{ uf_id: number, uf_name: string, contact_id: number }>('SELECT uf_id, uf_name, contact_id FROM civicrm_uf_match ORDER BY uf_id'))
      .map((l) => ({ ...l, contact_id: l.contact_id > existing ? 'created' : l.contact_id }))
    t.same(await links(a), await links(b), `sample ${i}: same links`)
    const created = 'SELECT COUNT(*) AS n FROM civicrm_contact c JOIN civicrm_uf_match m ON m.contact_id = c.id WHERE c.id > ?'
    t.same(await a.rows(created, [existing]), await b.rows(created, [existing]), `sample ${i}: each created contact linked once`)
    const contacts = `SELECT m.uf_id, c.first_name, c.middle_name, c.last_name, c.display_name, c.sort_name, c.preferred_language, c.communication_style_id,
        c.email_greeting_id, c.email_greeting_display, c.postal_greeting_display, c.addressee_id, c.addressee_display, e.email, e.location_type_id
      FROM civicrm_uf_match m JOIN civicrm_contact c ON c.id = m.contact_id AND c.id > ? JOIN civicrm_email e ON e.contact_id = c.id AND e.is_primary = 1 ORDER BY m.uf_id`
    const made = await a.rows<{ display_name: string, preferred_language: string }>(contacts, [existing])
    t.same(made, await b.rows(contacts, [existing]), `sample ${i}: the same new contacts`)
    t.ok(made.every((c) => c.preferred_language === 'fr_FR' && c.display_name.includes('@')), `sample ${i}: made by the site's settings`)
  }
})

t.test('a user already linked keeps the link; a changed email is synced as linkUser does', async (t) => {
  const db = await testDatabase(t)
  const c = await insertContact(db, { first: 'Old', emails: [{ email: 'old@example.org', primary: true }] })
  const other = await insertContact(db, { first: 'Other', emails: [{ email: 'other@example.org', primary: true }] })
  await db.sql.query('INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 1, ?, ?), (1, 2, ?, ?)', ['old@example.org', c, 'other@example.org', other])
  await insertJoomlaUsers(db, [{ id: 1, email: 'New@Example.org' }, { id: 2, email: 'new@example.org' }])
  const { service } = syncService(t, db)
  const r = await service.run()
  t.match(r.counts, { checked: 2, matched: 2, created: 0, skipped: 0 })
  t.same(await db.rows('SELECT uf_id, uf_name FROM civicrm_uf_match ORDER BY uf_id'), [{ uf_id: 1, uf_name: 'New@Example.org' }, { uf_id: 2, uf_name: 'other@example.org' }], 'user 2 cannot take user 1\'s new email')
  const [primary] = await db.rows<{ id: number, email: string }>('SELECT id, email FROM civicrm_email WHERE contact_id = ? AND is_primary = 1', [c])
  t.equal(primary.email, 'new@example.org', 'the email row lowercased, as CiviCRM stores emails')
  t.same(await db.rows('SELECT entity_table, entity_id, data, modified_id FROM civicrm_log'), [{ entity_table: 'civicrm_contact', entity_id: c, data: `civicrm_email,${primary.id}`, modified_id: c }], 'the change is in the Change Log, by the contact')
  // A linked contact without a primary email gets one.
  await db.sql.query('DELETE FROM civicrm_email WHERE contact_id = ?', [c])
  await db.sql.query('UPDATE jos_users SET email = ? WHERE id = 1', ['newer@example.org'])
  await service.run()
  t.same(await db.rows('SELECT email, is_primary FROM civicrm_email WHERE contact_id = ?', [c]), [{ email: 'newer@example.org', is_primary: 1 }])
  // A link whose contact is gone (contact_id NULL) still counts as linked.
  await db.sql.query('INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 3, ?, NULL)', ['x@example.org'])
  await insertJoomlaUsers(db, [{ id: 3, email: 'y@example.org' }])
  t.match((await service.run()).counts, { checked: 3, matched: 3 })
})

t.test('syncCMSEmail off: the sync changes uf_name only, as CiviCRM does; the contact\'s email and Change Log are left alone', async (t) => {
  const db = await testDatabase(t)
  await db.sql.query("INSERT INTO civicrm_setting (name, value, domain_id, is_domain) VALUES ('syncCMSEmail', 'i:0;', 1, 1)")
  const c = await insertContact(db, { first: 'Old', emails: [{ email: 'old@example.org', primary: true }] })
  await db.sql.query('INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 1, ?, ?)', ['old@example.org', c])
  await insertJoomlaUsers(db, [{ id: 1, email: 'New@Example.org' }])
  const { service } = syncService(t, db)
  t.match((await service.run()).counts, { checked: 1, matched: 1 })
  t.same(await db.rows('SELECT uf_name FROM civicrm_uf_match'), [{ uf_name: 'New@Example.org' }])
  t.same(await db.rows('SELECT email FROM civicrm_email WHERE contact_id = ?', [c]), [{ email: 'old@example.org' }])
  t.same(await db.rows('SELECT id FROM civicrm_log'), [])
})

t.test('decideChunk: the next free candidate when the first is taken, in and across chunks', async (t) => {
  const users = [{ id: 1, email: 'a@x.org', name: '', username: 'a', block: false }, { id: 2, email: 'a@x.org ', name: '', username: 'b', block: false }]
  const facts = { links: new Map(), candidates: new Map([['a@x.org', [{ contactId: 10, linkedUfId: 9 }, { contactId: 11, linkedUfId: null }]]]), ufNameHolders: new Map(), waiting: new Set<number>() }
  const { decisions } = decideChunk(users, facts, defaultSiteSettings())
  t.match(decisions, [{ kind: 'link-existing', ufId: 1, contactId: 11 }, { kind: 'skip', ufId: 2, reason: 'duplicate-email' }])
})

t.test('another table prefix, a Joomla database apart from CiviCRM\'s, and Joomla 3 zero dates', async (t) => {
  const db = await testDatabase(t, { joomlaPrefix: null })
  const joomlaName = `cbt_j${Date.now().toString(36)}`
  const joomlaUrl = await createFixtureDatabase(SERVER_URL, joomlaName, { civicrm: false, migrate: false, joomlaPrefix: 'j3x_' })
  t.teardown(() => dropDatabase(SERVER_URL, joomlaName))
  const mysql = (await import('mysql2/promise')).default
  const jconn = await mysql.createConnection({ uri: joomlaUrl })
  await jconn.query("SET SESSION sql_mode = ''")
  await jconn.query(`INSERT INTO j3x_users (id, name, username, email, password, params, registerDate, lastvisitDate, lastResetTime)
    VALUES (1, 'Zed Zero', 'zed', 'zed@example.org', '', '', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'),
           (2, 'Ann Lee', 'ann', 'ann@example.org', '', '', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00')`)
  await jconn.end()
  await insertContact(db, { first: 'Ann', last: 'Lee', emails: [{ email: 'ann@example.org', primary: true }] })
  const lines: string[] = []
  t.equal(await runCli(['sync'], env(db.url, { JOOMLA_DB_URL: joomlaUrl, JOOMLA_DB_PREFIX: 'j3x_' }), (l) => lines.push(l)), 0)
  t.same(lines, ['Synchronize Users to Contacts completed. Checked 2 user records. Found one matching contact record. Created one new contact record.'])
  // The same prefix in CiviCRM's own database.
  const other = await testDatabase(t, { joomlaPrefix: 'abc_' })
  await insertJoomlaUsers(other, [{ id: 5, email: 'solo@example.org' }], 'abc_')
  const solo: string[] = []
  t.equal(await runCli(['sync', '--batch-size=10'], env(other.url, { JOOMLA_DB_PREFIX: 'abc_' }), (l) => solo.push(l)), 0)
  t.same(solo, ['Synchronize Users to Contacts completed. Checked one user record. Created one new contact record.'])
  t.throws(() => new JoomlaUsers(other.sql, 'x`; DROP'), /bad Joomla table prefix/)
  t.equal(new JoomlaUsers(other.sql, 'abc_').tableName, 'abc_users')
})

t.test('CLI: --json, --dry-run, options, and the message as the last line', async (t) => {
  const db = await testDatabase(t)
  await seedExample(db)
  await insertJoomlaUsers(db, [{ id: 47, email: 'nope' }])
  const dry = spawnSync(process.execPath, [BIN, 'sync', '--dry-run', '--json'], { env: childEnv(env(db.url)), encoding: 'utf8', timeout: 60_000 })
  t.equal(dry.status, 0, dry.stderr)
  const dj = JSON.parse(dry.stdout)
  t.match(dj, { dryRun: true, jobId: null, counts: { checked: 6, matched: 3, created: 2, skipped: 1 }, skippedUsers: [{ id: 47, reason: 'invalid-email' }] })
  t.type(dj.durationMs, 'number')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_uf_match'), 0)
  const real = spawnSync(process.execPath, [BIN, 'sync', '--batch-size', '2'], { env: childEnv(env(db.url)), encoding: 'utf8', timeout: 60_000 })
  t.equal(real.status, 0, real.stderr)
  t.equal(real.stdout.trim().split('\n').at(-1), `${SEED_MESSAGE.replace('6', '6')} Skipped one user record without a valid email.`.replace('Checked 5', 'Checked 6'))
  const lines: string[] = []
  t.equal(await runCli(['sync', '--json'], env(db.url), (l) => lines.push(l)), 0)
  t.match(JSON.parse(lines[0]), { dryRun: false, status: 'done', counts: { checked: 6, matched: 5, created: 0, skipped: 1 }, skippedUsers: [{ id: 47, reason: 'invalid-email' }] })
  t.same(parseSyncArgs(['--batch-size', '7', '--dry-run']), { dryRun: true, json: false, batchSize: 7 })
  t.throws(() => parseSyncArgs(['--batch-size', '0']), SyncUsageError)
  t.throws(() => parseSyncArgs(['--batch-size']), SyncUsageError)
  t.throws(() => parseSyncArgs(['--batch-size=99999']), SyncUsageError)
  t.same(parseSyncArgs(['--batch-size=7', '--json']), { dryRun: false, json: true, batchSize: 7 }, '--flag=value as well as --flag value')
  t.throws(() => parseSyncArgs(['--fast']), /^sync: unknown option --fast; see civicrm-bridge sync --help$/)
  await t.rejects(runCli(['sync', '--fast'], env(db.url), () => {}), { name: 'UsageError', message: /unknown option --fast/ })
})

t.test('one sync at a time: a second start is refused with a clear message, by the service and the CLI', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, Array.from({ length: 300 }, (_, i) => ({ id: i + 1, email: `u${i + 1}@example.org` })))
  const { service } = syncService(t, db)
  const first = await service.start({ batchSize: 5 })
  const err = await service.start().catch((e: unknown) => e)
  t.type(err, SyncBusyError)
  t.match((err as Error).message, new RegExp(`^A synchronization is already running \\(job ${first.jobId}, started \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z\\)\\.$`))
  const cli = spawnSync(process.execPath, [BIN, 'sync'], { env: childEnv(env(db.url)), encoding: 'utf8', timeout: 60_000 })
  t.equal(cli.status, 1)
  t.match(cli.stderr, /^civicrm-bridge: A synchronization is already running \(job \d+, started /)
  const r = await first.done
  t.equal(r.counts.created, 300)
  t.equal(first.progress().status, 'done')
  // The claim free again, the next run starts a new job.
  t.equal((await service.run()).counts.matched, 300)
  // A claim held without a job row (another tool): still refused.
  const other = await holdSyncClaim(t, db.url)
  await t.rejects(service.start(), { name: 'SyncBusyError', message: 'A synchronization is already running.' })
  await other.release()
})

t.test('killed with SIGKILL mid-run, started again: finishes the job, no duplicate, the message counts the whole job', async (t) => {
  const db = await testDatabase(t)
  const existing = 1000
  for (let i = 0; i < existing; i += 250) {
    const rows = Array.from({ length: 250 }, (_, k) => ['Individual', `c${i + k}`, `c${i + k}`])
    await db.sql.query('INSERT INTO civicrm_contact (contact_type, display_name, sort_name) VALUES ?', [rows])
  }
  await db.sql.query("INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) SELECT id, 1, CONCAT('u', id - 1, '@example.org'), 1 FROM civicrm_contact WHERE contact_type = 'Individual'")
  const total = 4000
  await insertJoomlaUsers(db, Array.from({ length: total }, (_, i) => ({ id: i + 1, email: `U${i + 1}@example.org` })))
  const child = spawn(process.execPath, [BIN, 'sync', '--batch-size', '50'], { env: childEnv(env(db.url)), stdio: 'ignore' })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  const checkpoint = await eventually('the sync\'s first checkpoint', async () =>
    (await db.rows<{ last_user_id: number }>('SELECT last_user_id FROM civibridge_sync_job'))[0]?.last_user_id || false, { everyMs: 10 })
  child.kill('SIGKILL')
  await exited
  const [job] = await db.rows<{ id: number, status: string, last_user_id: number, checked: number }>('SELECT id, status, last_user_id, checked FROM civibridge_sync_job')
  t.ok(checkpoint > 0, 'killed after a checkpoint')
  t.equal(job.status, 'running', 'left unfinished')
  t.ok(job.last_user_id < total, `killed before the end (at user ${job.last_user_id})`)
  const chunks = await db.rows<{ first_user_id: number, last_user_id: number }>('SELECT first_user_id, last_user_id FROM civibridge_sync_chunk ORDER BY first_user_id')
  const inChunks = chunks.reduce((n, c) => n + c.last_user_id - c.first_user_id + 1, 0)
  t.equal(job.checked, inChunks, 'the counts are those of the committed chunks')
  t.ok(job.last_user_id <= job.checked, 'a resumed job starts reading at or before the committed chunks end')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_uf_match'), inChunks, 'every committed chunk is whole, nothing outside them')

  const lines: string[] = []
  t.equal(await runCli(['sync', '--batch-size', '300'], env(db.url), (l) => lines.push(l)), 0)
  t.same(lines, [`Resumed job ${job.id}.`, `Synchronize Users to Contacts completed. Checked ${total} user records. Found ${existing} matching contact records. Created ${total - existing} new contact records.`])
  t.same(await db.rows('SELECT COUNT(*) AS n, COUNT(DISTINCT uf_id) AS users, COUNT(DISTINCT contact_id) AS contacts FROM civicrm_uf_match'), [{ n: total, users: total, contacts: total }])
  t.equal(await count(db, "SELECT COUNT(*) AS n FROM civicrm_contact WHERE contact_type = 'Individual'"), total, 'no duplicate contact')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_log'), total - existing)
  t.match(await db.rows('SELECT id, status, checked FROM civibridge_sync_job'), [{ id: job.id, status: 'done', checked: total }])
})

t.test('live events during a sync: exactly one link per user, no duplicate contact', async (t) => {
  const db = await testDatabase(t)
  const n = 400
  const users = Array.from({ length: n }, (_, i) => ({ id: i + 1, email: `live${i + 1}@example.org`, name: `Live User${i + 1}` }))
  // Half of them have a contact to match.
  for (const u of users.filter((u) => u.id % 2 === 0)) await insertContact(db, { first: 'Had', emails: [{ email: u.email, primary: true }] })
  await insertJoomlaUsers(db, users)
  const app = await buildTestApp(t, db)
  const { service } = syncService(t, db)
  const sync = service.run({ batchSize: 20 })
  const statuses: number[] = []
  // Events for every user, from the last to the first, while the sync walks from the first.
  const events = [...users].reverse().map(async (u, i) => {
    const r = await sendEvent(app, { event: i % 2 ? 'onUserLogin' : 'onUserAfterSave', user: u, isNew: false })
    statuses.push(r.status)
  })
  const [result] = await Promise.all([sync, ...events])
  t.same([...new Set(statuses)], [200], 'every event answered 200')
  t.equal(result.counts.checked, n)
  t.equal(result.counts.skipped, 0)
  t.equal(result.counts.matched + result.counts.created, n)
  t.same(await db.rows('SELECT COUNT(*) AS n, COUNT(DISTINCT uf_id) AS users, COUNT(DISTINCT contact_id) AS contacts FROM civicrm_uf_match'), [{ n, users: n, contacts: n }])
  t.equal(await count(db, "SELECT COUNT(*) AS n FROM civicrm_contact WHERE contact_type = 'Individual'"), n, 'one contact per user: no duplicate')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_email'), n)
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_log'), n / 2, 'a log row per created contact')
})

t.test('a chunk locks the stripes of its users and emails; an interrupt between chunks keeps the job resumable', async (t) => {
  const db = await testDatabase(t)
  const { service } = syncService(t, db)
  t.same(chunkLockKeys([{ id: 1, email: 'A@x.org', name: '', username: '', block: false }, { id: 2, email: 'bad', name: '', username: '', block: false }]),
    [lockKeys.user(1), lockKeys.email('a@x.org'), lockKeys.user(2)], 'the user, and the email only when it can be linked')
  // Interrupted between chunks: the job stays resumable.
  await insertJoomlaUsers(db, Array.from({ length: 30 }, (_, i) => ({ id: i + 1, email: `i${i}@example.org` })))
  const abort = new AbortController()
  const r = await service.run({ batchSize: 10, signal: abort.signal, onProgress: (p) => { if (p.done >= 10) abort.abort() } })
  // Chunks are written two at a time: the run stops after the pair.
  t.match(r, { status: 'interrupted', counts: { checked: 20 }, message: 'Synchronization interrupted; run it again to resume.' })
  const dry = new AbortController()
  dry.abort()
  t.match(await service.run({ dryRun: true, signal: dry.signal }), { status: 'interrupted', counts: { checked: 0 } })
  const rest = await service.run({ batchSize: 10 })
  t.match(rest, { resumed: true, counts: { checked: 30, created: 30 } })
})

t.test('a failing chunk keeps the job resumable and records the error', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [{ id: 1, email: 'f@example.org' }])
  const { database } = syncService(t, db)
  const broken = new SyncService(database, new JoomlaUsers(database.pool, 'nosuch_'), 1)
  await t.rejects(broken.run(), /nosuch_users/)
  const failing = { count: async () => 1, after: async () => { throw new Error('boom') } } as unknown as JoomlaUsers
  const svc = new SyncService(database, failing, 1)
  const run = await svc.start()
  await t.rejects(run.done, /boom/)
  t.match(run.progress(), { status: 'failed', error: 'boom' })
  t.match(await db.rows('SELECT status, error FROM civibridge_sync_job'), [{ status: 'running', error: 'boom' }])
  const dry = await svc.start({ dryRun: true })
  await t.rejects(dry.done, /boom/)
  t.match((await new SyncService(database, new JoomlaUsers(database.pool, 'jos_'), 1).run()), { resumed: true, counts: { checked: 1, created: 1 } })
  t.match(await db.rows('SELECT status, error FROM civibridge_sync_job'), [{ status: 'done', error: null }], 'the resumed job ends done, without the old error')
})

t.test('users of one chunk never share a contact: a contact matched by one user\'s email is not matched again by its other email', async (t) => {
  const db = await testDatabase(t)
  const both = await insertContact(db, { first: 'Both', emails: [{ email: 'one@example.org', primary: true }, { email: 'two@example.org' }] })
  await insertJoomlaUsers(db, [{ id: 1, email: 'one@example.org' }, { id: 2, email: 'two@example.org' }])
  const { service } = syncService(t, db)
  const dry = await service.run({ dryRun: true })
  const r = await service.run()
  t.match(r.counts, { checked: 2, matched: 1, created: 1, skipped: 0 })
  t.same(dry.counts, r.counts, 'the dry run counted the same')
  const links = await db.rows<{ uf_id: number, contact_id: number }>('SELECT uf_id, contact_id FROM civicrm_uf_match ORDER BY uf_id')
  t.same(links[0], { uf_id: 1, contact_id: both }, 'the first user gets the contact')
  t.not(links[1].contact_id, both, 'the second gets a contact of its own')
  t.same(await db.rows('SELECT email, is_primary FROM civicrm_email WHERE contact_id = ?', [links[1].contact_id]), [{ email: 'two@example.org', is_primary: 1 }])
  // linkUser, one user at a time, decides the same.
  const facts = { links: new Map(), candidates: new Map([['one@example.org', [{ contactId: both, linkedUfId: null }]], ['two@example.org', [{ contactId: both, linkedUfId: null }]]]), ufNameHolders: new Map(), waiting: new Set<number>() }
  t.match(decideChunk([{ id: 1, email: 'one@example.org', name: '', username: 'a', block: false }, { id: 2, email: 'two@example.org', name: '', username: 'b', block: false }], facts, defaultSiteSettings()).decisions,
    [{ kind: 'link-existing', ufId: 1, contactId: both }, { kind: 'create', ufId: 2, email: 'two@example.org' }])
})

t.test('the latest job of the domain: none before the first run, then the last run\'s counts and message', async (t) => {
  const db = await testDatabase(t)
  const { service } = syncService(t, db)
  t.equal(await service.jobs.latest(), null, 'no job yet')
  await insertJoomlaUsers(db, [{ id: 1, email: 'a@example.org' }])
  const first = await service.run()
  await service.run({ dryRun: true })
  t.match(await service.jobs.latest(), { id: first.jobId, status: 'done', counts: { checked: 1, created: 1 }, message: first.message, finishedAt: Date }, 'a dry run leaves no job')
  const second = await service.run()
  t.not(second.jobId, first.jobId)
  t.match(await service.jobs.latest(), { id: second.jobId, counts: { checked: 1, matched: 1, created: 0 } })
  t.equal(await new SyncJobs(db.sql, 2).latest(), null, 'another domain\'s jobs are its own')
  t.equal(await new SyncJobs(db.sql, 2).get(second.jobId!), null)
  t.equal(await service.jobs.get(second.jobId! + 100), null, 'no such job')
})

t.test('a start that fails after taking the sync claim gives it back with its connection, and leaves no job', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [{ id: 1, email: 'a@example.org' }])
  const { service, database } = syncService(t, db)
  const broken = new SyncService(database, new JoomlaUsers(database.pool, 'nosuch_'), 1)
  await t.rejects(broken.start(), { code: 'ER_NO_SUCH_TABLE' })
  t.match(await db.rows("SELECT holder, holder_conn FROM civibridge_lock WHERE lock_key = 'sync'"), [{ holder: null, holder_conn: null }], 'the claim is free')
  t.equal(await service.syncClaimed(), false)
  t.same(await db.rows('SELECT id FROM civibridge_sync_job'), [])
  t.match(await service.run(), { status: 'done', counts: { checked: 1, created: 1 } })
})

t.test('a failure while taking the sync claim frees the connection and creates no job', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [{ id: 1, email: 'a@example.org' }])
  // The claim's table is gone: taking the claim itself fails.
  await db.sql.query('DROP TABLE civibridge_lock')
  const database = new Database(db.url, { poolSize: 1 })
  t.teardown(() => database.close())
  const service = new SyncService(database, new JoomlaUsers(database.pool, 'jos_'), 1)
  await t.rejects(service.start(), { code: 'ER_NO_SUCH_TABLE' })
  t.same(await db.rows('SELECT id FROM civibridge_sync_job'), [], 'no job')
  let timer: NodeJS.Timeout | undefined
  const answer = await Promise.race([database.ping(), new Promise((resolve) => { timer = setTimeout(() => resolve('pool exhausted'), 3000) })])
  clearTimeout(timer)
  t.equal(answer, true, 'the pool\'s only connection was given back')
})

t.test('users\' locks held past the database\'s lock timeout fail the chunk: nothing written, the job resumable with the error', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [{ id: 1, email: 'held@example.org' }, { id: 2, email: 'free@example.org' }])
  t.equal(new Database(db.url).lockTimeoutS, 10, 'events and syncs wait 10 s by default')
  const database = new Database(db.url, { poolSize: 4, lockTimeoutS: 1 })
  t.teardown(() => database.close())
  const service = new SyncService(database, new JoomlaUsers(database.pool, 'jos_'), 1)
  const holder = await holdLocks(t, db.url, [lockKeys.user(1)]) // a live event for user 1, in progress
  // The holder never lets go before teardown: the chunk gives up on the lock wait's own timeout.
  await t.rejects(service.run(), { name: 'DatabaseUnavailableError', message: 'database unavailable', cause: { code: 'ER_LOCK_WAIT_TIMEOUT' } })
  t.match(await db.rows('SELECT status, last_user_id, checked, error FROM civibridge_sync_job'), [{ status: 'running', last_user_id: 0, checked: 0, error: 'database unavailable' }])
  t.same(await db.rows('SELECT * FROM civicrm_uf_match'), [], 'nothing of the chunk was written')
  t.same(await db.rows('SELECT * FROM civibridge_audit'), [])
  await holder.release()
  t.match(await service.run(), { status: 'done', resumed: true, counts: { checked: 2, created: 2 } })
})

/** A terminal as the progress bar sees one, recording what is drawn on it. */
function fakeTty (isTTY = true) {
  const written: string[] = []
  const stream = { isTTY, columns: 160, write: (s: string) => { written.push(s); return true } } as unknown as NodeJS.WriteStream
  return { stream, drawn: () => written.join('') }
}

t.test('CLI on a terminal: a progress bar on the terminal and the message alone on stdout; --json, a stream that is no terminal and a refused start draw nothing', async (t) => {
  const db = await testDatabase(t)
  await seedExample(db)
  const config = testConfig(db.url)
  const tty = fakeTty()
  // Refused (another sync holds the claim): nothing drawn.
  const other = await holdSyncClaim(t, db.url)
  await t.rejects(runSyncCommand([], config, { out: () => {}, tty: tty.stream }), SyncBusyError)
  await other.release()
  t.equal(tty.drawn(), '', 'a refused sync draws no bar')

  const lines: string[] = []
  t.equal(await runSyncCommand(['--batch-size', '2'], config, { out: (l) => lines.push(l), tty: tty.stream }), 0)
  t.same(lines, [SEED_MESSAGE], 'stdout has the message only')
  const drawn = tty.drawn()
  t.match(drawn, /Synchronizing users \|[█░]+\| 100% 5\/5 users \| \d+ users\/s \| ETA 0s/, 'the bar ends full')
  t.ok(drawn.includes('\x1B[?25l') && drawn.includes('\x1B[?25h'), 'the cursor is hidden while drawing, then shown again')
  t.ok(drawn.endsWith('\n'), 'the bar\'s line is ended')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_uf_match'), 5, 'the users are linked')

  const json = fakeTty()
  const out: string[] = []
  t.equal(await runSyncCommand(['--json'], config, { out: (l) => out.push(l), tty: json.stream }), 0)
  t.match(JSON.parse(out[0]), { status: 'done', counts: { checked: 5, matched: 5 } })
  t.equal(json.drawn(), '', '--json draws no bar')

  const pipe = fakeTty(false)
  const plain: string[] = []
  t.equal(await runSyncCommand([], config, { out: (l) => plain.push(l), tty: pipe.stream }), 0)
  t.match(plain, [/^Synchronize Users to Contacts completed\. Checked 5 user records\./])
  t.equal(pipe.drawn(), '', 'stderr redirected to a file or a pipe gets no bar, and no line within the first 5 s')

  const cron = fakeTty(false)
  t.equal(await runSyncCommand(['--batch-size=2', '--dry-run'], config, { out: () => {}, tty: cron.stream, progressEveryMs: 0 }), 0)
  const progress = cron.drawn().split('\n')
  t.equal(progress.pop(), '', 'whole lines')
  t.ok(progress.length >= 2, 'a line per progress report when due')
  for (const l of progress) t.match(l, /^Synchronizing users: \d of 5 checked \(\d+%\), [\d,]+ users\/s(, about [\d,]+ s left)?$/)
  // eslint-disable-next-line no-control-regex -- ESC is what a terminal code starts with
  t.notMatch(cron.drawn(), /\x1B/, 'no terminal codes')
})

t.test('a progress line separates thousands and says what is left', async (t) => {
  t.equal(progressLine({ done: 2000, total: 10000, rate: 850.4, etaS: 9.4 }), 'Synchronizing users: 2,000 of 10,000 checked (20%), 850 users/s, about 10 s left')
  t.equal(progressLine({ done: 0, total: 0, rate: 0, etaS: null }), 'Synchronizing users: 0 of 0 checked (100%), 0 users/s')
})

t.test('CLI: SIGINT or SIGTERM stops the sync between chunks with exit code 130; the next run resumes the job', async (t) => {
  const db = await testDatabase(t)
  await seedExample(db)
  const config = testConfig(db.url)
  const interrupted: string[][] = []
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const before = process.listeners(signal)
    const lines: string[] = []
    const running = runSyncCommand(['--batch-size', '1'], config, { out: (l) => lines.push(l) })
    const added = process.listeners(signal).filter((l) => !before.includes(l))
    t.equal(added.length, 1, `the command listens for ${signal}`)
    ;(added[0] as (s: string) => void)(signal) // what the process does when the signal comes
    t.equal(await running, 130, `${signal}: exit code 130`)
    t.same(process.listeners(signal), before, 'no listener left behind')
    interrupted.push(lines)
  }
  const jobs = await db.rows<{ id: number, status: string, checked: number }>('SELECT id, status, checked FROM civibridge_sync_job')
  t.match(jobs, [{ status: 'running', checked: 0 }], 'one job, left resumable')
  t.same(interrupted, [
    ['Synchronization interrupted; run it again to resume.'],
    [`Resumed job ${jobs[0].id}.`, 'Synchronization interrupted; run it again to resume.'],
  ], 'the second run resumed the job the first left, and was stopped too')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_uf_match'), 0, 'stopped before the first chunk')
  const lines: string[] = []
  t.equal(await runSyncCommand([], config, { out: (l) => lines.push(l) }), 0)
  t.same(lines, [`Resumed job ${jobs[0].id}.`, SEED_MESSAGE])
})

t.test('dry run across chunks: a linked user\'s changed email is claimed, as the real run does', async (t) => {
  const db = await testDatabase(t)
  const c = await insertContact(db, { first: 'Old', emails: [{ email: 'old@example.org', primary: true }] })
  await db.sql.query('INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 1, ?, ?)', ['old@example.org', c])
  await insertJoomlaUsers(db, [{ id: 1, email: 'new@example.org' }, { id: 2, email: 'new@example.org' }])
  const { service } = syncService(t, db)
  const dry = await service.run({ dryRun: true, batchSize: 1 })
  const real = await service.run({ batchSize: 1 })
  t.same(real.skippedUsers, [{ id: 2, reason: 'email-linked-to-user:1' }], 'user 1 took the new email in the first chunk')
  t.same(dry.counts, real.counts, 'the dry run counted the same')
  t.same(dry.skippedUsers, real.skippedUsers)
  t.same(await db.rows('SELECT uf_id, uf_name, contact_id FROM civicrm_uf_match'), [{ uf_id: 1, uf_name: 'new@example.org', contact_id: c }])
})

/** A chunk's checkpoint written alone in a unit, as the sync writes it with the chunk. */
async function saveChunk (unit: Unit, ...args: Parameters<typeof chunkCheckpoint>): Promise<void> {
  const { statements, check } = chunkCheckpoint(...args)
  check(await runBatch(unit, statements))
}

t.test('a chunk checkpoint of a job no longer running, or of users already done, is refused and its chunk rolled back', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [{ id: 1, email: 'a@example.org' }, { id: 2, email: '' }])
  const { service, database } = syncService(t, db)
  const { jobId } = await service.run()
  t.same(await db.rows('SELECT job_id, first_user_id, last_user_id FROM civibridge_sync_chunk'), [{ job_id: jobId, first_user_id: 1, last_user_id: 2 }], 'one chunk row')
  const chunk = { ...zeroCounts(), checked: 1, skipped: 1, skippedInvalid: 1 }
  const save = (first: number) => database.unit((unit) => saveChunk(unit, jobId!, { first, last: first }, chunk, [{ ufId: first + 10, reason: 'missing-email' }], new Date()))
  await t.rejects(save(3), { message: `sync job ${jobId} is no longer running, or users 3 to 3 are done already` }, 'the job is done')
  await db.sql.query("UPDATE civibridge_sync_job SET status = 'running'")
  await t.rejects(save(1), { message: `sync job ${jobId} is no longer running, or users 1 to 1 are done already` }, 'users from 1 are done already')
  t.match(await db.rows('SELECT last_user_id, checked, skipped FROM civibridge_sync_job'), [{ last_user_id: 2, checked: 2, skipped: 1 }], 'counts unchanged')
  t.same(await db.rows('SELECT uf_id FROM civibridge_sync_skip ORDER BY uf_id'), [{ uf_id: 2 }], 'the refused chunks\' skip rows rolled back')
  await save(3)
  t.match(await db.rows('SELECT last_user_id, checked, skipped FROM civibridge_sync_job'), [{ last_user_id: 2, checked: 3, skipped: 2 }], 'the chunk of a running job is counted; last_user_id moves only once both chunks of a pair are in')
  t.same(await db.rows('SELECT first_user_id, last_user_id FROM civibridge_sync_chunk ORDER BY first_user_id'), [{ first_user_id: 1, last_user_id: 2 }, { first_user_id: 3, last_user_id: 3 }])
})

t.test('a resumed job skips a chunk that committed beyond its last_user_id, and counts it once', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, Array.from({ length: 6 }, (_, i) => ({ id: i + 1, email: `u${i + 1}@example.org` })))
  const { service, database } = syncService(t, db)
  // A job killed after the second chunk of its first pair (users 3-4) committed, the first (1-2) not.
  const [res] = await db.sql.query("INSERT INTO civibridge_sync_job (domain_id, status, dry_run, batch_size, started_at, heartbeat_at) VALUES (1, 'running', 0, 2, NOW(), NOW())") as unknown as [{ insertId: number }]
  const jobId = res.insertId
  await database.unit(async (unit) => {
    await unit.query("INSERT INTO civicrm_contact (id, contact_type, display_name, sort_name) VALUES (500, 'Individual', 'u3', 'u3'), (501, 'Individual', 'u4', 'u4')", [])
    await unit.query("INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 3, 'u3@example.org', 500), (1, 4, 'u4@example.org', 501)", [])
    await saveChunk(unit, jobId, { first: 3, last: 4 }, { ...zeroCounts(), checked: 2, created: 2 }, [], new Date())
  })
  const result = await service.run({ batchSize: 2 })
  t.equal(result.jobId, jobId, 'the same job')
  t.ok(result.resumed)
  t.equal(result.message, 'Synchronize Users to Contacts completed. Checked 6 user records. Created 6 new contact records.')
  t.same(await db.rows('SELECT first_user_id, last_user_id FROM civibridge_sync_chunk ORDER BY first_user_id'), [
    { first_user_id: 1, last_user_id: 2 }, { first_user_id: 3, last_user_id: 4 }, { first_user_id: 5, last_user_id: 6 },
  ], 'users 3 and 4 were not read into a chunk again')
  t.same(await db.rows('SELECT uf_id, contact_id FROM civicrm_uf_match WHERE uf_id IN (3, 4) ORDER BY uf_id'), [{ uf_id: 3, contact_id: 500 }, { uf_id: 4, contact_id: 501 }])
  t.match(await db.rows('SELECT status, last_user_id, checked FROM civibridge_sync_job'), [{ status: 'done', last_user_id: 6, checked: 6 }])
})

t.test('users registered during a run are synchronized too, and the progress total grows with them', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [{ id: 1, email: 'u1@example.org' }, { id: 2, email: 'u2@example.org' }])
  const { database } = syncService(t, db)
  const users = new GatedUsers(database.pool, 'jos_')
  const progress: Array<{ done: number, total: number }> = []
  const run = await new SyncService(database, users, 1).start({ batchSize: 2, onProgress: (p) => progress.push({ done: p.done, total: p.total }) })
  await insertJoomlaUsers(db, [3, 4, 5].map((id) => ({ id, email: `u${id}@example.org` })))
  users.open()
  t.match(await run.done, { status: 'done', counts: { checked: 5, created: 5 } })
  t.same(progress, [{ done: 0, total: 2 }, { done: 2, total: 2 }, { done: 4, total: 4 }, { done: 5, total: 5 }, { done: 5, total: 5 }], 'never more done than the total')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_uf_match'), 5)
})

t.test('the sync claim\'s connection dying mid-run does not fail the run, and leaves no claim behind', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [{ id: 1, email: 'u1@example.org' }, { id: 2, email: 'u2@example.org' }])
  const { database } = syncService(t, db)
  const users = new GatedUsers(database.pool, 'jos_')
  // Renewed every 20 ms: renewals on the dead connection fail, and the run goes on.
  const service = new SyncService(database, users, 1, { heartbeatMs: 20 })
  t.equal(await service.syncClaimed(), false, 'no sync runs yet')
  const run = await service.start({ batchSize: 1 })
  t.equal(await service.syncClaimed(), true, 'a sync runs')
  const [{ holder }] = await db.rows<{ holder: number | null }>("SELECT holder_conn AS holder FROM civibridge_lock WHERE lock_key = 'sync'")
  t.ok(holder, 'a connection holds the sync claim')
  await db.sql.query(`KILL ${Number(holder)}`)
  await new Promise((resolve) => setTimeout(resolve, 100))
  users.open()
  t.match(await run.done, { status: 'done', counts: { checked: 2, created: 2 } })
  t.equal(await service.syncClaimed(), false, 'no sync runs any more: its connection is gone')
  t.match(await new SyncService(database, new JoomlaUsers(database.pool, 'jos_'), 1).run(), { status: 'done', counts: { checked: 2, matched: 2 } }, 'the next run is not refused')
})

t.test('chunks sharing a contact are written one after the other: the later user gets the decision it would get alone', async (t) => {
  const db = await testDatabase(t)
  const both = await insertContact(db, { first: 'Both', emails: [{ email: 'one@example.org', primary: true }, { email: 'two@example.org' }] })
  await insertJoomlaUsers(db, [{ id: 1, email: 'one@example.org' }, { id: 2, email: 'two@example.org' }])
  const { service } = syncService(t, db)
  const r = await service.run({ batchSize: 1 })
  t.match(r.counts, { checked: 2, matched: 1, created: 1 })
  const links = await db.rows<{ uf_id: number, contact_id: number }>('SELECT uf_id, contact_id FROM civicrm_uf_match ORDER BY uf_id')
  t.equal(links[0].contact_id, both, 'user 1, first in id order, takes the contact')
  t.not(links[1].contact_id, both, 'user 2 gets a new contact')
})

t.test('a failing first chunk of an interacting pair: the second is not written, the job stays resumable', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [{ id: 1, email: 'same@example.org' }, { id: 2, email: 'same@example.org' }])
  await db.sql.query("CREATE TRIGGER refuse_user_1 BEFORE INSERT ON civicrm_uf_match FOR EACH ROW BEGIN IF NEW.uf_id = 1 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused for the test'; END IF; END")
  const { service } = syncService(t, db)
  await t.rejects(service.run({ batchSize: 1 }), /refused for the test/)
  t.same(await db.rows('SELECT * FROM civicrm_uf_match'), [], 'nothing linked')
  t.same(await db.rows('SELECT * FROM civibridge_sync_chunk'), [], 'no chunk done')
  t.match(await db.rows('SELECT status, checked, error FROM civibridge_sync_job'), [{ status: 'running', checked: 0, error: 'refused for the test' }])
  await db.sql.query('DROP TRIGGER refuse_user_1')
  t.match(await service.run({ batchSize: 1 }), { resumed: true, counts: { checked: 2, created: 1, skipped: 1 } })
})

t.test('chunks whose users have no valid email are checked and skipped, reading no email facts', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [{ id: 1, email: '' }, { id: 2, email: 'not-an-email' }])
  const { service } = syncService(t, db)
  t.match(await service.run({ batchSize: 1 }), { counts: { checked: 2, skipped: 2, skippedInvalid: 2 } })
})

t.test('the sync CLI keeps its heap small: a full collection between chunks once the heap passes its limit, none below it', async (t) => {
  t.equal(heapKeeper(0)(), true, 'past the limit: collected')
  t.equal(heapKeeper(Number.MAX_SAFE_INTEGER)(), false, 'below it: nothing to do')
  t.ok(HEAP_LIMIT_BYTES >= 32 * 2 ** 20, 'the limit leaves room for a pair of chunks')
})

t.test('Joomla\'s users failing to load while a pair of chunks is written: the pair is kept, the job fails resumable', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [1, 2, 3].map((id) => ({ id, email: `u${id}@example.org` })))
  const { database } = syncService(t, db)
  class FailingAfterTwo extends JoomlaUsers {
    override async after (afterId: number, limit: number) {
      if (afterId >= 2) throw new Error('users table gone')
      return super.after(afterId, limit)
    }
  }
  const service = new SyncService(database, new FailingAfterTwo(database.pool, 'jos_'), 1)
  await t.rejects(service.run({ batchSize: 1 }), /users table gone/)
  t.same(await db.rows('SELECT uf_id FROM civicrm_uf_match ORDER BY uf_id'), [{ uf_id: 1 }, { uf_id: 2 }], 'the pair read before the failure is written')
  t.match(await db.rows('SELECT status, last_user_id, checked, error FROM civibridge_sync_job'), [{ status: 'running', last_user_id: 2, checked: 2, error: 'users table gone' }])
  t.match(await new SyncService(database, new JoomlaUsers(database.pool, 'jos_'), 1).run({ batchSize: 1 }), { resumed: true, counts: { checked: 3, created: 3 } })
})

t.test('the sync claim: renewed while the job runs; another node\'s claim is respected until it stops being renewed for 30 s', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [{ id: 1, email: 'u1@example.org' }, { id: 2, email: 'u2@example.org' }])
  const { database } = syncService(t, db)
  const users = new GatedUsers(database.pool, 'jos_')
  const service = new SyncService(database, users, 1, { heartbeatMs: 20 })
  const run = await service.start({ batchSize: 1 })
  const beat = async () => (await db.rows<{ at: Date }>("SELECT heartbeat_at AS at FROM civibridge_lock WHERE lock_key = 'sync'"))[0].at.getTime()
  const first = await beat()
  await eventually('a heartbeat', async () => await beat() !== first)
  t.ok(await beat() > first, 'the heartbeat moves while the job runs')
  users.open()
  await run.done
  t.match(await db.rows("SELECT holder, holder_node, holder_conn, heartbeat_at FROM civibridge_lock WHERE lock_key = 'sync'"), [{ holder: null, holder_node: null, holder_conn: null, heartbeat_at: null }], 'given back at the end')

  // A claim taken through another node (its connection cannot be checked from here), renewed 10 s ago: running.
  await db.sql.query("UPDATE civibridge_lock SET holder = 'elsewhere', holder_node = 'node2:3306', holder_conn = 1, heartbeat_at = NOW(3) - INTERVAL 10 SECOND WHERE lock_key = 'sync'")
  t.equal(await service.syncClaimed(), true)
  await t.rejects(service.start(), { name: 'SyncBusyError' })
  // Not renewed for 31 s: its holder is gone; the claim is taken over.
  await db.sql.query("UPDATE civibridge_lock SET heartbeat_at = NOW(3) - INTERVAL 31 SECOND WHERE lock_key = 'sync'")
  t.equal(await service.syncClaimed(), false)
  t.match(await service.run(), { status: 'done', counts: { checked: 2, matched: 2 } })
  const claim = new SyncClaim(1)
  t.equal(await claim.beat(db.sql, 'elsewhere'), false, 'the old holder\'s renewal finds the claim no longer its own')
})

t.test('two starts setting the sync claim at the same moment through two Galera nodes: the one that loses certification is refused', async (t) => {
  const db = await testDatabase(t)
  const { service } = syncService(t, db)
  t.equal(await service.syncClaimed(), false)
  // Galera reports a lost certification as a deadlock (1213): a trigger raises it here.
  await db.sql.query(`CREATE TRIGGER cbt19_certification BEFORE UPDATE ON civibridge_lock FOR EACH ROW
    IF NEW.holder = 'loses-certification' THEN SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'Deadlock found'; END IF`)
  const conn = await db.sql.getConnection()
  t.teardown(() => conn.release())
  const claim = new SyncClaim(1)
  t.equal(await claim.take(conn, 'loses-certification'), false, 'not taken')
  t.match(await db.rows("SELECT holder FROM civibridge_lock WHERE lock_key = 'sync'"), [{ holder: null }], 'nothing written')
  t.equal(await claim.take(conn, 'wins'), true)
  t.equal(await service.syncClaimed(), true)
  await claim.release(conn, 'wins')
})

t.test('a chunk that loses to live events more times than an event\'s unit would try still commits: the sync yields longer before it fails', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [1, 2].map((id) => ({ id, email: `u${id}@example.org` })))
  // The chunk's checkpoint fails as a lost certification would, once more than an event's unit tries.
  const losses = MAX_ATTEMPTS + 2
  await db.sql.query('CREATE SEQUENCE chunk_tries')
  await db.sql.query(`CREATE TRIGGER chunk_loses BEFORE INSERT ON civibridge_sync_chunk FOR EACH ROW
    BEGIN IF NEXTVAL(chunk_tries) <= ${losses} THEN SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'deadlock for the test'; END IF; END`)
  const { service } = syncService(t, db)
  const r = await service.run({ batchSize: 2 })
  t.ok(SYNC_CHUNK_ATTEMPTS > losses, `${SYNC_CHUNK_ATTEMPTS} attempts for a chunk`)
  t.match(r, { status: 'done', counts: { checked: 2, created: 2 } })
  t.same((await db.rows<{ uf_id: number }>('SELECT uf_id FROM civicrm_uf_match ORDER BY uf_id')).map((l) => l.uf_id), [1, 2], 'every user linked once')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_contact WHERE id > 1'), 2, 'no contact of a rolled-back attempt left')
})

t.test('the sync ends a wait that is no longer blocked and keeps a blocked one, in a chunk read ahead as under the locks; users of other chunks keep theirs', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, Array.from({ length: 6 }, (_, i) => ({ id: i + 1, email: `u${i + 1}@x.org` })))
  const { service } = syncService(t, db)
  await service.run({ batchSize: 2 })
  // Waits left by events: 2 (first chunk) and 4, 6 (chunks read ahead) are back to the email they hold; 5 now wants 1's.
  await db.sql.query(`INSERT INTO civibridge_wanted_email (domain_id, uf_id, email, created_at) VALUES
    (1, 2, 'gone2@x.org', NOW(3)), (1, 4, 'gone4@x.org', NOW(3)), (1, 5, 'old5@x.org', NOW(3)), (1, 6, 'u2@x.org', NOW(3)), (1, 9, 'not-a-user@x.org', NOW(3))`)
  await db.sql.query("UPDATE jos_users SET email = 'u1@x.org' WHERE id = 5")
  const again = syncService(t, db).service
  await again.run({ batchSize: 2 })
  t.ok(again.readAhead.used >= 2, 'chunks 2 and 3 were written from facts read ahead')
  t.same(await db.rows('SELECT uf_id, email FROM civibridge_wanted_email ORDER BY uf_id'),
    [{ uf_id: 5, email: 'u1@x.org' }, { uf_id: 9, email: 'not-a-user@x.org' }], '5 waits for 1\'s email; 9, in no chunk, is left alone')
})

t.test('a chunk\'s candidates are read through the email index even when the statistics take it for unselective', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url)
  t.teardown(() => database.close())
  await db.sql.query(`INSERT INTO civicrm_contact (contact_type, first_name, display_name, sort_name, is_deleted)
    SELECT 'Individual', CONCAT('P', seq), CONCAT('P', seq), CONCAT('P', seq), 0 FROM seq_1_to_3000`)
  await db.sql.query(`INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary)
    SELECT id, 1, CONCAT('p', id, '@example.org'), 1 FROM civicrm_contact`)
  const ids = (await db.rows<{ id: number }>('SELECT id FROM civicrm_contact ORDER BY id LIMIT 3 OFFSET 100')).map((r) => r.id)
  // Statistics saying that one email is shared by a million rows: a join on the email column then
  // costs more by the index than by reading the table whole, unless the index is forced.
  await db.sql.query('ANALYZE TABLE civicrm_email PERSISTENT FOR ALL')
  await db.sql.query("UPDATE mysql.index_stats SET avg_frequency = 1000000 WHERE db_name = ? AND table_name = 'civicrm_email' AND index_name = 'UI_email'", [db.name])
  await db.sql.query('FLUSH TABLES civicrm_email')
  const conn = await database.pool.getConnection()
  t.teardown(() => conn.release())
  const reads = { query: async (text: string, values: unknown[]) => (await conn.query(text, values))[0] }
  await conn.query('FLUSH STATUS')
  const facts = await readChunkFacts(reads, await database.collation(), 1, [1, 2, 3], ids.map((id) => `p${id}@example.org`))
  t.same([...facts.candidates.entries()], ids.map((id) => [`p${id}@example.org`, [{ contactId: id, linkedUfId: null }]]))
  const [[scanned]] = await conn.query("SHOW SESSION STATUS LIKE 'Handler_read_rnd_next'") as unknown as [[{ Value: string }]]
  t.ok(Number(scanned.Value) < 100, `the email rows were not read whole (${scanned.Value} rows read in sequence)`)
})
