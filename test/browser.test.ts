// The seed's tip end to end in a real browser (Debian's headless Chromium through
// playwright-core): an anonymous contribution, a Joomla registration the bridge never hears
// of, then the logged-in user's "Edit my details" link joins the user to the contact of the
// first step. Then the same for a membership, a second visit, and a replayed or expired link.
// UPDATE_SCREENSHOTS=1 writes each page to docs/screenshots/ for the README.
import t from 'tap'
import { createServer, type Server } from 'node:http'
import { createSigner } from 'fast-jwt'
import { signAssertion } from '../server/protocol/sign.js'
import { testDatabase, buildTestApp, snapshot, SECRET, SITE, type TestDb } from './helper.js'
import { launchChromium, shot } from './browser-helper.js'

const count = async (db: TestDb, table: string, where = '1') => Number((await db.rows<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`))[0].n)

/**
 * What the Joomla plugin adds to a site: for a logged-in user (here ?user=ID, read from
 * jos_users), menu links to the bridge carrying a fresh signed assertion each time.
 */
async function fakeJoomla (db: TestDb, bridge: string): Promise<{ url: string, server: Server }> {
  const server = createServer((req, res) => {
    const id = Number(new URL(req.url!, 'http://x').searchParams.get('user'))
    db.rows<{ id: number, username: string, email: string, name: string }>('SELECT id, username, email, name FROM jos_users WHERE id = ?', [id]).then(([u]) => {
      if (!u) { res.writeHead(404); res.end(); return } // /favicon.ico
      const link = (act: string, path: string, text: string) => `<li><a href="${bridge}${path}&amp;assertion=${signAssertion(SECRET, SITE, u, act)}">${text}</a></li>`
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(`<!doctype html><html lang="en"><title>Joomla</title><h1>Welcome, ${u.name}</h1><ul>
${link('profile', '/civicrm/profile/edit?gid=1', 'Edit my details')}
${link('membership', '/civicrm/membership?id=3', 'Become a life member')}</ul>`)
    }, /* c8 ignore next */ () => { res.writeHead(500); res.end() })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, server }
}

t.test('the seed\'s four steps in headless Chromium', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  const bridge = await app.listen({ host: '127.0.0.1', port: 0 })
  const joomla = await fakeJoomla(db, bridge)
  t.teardown(() => new Promise((resolve) => joomla.server.close(resolve)))
  const browser = await launchChromium(t)

  t.test('contribution: anonymous, then registered, then "Edit my details" links', async (t) => {
    const context = await browser.newContext({ viewport: { width: 800, height: 700 } })
    t.teardown(() => context.close())
    const page = await context.newPage()

    // 1. An anonymous visitor contributes with ann@example.org.
    await page.goto(`${bridge}/civicrm/contribute?id=1`)
    t.equal(await page.title(), 'Contribute: Donation')
    await page.getByLabel('Email').fill('ann@example.org')
    await page.getByLabel('First name').fill('Ann')
    await page.getByLabel('Last name').fill('Lee')
    await page.getByLabel('Amount').fill('25')
    await page.getByLabel('Currency').selectOption('EUR')
    await shot(page, 'contribute')
    await page.getByRole('button', { name: 'Contribute' }).click()
    await page.waitForURL(/\/civicrm\/contribute\?id=1$/)
    t.match(await page.getByRole('status').innerText(), 'Thank you, Ann Lee. Your contribution of 25.00 EUR to Donation has been received.')
    await shot(page, 'contribute-thanks')
    const [step1] = await db.rows<{ id: number }>("SELECT contact_id AS id FROM civicrm_email WHERE email = 'ann@example.org'")
    t.ok(step1, 'a contact exists')
    t.match(await db.rows('SELECT total_amount, currency, contribution_status_id FROM civicrm_contribution WHERE contact_id = ?', [step1.id]), [{ total_amount: '25.00', currency: 'EUR', contribution_status_id: 1 }])
    t.equal(await count(db, 'civicrm_uf_match'), 0, 'no link')

    // 2. A Joomla user registers with the same email; save forwarding is off.
    await db.sql.query("INSERT INTO jos_users (id, name, username, email, params) VALUES (42, 'Ann Lee', 'ann', 'ann@example.org', '')")
    t.equal(await count(db, 'civicrm_uf_match'), 0, 'still no link')

    // 3. The user logs in and opens the "Edit my details" menu link.
    await page.goto(`${joomla.url}/?user=42`)
    const firstLink = await page.getByRole('link', { name: 'Edit my details' }).getAttribute('href')
    await page.getByRole('link', { name: 'Edit my details' }).click()
    await page.waitForURL(`${bridge}/civicrm/profile/edit?gid=1`)

    // 4. The profile shows the contact of step 1; exactly one link joins the user to it.
    t.equal(await page.getByLabel('First name').inputValue(), 'Ann')
    t.equal(await page.getByLabel('Last name').inputValue(), 'Lee')
    t.equal(await page.getByLabel('Email').inputValue(), 'ann@example.org')
    await shot(page, 'profile-edit')
    t.same(await db.rows('SELECT uf_id, uf_name, contact_id FROM civicrm_uf_match'), [{ uf_id: 42, uf_name: 'ann@example.org', contact_id: step1.id }])
    t.equal(await count(db, 'civicrm_contribution', `contact_id = ${step1.id}`), 1, 'the contribution belongs to that contact')
    t.equal(await count(db, 'civicrm_email', "email = 'ann@example.org'"), 1, 'no duplicate contact')
    t.equal(await count(db, 'civicrm_contact', "contact_type = 'Individual'"), 1)

    // Submit saves and confirms.
    await page.getByLabel('First name').fill('Annie')
    await page.getByRole('button', { name: 'Save' }).click()
    t.match(await page.getByRole('status').innerText(), 'Your details have been saved.')
    await shot(page, 'profile-saved')
    t.match(await db.rows('SELECT display_name FROM civicrm_contact WHERE id = ?', [step1.id]), [{ display_name: 'Annie Lee' }])

    // A second visit is already linked.
    await page.goto(`${joomla.url}/?user=42`)
    await page.getByRole('link', { name: 'Edit my details' }).click()
    await page.waitForURL(`${bridge}/civicrm/profile/edit?gid=1`)
    t.equal(await page.getByLabel('First name').inputValue(), 'Annie')
    t.same(await db.rows('SELECT action FROM civibridge_audit WHERE uf_id = 42 ORDER BY id'), [{ action: 'linked-existing' }, { action: 'already-linked' }])
    t.equal(await count(db, 'civicrm_uf_match'), 1)

    // A replayed link (from history, or stolen) and an expired one: a clear page, nothing changes.
    const before = await snapshot(db)
    const replay = await page.goto(firstLink!)
    t.equal(replay!.status(), 401)
    t.equal(await page.title(), 'This link has expired or was already used')
    t.match(await page.getByRole('alert').innerText(), 'already used')
    await shot(page, 'error-replayed')
    const iat = Math.floor(Date.now() / 1000) - 600
    const expired = createSigner({ key: SECRET, algorithm: 'HS256' })({ iss: SITE, aud: 'civicrm-bridge', iat, exp: iat + 60, jti: 'expired-browser', act: 'profile', sub: '42', username: 'ann', email: 'ann@example.org', name: 'Ann Lee' })
    const old = await page.goto(`${bridge}/civicrm/profile/edit?gid=1&assertion=${expired}`)
    t.equal(old!.status(), 401)
    t.match(await page.getByRole('alert').innerText(), 'expired')
    await shot(page, 'error-expired')
    t.equal(await snapshot(db), before, 'nothing changed')
  })

  t.test('membership: anonymous signup, registration, then the logged-in signup links', async (t) => {
    const context = await browser.newContext({ viewport: { width: 800, height: 600 } })
    t.teardown(() => context.close())
    const page = await context.newPage()

    await page.goto(`${bridge}/civicrm/membership?id=2`)
    t.equal(await page.title(), 'Join: Student')
    await page.getByLabel('Email').fill('bob@example.org')
    await page.getByLabel('First name').fill('Bob')
    await page.getByLabel('Last name').fill('Berg')
    await shot(page, 'membership')
    await page.getByRole('button', { name: 'Join' }).click()
    t.match(await page.getByRole('status').innerText(), /Thank you, Bob Berg\. Your Student membership starts today and runs until \d{4}-\d\d-\d\d\./)
    await shot(page, 'membership-thanks')
    const [bob] = await db.rows<{ id: number }>("SELECT contact_id AS id FROM civicrm_email WHERE email = 'bob@example.org'")
    t.match(await db.rows('SELECT status_id, membership_type_id FROM civicrm_membership WHERE contact_id = ?', [bob.id]), [{ status_id: 1, membership_type_id: 2 }])
    t.match(await db.rows('SELECT total_amount FROM civicrm_contribution WHERE contact_id = ?', [bob.id]), [{ total_amount: '50.00' }])
    t.equal(await count(db, 'civicrm_uf_match', `contact_id = ${bob.id}`), 0, 'no link')

    await db.sql.query("INSERT INTO jos_users (id, name, username, email, params) VALUES (43, 'Bob Berg', 'bob', 'bob@example.org', '')")
    await page.goto(`${joomla.url}/?user=43`)
    await page.getByRole('link', { name: 'Become a life member' }).click()
    await page.waitForURL(`${bridge}/civicrm/membership?id=3`)
    t.match(await page.locator('.who').innerText(), 'You are signed in as Bob Berg (bob@example.org).')
    await shot(page, 'membership-logged-in')
    t.same(await db.rows('SELECT uf_id, contact_id FROM civicrm_uf_match WHERE uf_id = 43'), [{ uf_id: 43, contact_id: bob.id }])
    await page.getByRole('button', { name: 'Join' }).click()
    t.match(await page.getByRole('status').innerText(), 'Your Lifetime membership starts today and never expires.')
    t.equal(await count(db, 'civicrm_membership', `contact_id = ${bob.id}`), 2, 'both memberships on one contact')
    t.equal(await count(db, 'civicrm_email', "email = 'bob@example.org'"), 1, 'no duplicate contact')
    t.equal(await count(db, 'civicrm_uf_match', 'uf_id = 43'), 1)
  })
})
