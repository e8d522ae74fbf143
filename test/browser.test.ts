// The seed's tip end to end in a real browser (Debian's headless Chromium through
// playwright-core), on the bridge's one remaining page: a contact from an anonymous contribution
// made on CiviCRM's own page, a Joomla registration the bridge never hears of, then the
// logged-in user's "Edit my details" link joins the user to the contact of the first step; a
// second visit, and a replayed or expired link. (CiviCRM's own contribution and membership pages
// link the user through the plugin's page events: test/plugin-lazy-e2e.test.ts.)
// UPDATE_SCREENSHOTS=1 writes each page to docs/screenshots/ for the README.
import t from 'tap'
import { createServer, type Server } from 'node:http'
import { createSigner } from 'fast-jwt'
import { signAssertion } from '../server/protocol/sign.js'
import { testDatabase, buildTestApp, insertContact, snapshot, moneySnapshot, SECRET, SITE, type TestDb } from './helper.js'
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
${link('profile', '/civicrm/profile/edit?gid=1', 'Edit my details')}</ul>`)
    }, /* c8 ignore next */ () => { res.writeHead(500); res.end() })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, server }
}

t.test('the seed\'s four steps in headless Chromium', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db, { JOOMLA_SITE_NAME: 'Example Association', JOOMLA_SITE_URL: 'https://www.example.org/' })
  const bridge = await app.listen({ host: '127.0.0.1', port: 0 })
  const joomla = await fakeJoomla(db, bridge)
  t.teardown(() => new Promise((resolve) => joomla.server.close(resolve)))
  const browser = await launchChromium(t)

  t.test('a contact from CiviCRM\'s own contribution page, a registration the bridge never heard of, then "Edit my details" links', async (t) => {
    const context = await browser.newContext({ viewport: { width: 800, height: 700 } })
    t.teardown(() => context.close())
    const page = await context.newPage()

    // 1. An anonymous visitor contributed with ann@example.org on CiviCRM's own contribution
    //    page: CiviCRM made the contact and its money rows (arranged here as CiviCRM writes them).
    const contact = await insertContact(db, { first: 'Ann', last: 'Lee', emails: [{ email: 'ann@example.org', primary: true }] })
    await db.sql.query("INSERT INTO civicrm_contribution (contact_id, financial_type_id, contribution_page_id, total_amount, currency, contribution_status_id, invoice_id) VALUES (?, 1, 1, 25.00, 'EUR', 1, 'inv-browser-1')", [contact])
    const step1 = { id: contact }
    const money = await moneySnapshot(db)
    t.equal(await count(db, 'civicrm_uf_match'), 0, 'no link')

    // 2. A Joomla user registers with the same email; save forwarding is off.
    await db.sql.query("INSERT INTO jos_users (id, name, username, email, params) VALUES (42, 'Ann Lee', 'ann', 'ann@example.org', '')")
    t.equal(await count(db, 'civicrm_uf_match'), 0, 'still no link')

    // 3. The user logs in and opens the "Edit my details" menu link.
    await page.goto(`${joomla.url}/?user=42`)
    const firstLink = await page.getByRole('link', { name: 'Edit my details' }).getAttribute('href')
    await page.getByRole('link', { name: 'Edit my details' }).click()
    // The link lands on a page naming the account; only the person's click signs them in.
    await page.waitForURL(/\/civicrm\/profile\/edit\?gid=1&assertion=/)
    t.equal(await page.title(), 'Continue to your details | Example Association')
    t.equal(await count(db, 'civicrm_uf_match'), 0, 'opening the link links nobody')
    await shot(page, 'sign-in-continue')
    await page.getByRole('button', { name: 'Continue as Ann Lee' }).click()
    await page.waitForURL(`${bridge}/civicrm/profile/edit?gid=1`)

    // 4. The profile shows the contact of step 1; exactly one link joins the user to it.
    t.equal(await page.getByLabel('First name').inputValue(), 'Ann')
    t.equal(await page.getByLabel('Last name').inputValue(), 'Lee')
    t.equal(await page.getByLabel('Email').inputValue(), 'ann@example.org')
    t.equal(await page.getByRole('link', { name: 'Back to Example Association' }).getAttribute('href'), 'https://www.example.org/', 'the site named, with a link back')
    t.equal(await page.title(), 'Name and Address | Example Association')
    await shot(page, 'profile-edit')
    t.same(await db.rows('SELECT uf_id, uf_name, contact_id FROM civicrm_uf_match'), [{ uf_id: 42, uf_name: 'ann@example.org', contact_id: step1.id }])
    t.equal(await count(db, 'civicrm_contribution', `contact_id = ${step1.id}`), 1, 'the contribution belongs to that contact')
    t.equal(await count(db, 'civicrm_email', "email = 'ann@example.org'"), 1, 'no duplicate contact')
    t.equal(await count(db, 'civicrm_contact', "contact_type = 'Individual'"), 1)

    // The Email emptied: refused, naming the field by its label; nothing saved.
    await page.getByLabel('Email').fill('')
    await page.getByRole('button', { name: 'Save' }).click()
    t.equal(await page.getByRole('alert').innerText(), 'Please correct this: Email is required')
    await shot(page, 'profile-email-required')
    t.same(await db.rows('SELECT email FROM civicrm_email WHERE contact_id = ?', [step1.id]), [{ email: 'ann@example.org' }])

    // Submit saves and confirms.
    await page.getByLabel('Email').fill('ann@example.org')
    await page.getByLabel('First name').fill('Annie')
    await page.getByRole('button', { name: 'Save' }).click()
    t.match(await page.getByRole('status').innerText(), 'Your details have been saved.')
    await shot(page, 'profile-saved')
    t.match(await db.rows('SELECT display_name FROM civicrm_contact WHERE id = ?', [step1.id]), [{ display_name: 'Annie Lee' }])

    // A second visit is already linked.
    await page.goto(`${joomla.url}/?user=42`)
    await page.getByRole('link', { name: 'Edit my details' }).click()
    await page.getByRole('button', { name: 'Continue as Ann Lee' }).click()
    await page.waitForURL(`${bridge}/civicrm/profile/edit?gid=1`)
    t.equal(await page.getByLabel('First name').inputValue(), 'Annie')
    t.same(await db.rows('SELECT action FROM civibridge_audit WHERE uf_id = 42 ORDER BY id'), [{ action: 'linked-existing' }, { action: 'already-linked' }])
    t.equal(await count(db, 'civicrm_uf_match'), 1)

    // A replayed link (from history, or stolen) and an expired one: a clear page, nothing changes.
    const before = await snapshot(db)
    const replay = await page.goto(firstLink!)
    t.equal(replay!.status(), 401)
    t.equal(await page.title(), 'This link has expired or was already used | Example Association')
    t.match(await page.getByRole('alert').innerText(), 'already used')
    await shot(page, 'error-replayed')
    const iat = Math.floor(Date.now() / 1000) - 600
    const expired = createSigner({ key: SECRET, algorithm: 'HS256' })({ iss: SITE, aud: 'civicrm-bridge', iat, exp: iat + 60, jti: 'expired-browser', act: 'profile', sub: '42', username: 'ann', email: 'ann@example.org', name: 'Ann Lee' })
    const old = await page.goto(`${bridge}/civicrm/profile/edit?gid=1&assertion=${expired}`)
    t.equal(old!.status(), 401)
    t.match(await page.getByRole('alert').innerText(), 'expired')
    await shot(page, 'error-expired')
    t.equal(await snapshot(db), before, 'nothing changed')
    t.equal(await moneySnapshot(db), money, 'the money tables are unchanged')
  })
})
