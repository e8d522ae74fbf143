// Lazy linking on CiviCRM's own pages (docs/protocol.md "Page events"): the plugin sends
// onCivicrmProfile / onCivicrmContribution / onCivicrmMembership before CiviCRM runs; the bridge
// links with the page's trigger, audited, by the same rules as a registration. And the bridge
// records no money: its former payment pages and endpoints are gone, no source file names a
// money table, and the money tables never change.
import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { eventEffect, linkTrigger, EVENT_NAMES } from '../server/domain/events.js'
import { signAssertion } from '../server/protocol/sign.js'
import { testDatabase, buildTestApp, insertContact, sendEvent, snapshot, moneySnapshot, SECRET, SITE } from './helper.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

t.test('the page events and their triggers', async (t) => {
  t.equal(eventEffect('onCivicrmProfile'), 'link-on-page')
  t.equal(eventEffect('onCivicrmContribution'), 'link-on-page')
  t.equal(eventEffect('onCivicrmMembership'), 'link-on-page')
  t.equal(eventEffect('onCivicrmEvent'), null, 'an unknown page kind is an unknown event')
  t.ok(EVENT_NAMES.includes('onCivicrmContribution'))
  t.equal(linkTrigger('onCivicrmProfile', 'link-on-page'), 'profile')
  t.equal(linkTrigger('onCivicrmContribution', 'link-on-page'), 'contribution')
  t.equal(linkTrigger('onCivicrmMembership', 'link-on-page'), 'membership')
  t.equal(linkTrigger('onUserAfterSave', 'link-on-save'), 'save')
  t.equal(linkTrigger('onLoginUser', 'link-on-login'), 'login')
})

t.test('no source file of the bridge names a money table', async (t) => {
  const money = /civicrm_(contribution|membership|line_item|financial|entity_financial|participant_payment|pledge)/
  const files: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) walk(p)
      else if (p.endsWith('.ts')) files.push(p)
    }
  }
  for (const dir of ['server', 'drizzle/schema']) walk(join(ROOT, dir))
  t.ok(files.length > 20, `${files.length} source files read`)
  t.same(files.filter((f) => money.test(readFileSync(f, 'utf8'))).map((f) => f.slice(ROOT.length)), [])
})

t.test('page events on the real MariaDB', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  // An earlier payment on CiviCRM's own page, as CiviCRM writes it: the bridge must not touch it.
  const ann = await insertContact(db, { first: 'Ann', last: 'Lee', emails: [{ email: 'ann@example.org', primary: true }] })
  await db.sql.query("INSERT INTO civicrm_contribution (contact_id, financial_type_id, contribution_page_id, total_amount, currency, contribution_status_id, invoice_id) VALUES (?, 1, 1, 25.00, 'USD', 1, 'inv-1')", [ann])
  await db.sql.query("INSERT INTO civicrm_line_item (entity_table, entity_id, contribution_id, qty, unit_price, line_total, financial_type_id) VALUES ('civicrm_contribution', 1, 1, 1, 25, 25, 1)")
  await db.sql.query("INSERT INTO civicrm_financial_trxn (trxn_date, total_amount, currency, status_id, is_payment) VALUES (UTC_TIMESTAMP(), 25, 'USD', 1, 1)")
  const money = await moneySnapshot(db)

  t.test('the seed\'s story: a contact from an anonymous payment, a registration not forwarded, then the logged-in user opens a contribution page', async (t) => {
    const r = await sendEvent(app, { event: 'onCivicrmContribution', user: { id: 42, username: 'ann', email: 'Ann@Example.org', name: 'Ann Lee' } })
    t.equal(r.status, 200)
    t.same(r.json, { action: 'linked-existing', contactId: ann, reason: null })
    t.same(await db.rows('SELECT uf_id, uf_name, contact_id FROM civicrm_uf_match'), [{ uf_id: 42, uf_name: 'Ann@Example.org', contact_id: ann }], 'uf_name keeps the email as typed')
    t.equal(Number((await db.rows<{ n: number }>("SELECT COUNT(*) AS n FROM civicrm_email WHERE email = 'ann@example.org'"))[0].n), 1, 'no duplicate contact')
    t.same(await db.rows('SELECT `trigger`, action, contact_id FROM civibridge_audit WHERE uf_id = 42'), [{ trigger: 'contribution', action: 'linked-existing', contact_id: ann }])
    t.match(await db.rows('SELECT event, uf_id FROM civibridge_event WHERE jti = ?', [r.jti]), [{ event: 'onCivicrmContribution', uf_id: 42 }])
  })

  t.test('an already-linked user\'s page event is answered without a write to CiviCRM and audited with the page\'s trigger', async (t) => {
    const before = await db.rows('SELECT * FROM civicrm_uf_match ORDER BY id')
    const r = await sendEvent(app, { event: 'onCivicrmMembership', user: { id: 42, username: 'ann', email: 'ann@example.org', name: 'Ann Lee' } })
    t.same(r.json, { action: 'already-linked', contactId: ann, reason: null })
    await app.eventLog.flush() // the hot path's event and audit rows are written behind
    t.same(await db.rows('SELECT * FROM civicrm_uf_match ORDER BY id'), before)
    t.same(await db.rows("SELECT action FROM civibridge_audit WHERE uf_id = 42 AND `trigger` = 'membership'"), [{ action: 'already-linked' }])
  })

  t.test('a profile page of a user with a new email creates the contact; a blocked user is never linked', async (t) => {
    const r = await sendEvent(app, { event: 'onCivicrmProfile', user: { id: 43, username: 'bob', email: 'bob@example.org', name: 'Bob Berg' } })
    t.match(r.json, { action: 'created-contact', contactId: Number })
    t.same(await db.rows('SELECT `trigger`, action FROM civibridge_audit WHERE uf_id = 43'), [{ trigger: 'profile', action: 'created-contact' }])
    const blocked = await sendEvent(app, { event: 'onCivicrmContribution', user: { id: 44, username: 'cat', email: 'cat@example.org', name: 'Cat', block: 1 } })
    t.same(blocked.json, { action: 'skipped', contactId: null, reason: 'user-blocked' })
    t.same(await db.rows('SELECT * FROM civicrm_uf_match WHERE uf_id = 44'), [])
  })

  t.test('the bridge\'s payment pages and endpoints are gone and write nothing', async (t) => {
    await app.eventLog.flush() // the blocked user's event row above is written behind
    const before = await snapshot(db)
    const assertion = (act: string) => signAssertion(SECRET, SITE, { id: 42, username: 'ann', email: 'ann@example.org', name: 'Ann Lee' }, act)
    const tries = [
      { method: 'GET' as const, url: '/civicrm/contribute?id=1' },
      { method: 'GET' as const, url: `/civicrm/contribute?id=1&assertion=${assertion('contribution')}` },
      { method: 'GET' as const, url: '/civicrm/membership?id=2' },
      { method: 'POST' as const, url: '/civicrm/contribute?id=1', payload: 'email=x%40example.org&amount=999999999999999.99', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      { method: 'POST' as const, url: '/v1/transactions/contribution', payload: { email: 'x@example.org', amount: '999999999999999.99', financial_type_id: 1 } },
      { method: 'POST' as const, url: '/v1/transactions/membership', payload: { email: 'x@example.org', membership_type_id: 1 }, headers: { authorization: `Bearer ${assertion('membership')}` } },
    ]
    for (const req of tries) {
      const res = await app.inject(req)
      t.equal(res.statusCode, 404, `${req.method} ${req.url.replace(/assertion=.*/, 'assertion=…')}`)
    }
    t.equal(await snapshot(db), before, 'nothing written')
  })

  t.test('the money tables are unchanged after every page event and request above', async (t) => {
    t.equal(await moneySnapshot(db), money)
  })
})
