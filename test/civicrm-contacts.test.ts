// The contacts the bridge writes are the contacts CiviCRM would write, from the site's own
// configuration: on the live path (signed events over HTTP), in the sync, and on the profile
// save ("Edit my details"). Each test names the CiviCRM behaviour it proves.
import t from 'tap'
import { signAssertion } from '../server/protocol/sign.js'
import { Database } from '../server/data/db.js'
import { SETTINGS_TTL_MS, SiteSettingsCache, readSiteSettings, unserializeScalar } from '../server/data/site-settings.js'
import { loadConfig, ConfigError } from '../server/config.js'
import { testDatabase, buildTestApp, insertContact, sendEvent, SECRET, SITE, type TestDb } from './helper.js'
import { CookieJar } from './cookie-jar.js'
import { insertJoomlaUsers, syncService } from './sync-helper.js'

const setting = (db: TestDb, name: string, serialized: string) =>
  db.sql.query('INSERT INTO civicrm_setting (name, value, domain_id, is_domain) VALUES (?, ?, 1, 1) ON DUPLICATE KEY UPDATE value = VALUES(value)', [name, serialized])
const php = (s: string) => `s:${Buffer.byteLength(s)}:"${s}";`

/** A site configured away from the stock defaults: every value below must come from the database. */
async function configuredSite (db: TestDb): Promise<void> {
  await setting(db, 'display_name_format', php('{contact.individual_prefix}{ }{contact.first_name}{ }{contact.middle_name}{ }{contact.last_name}'))
  await setting(db, 'sort_name_format', php('{contact.last_name}{ }{contact.first_name}'))
  await setting(db, 'contact_default_language', php('de_DE'))
  // Familiar becomes the default communication style; Work the default location type.
  await db.sql.query("UPDATE civicrm_option_value v JOIN civicrm_option_group g ON g.id = v.option_group_id SET v.is_default = (v.value = '2') WHERE g.name = 'communication_style'")
  await db.sql.query('UPDATE civicrm_location_type SET is_default = (id = 2)')
}

const NEW_CONTACT = `SELECT c.contact_type, c.first_name, c.middle_name, c.last_name, c.display_name, c.sort_name, c.preferred_language, c.communication_style_id,
    c.email_greeting_id, c.email_greeting_display, c.postal_greeting_id, c.postal_greeting_display, c.addressee_id, c.addressee_display, e.email, e.location_type_id, m.uf_name
  FROM civicrm_uf_match m JOIN civicrm_contact c ON c.id = m.contact_id JOIN civicrm_email e ON e.contact_id = c.id AND e.is_primary = 1 WHERE m.uf_id = ?`

const AMY = {
  contact_type: 'Individual',
  first_name: 'Amy',
  middle_name: 'A',
  last_name: 'Adams',
  display_name: 'Amy A Adams',
  sort_name: 'Adams Amy',
  preferred_language: 'de_DE',
  communication_style_id: 2,
  email_greeting_id: 1,
  email_greeting_display: 'Dear Amy',
  postal_greeting_id: 1,
  postal_greeting_display: 'Dear Amy',
  addressee_id: 1,
  addressee_display: 'Amy A Adams',
  email: 'amy.adams@example.org',
  location_type_id: 2,
  uf_name: 'Amy.Adams@Example.org',
}

t.test('live path: a new contact as Contact::create makes it from the site\'s settings (extractName "Last, First Middle", quotes stripped, name formats, language, communication style, greetings, default location type, uf_name as typed)', async (t) => {
  const db = await testDatabase(t)
  await configuredSite(db)
  const app = await buildTestApp(t, db)
  const r = await sendEvent(app, { user: { id: 1, email: ' Amy.Adams@Example.org ', name: '"Adams, Amy A"' }, isNew: true })
  t.equal(r.json.action, 'created-contact')
  t.same(await db.rows(NEW_CONTACT, [1]), [AMY])
  const alan = await sendEvent(app, { user: { id: 2, email: 'alan@example.org', name: '"Alan Arkin"' }, isNew: true })
  t.match(await db.rows(NEW_CONTACT, [2]), [{ first_name: 'Alan', middle_name: null, last_name: 'Arkin', display_name: 'Alan Arkin', sort_name: 'Arkin Alan' }], `contact ${alan.json.contactId}: quotes stripped`)
})

t.test('sync: the same contact as the live path, from the same settings; the five addresses CiviCRM refuses are skipped as invalid-email', async (t) => {
  const db = await testDatabase(t)
  await configuredSite(db)
  const refused = ['ann@exämple.org', '.dot@example.org', 'dot.@example.org', 'x@-example.org', 'x@ex_ample.org']
  await insertJoomlaUsers(db, [{ id: 1, email: ' Amy.Adams@Example.org ', name: '"Adams, Amy A"' }, ...refused.map((email, i) => ({ id: 10 + i, email }))])
  const { service } = syncService(t, db)
  const r = await service.run()
  t.same(await db.rows(NEW_CONTACT, [1]), [AMY])
  t.same(r.skippedUsers, refused.map((_, i) => ({ id: 10 + i, reason: 'invalid-email' })))
  t.equal(r.message, 'Synchronize Users to Contacts completed. Checked 6 user records. Created one new contact record. Skipped 5 user records without a valid email.',
    'no "Found …" sentence when nothing matched, as CRM_Admin_Form_CMSUser')
  t.equal(await db.rows('SELECT COUNT(*) AS n FROM civicrm_uf_match').then((rows) => Number((rows[0] as { n: number }).n)), 1)
})

t.test('live path: the addresses filter_var refuses are skipped with the reason invalid-email, and nothing is written', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  for (const [i, email] of ['ann@exämple.org', '.dot@example.org', 'dot.@example.org', 'x@-example.org', 'x@ex_ample.org'].entries()) {
    t.same((await sendEvent(app, { user: { id: i + 1, email } })).json, { action: 'skipped', contactId: null, reason: 'invalid-email' }, email)
  }
  t.same(await db.rows('SELECT id FROM civicrm_uf_match'), [])
  t.same(await db.rows("SELECT id FROM civicrm_contact WHERE contact_type = 'Individual'"), [])
})

t.test('times: civicrm_log.modified_date is the site\'s local time (CIVICRM_TIME_ZONE, else the database server\'s); created_date stays the right instant', async (t) => {
  const db = await testDatabase(t)
  const minutesAhead = async (uf: number) => Number((await db.rows<{ d: number }>(
    'SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), l.modified_date) AS d FROM civicrm_uf_match m JOIN civicrm_log l ON l.entity_id = m.contact_id WHERE m.uf_id = ?', [uf]))[0].d)
  const created = async (uf: number) => Number((await db.rows<{ d: number }>(
    'SELECT ABS(TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), c.created_date)) AS d FROM civicrm_uf_match m JOIN civicrm_contact c ON c.id = m.contact_id WHERE m.uf_id = ?', [uf]))[0].d)
  const kolkata = await buildTestApp(t, db, { CIVICRM_TIME_ZONE: '+05:30' })
  await sendEvent(kolkata, { user: { id: 1, email: 'one@example.org', name: 'One' } })
  const ahead = await minutesAhead(1)
  t.ok(ahead >= 325 && ahead <= 335, `written 5 h 30 ahead of UTC (${ahead} min)`)
  t.ok(await created(1) <= 5, 'the created_date trigger stores the instant')
  const [server] = await db.rows<{ off: number }>("SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', @@global.time_zone)) AS off")
  const plain = await buildTestApp(t, db)
  await sendEvent(plain, { user: { id: 2, email: 'two@example.org', name: 'Two' } })
  const serverAhead = await minutesAhead(2)
  t.ok(Math.abs(serverAhead - Number(server.off)) <= 5, `without CIVICRM_TIME_ZONE, the server's zone (${serverAhead} min, server ${server.off})`)
  t.throws(() => loadConfig({ CIVICRM_DB_URL: db.url, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: SECRET, CIVICRM_TIME_ZONE: 'Mars/Olympus' }), ConfigError)
  t.match(loadConfig({ CIVICRM_DB_URL: db.url, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: SECRET, CIVICRM_TIME_ZONE: 'Europe/Berlin' }).timeZone, { name: 'Europe/Berlin' })
})

t.test('profile save: names rendered with the contact\'s prefix ("Dr." kept), greetings rendered again (a custom one kept), one civicrm_log row by the acting contact', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  const c = await insertContact(db, { first: 'Paula', last: 'Prefixed', emails: [{ email: 'paula@example.org', primary: true }] })
  await db.sql.query(`UPDATE civicrm_contact SET prefix_id = 4, display_name = 'Dr. Paula Prefixed', email_greeting_id = 2, addressee_id = 1,
    postal_greeting_id = 4, postal_greeting_custom = 'Hello Paula', postal_greeting_display = 'Hello Paula' WHERE id = ?`, [c])
  const b = new CookieJar(app)
  const user = { id: 5, username: 'paula', email: 'paula@example.org', name: 'Paula Prefixed' }
  t.equal((await b.arrive(`/civicrm/profile/edit?gid=1&assertion=${signAssertion(SECRET, SITE, user, 'profile')}`)).statusCode, 303)
  const saved = await b.submit('/civicrm/profile/edit?gid=1', { first_name: 'Paula', last_name: 'Prefixed-Smith', email: 'Paula.S@Example.org' })
  t.equal(saved.statusCode, 200)
  t.same(await db.rows('SELECT first_name, last_name, display_name, sort_name, email_greeting_display, postal_greeting_display, addressee_display FROM civicrm_contact WHERE id = ?', [c]), [{
    first_name: 'Paula',
    last_name: 'Prefixed-Smith',
    display_name: 'Dr. Paula Prefixed-Smith',
    sort_name: 'Prefixed-Smith, Paula',
    email_greeting_display: 'Dear Dr. Paula Prefixed-Smith',
    postal_greeting_display: 'Hello Paula',
    addressee_display: 'Dr. Paula Prefixed-Smith',
  }])
  t.same(await db.rows('SELECT email FROM civicrm_email WHERE contact_id = ?', [c]), [{ email: 'paula.s@example.org' }])
  t.same(await db.rows('SELECT entity_table, entity_id, data, modified_id FROM civicrm_log'), [{ entity_table: 'civicrm_contact', entity_id: c, data: `civicrm_contact,${c}`, modified_id: c }],
    'one Change Log row for the save, with the email change in it, as Contact::create writes')
})

t.test('settings: CiviCRM\'s defaults when absent; contact_default_language resolved as getContactDefaultLanguage; PHP-serialized values', async (t) => {
  const db = await testDatabase(t)
  const run = async (text: string, values: unknown[]) => (await db.sql.query(text, values))[0]
  await db.sql.query('DELETE FROM civicrm_setting')
  await db.sql.query('UPDATE civicrm_location_type SET is_default = 0')
  const bare = await readSiteSettings(run, 1, null)
  t.match(bare, {
    displayNameFormat: '{contact.individual_prefix}{ }{contact.first_name}{ }{contact.last_name}{ }{contact.individual_suffix}',
    sortNameFormat: '{contact.last_name}{, }{contact.first_name}',
    preferredLanguage: 'en_US',
    communicationStyleId: 1,
    syncCmsEmail: true,
    locationTypeId: null,
    defaultGreetings: { email_greeting: { id: 1, template: 'Dear {contact.first_name}' }, addressee: { id: 1 } },
  })
  t.equal(bare.prefixes.get(4), 'Dr.')
  t.equal(bare.greetings.email_greeting.has(5), false, 'a Household greeting is not an Individual\'s')
  const lang = async (v: string) => { await setting(db, 'contact_default_language', v); return (await readSiteSettings(run, 1, null)).preferredLanguage }
  await setting(db, 'lcMessages', php('fr_FR'))
  t.equal(await lang(php('*default*')), 'fr_FR', '*default*: the site\'s locale')
  t.equal(await lang(php('current_site_language')), 'fr_FR')
  t.equal(await lang(php('undefined')), null, 'undefined: no language')
  t.equal(await lang(php('es_ES')), 'es_ES')
  t.equal(await lang('i:7;'), 'fr_FR', 'not a string: the default')
  await setting(db, 'lcMessages', php(''))
  t.equal(await lang(php('')), null, 'no locale at all: no language')
  await setting(db, 'display_name_format', 'i:1;')
  t.equal((await readSiteSettings(run, 1, null)).displayNameFormat, bare.displayNameFormat, 'a format that is not a string: the default')
  for (const [v, on] of [['i:0;', false], ['s:1:"0";', false], ['b:1;', true], ['s:0:"";', false], ['N;', true]] as const) {
    await setting(db, 'syncCMSEmail', v)
    t.equal((await readSiteSettings(run, 1, null)).syncCmsEmail, on, `syncCMSEmail ${v}`)
  }
  t.same([unserializeScalar('s:3:"a;b";'), unserializeScalar('i:-3;'), unserializeScalar('d:1.5;'), unserializeScalar('b:0;'), unserializeScalar('a:0:{}'), unserializeScalar(null), unserializeScalar('i:x;')],
    ['a;b', -3, 1.5, false, undefined, undefined, undefined])
})

t.test('settings are read once per process and minute; a failed read is not kept', async (t) => {
  let reads = 0
  let fail = false
  let now = 0
  const run = async (text: string) => {
    if (text.includes('civicrm_setting')) { reads++; if (fail) throw new Error('down') }
    return text.includes('TIMESTAMPDIFF') ? [{ off: 60 }] : []
  }
  const cache = new SiteSettingsCache(run, 1, null, () => now)
  const [a, b] = await Promise.all([cache.get(), cache.get()])
  t.equal(a, b)
  t.equal(reads, 1, 'concurrent callers share one read')
  t.equal(a.localTime(new Date('2026-01-01T00:00:00Z')), '2026-01-01 01:00:00', 'the server\'s offset')
  now = SETTINGS_TTL_MS + 1
  fail = true
  await t.rejects(cache.get(), /down/)
  fail = false
  await cache.get()
  t.equal(reads, 3, 'read again after the minute, and after a failure')
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 1, timeZone: { name: 'Asia/Kolkata' } })
  t.teardown(() => database.close())
  t.equal((await database.siteSettings()).localTime(new Date('2026-01-01T00:00:00Z')), '2026-01-01 05:30:00')
})
