// Synchronize Users to Contacts as an administrator does it, in headless Chromium: log in,
// open the page, click the button, "Click OK to proceed", OK, the progress bar runs to the
// end and shows the final message; then the Change Log lists exactly the new contacts, and
// one of them opens. UPDATE_SCREENSHOTS=1 writes the pages to docs/screenshots/.
import t from 'tap'
import { testDatabase, buildTestApp, ADMIN_TOKEN, type TestDb, holdLocks } from './helper.js'
import { seedExample, SEED_MESSAGE } from './sync-helper.js'
import { launchChromium, shot } from './browser-helper.js'
import { lockKeys } from '../server/domain/link-user.js'

const count = async (db: TestDb, q: string) => Number((await db.rows<{ n: number }>(q))[0].n)

t.test('an administrator synchronizes users to contacts, then finds the new contacts in the Change Log', async (t) => {
  const db = await testDatabase(t)
  const { ann, bob, cy } = await seedExample(db)
  const app = await buildTestApp(t, db)
  const bridge = await app.listen({ host: '127.0.0.1', port: 0 })
  const browser = await launchChromium(t)
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } })
  t.teardown(() => context.close())
  const page = await context.newPage()

  // Log in: /admin asks for the token first.
  await page.goto(`${bridge}/admin`)
  await page.waitForURL(/\/admin\/login\?next=/)
  t.equal(await page.title(), 'Administrator login | CiviCRM bridge')
  await page.getByLabel('Administrator token').fill(ADMIN_TOKEN)
  await page.getByRole('button', { name: 'Log in' }).click()
  await page.waitForURL(`${bridge}/admin/sync`)
  t.equal(await page.title(), 'Synchronize Users to Contacts | CiviCRM bridge')
  t.match(await page.locator('main').innerText(), 'No synchronization has run yet.')

  // The button, then the confirm step.
  await page.getByRole('button', { name: 'Synchronize Users to Contacts' }).click()
  await page.waitForURL(/\/admin\/sync\/confirm\??$/)
  t.match(await page.getByRole('alert').innerText(), 'Click OK to proceed.')
  await shot(page, 'admin-sync-confirm')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job'), 0, 'nothing started before OK')

  // OK: user 44's lock held (a live event for that user), so the job page first shows it running.
  const { release } = await holdLocks(t, db.url, [lockKeys.user(44)])
  await page.getByRole('button', { name: 'OK' }).click()
  await page.waitForURL(/\/admin\/sync\/jobs\/\d+$/)
  const job = page.locator('#sync-job')
  t.equal(await job.getAttribute('data-status'), 'running')
  const bar = page.locator('#sync-progress')
  t.equal(await bar.getAttribute('max'), '5')
  t.equal(await bar.evaluate((el: HTMLProgressElement) => el.value), 0)
  t.equal(await page.locator('#sync-message').isHidden(), true, 'no message yet')
  await release()

  // The progress bar reaches the end and the final message appears.
  await page.locator('#sync-job[data-status="done"]').waitFor({ timeout: 30_000 })
  t.same(await bar.evaluate((el: HTMLProgressElement) => [el.value, el.max]), [5, 5], 'the bar is full')
  t.equal(await page.locator('#sync-status').innerText(), 'Completed: 5 of 5 users checked.')
  t.equal(await page.locator('#sync-message').innerText(), SEED_MESSAGE)
  t.equal(await page.locator('#sync-error').isHidden(), true)
  await shot(page, 'admin-sync-done')

  const links = await db.rows<{ uf_id: number, contact_id: number }>('SELECT uf_id, contact_id FROM civicrm_uf_match ORDER BY uf_id')
  t.same(links.map((l) => l.uf_id), [42, 43, 44, 45, 46], 'every user linked')
  t.same(links.slice(0, 3).map((l) => l.contact_id), [ann, bob, cy], 'three to their contacts')
  const [dana, eve] = [links[3].contact_id, links[4].contact_id]
  t.same(await db.rows("SELECT id, display_name FROM civicrm_contact WHERE contact_type = 'Individual' AND id > ? ORDER BY id", [cy]), [{ id: dana, display_name: 'Dana Berg' }, { id: eve, display_name: 'eve@example.org' }].sort((x, y) => x.id - y.id), 'two new contacts (their chunks may insert in either order)')
  t.same(await db.rows("SELECT entity_id FROM civicrm_log WHERE entity_table = 'civicrm_contact' ORDER BY entity_id"), [dana, eve].sort((x, y) => x - y).map((id) => ({ entity_id: id })), 'a change log row each')
  t.match(await db.rows('SELECT status, checked, matched, created, message FROM civibridge_sync_job'), [{ status: 'done', checked: 5, matched: 3, created: 2, message: SEED_MESSAGE }])

  // The Change Log for today: exactly the two new contacts, each a link to its details.
  await page.getByRole('link', { name: 'Find the new contacts in the Change Log' }).click()
  const today = new Date().toISOString().slice(0, 10)
  await page.waitForURL(`${bridge}/admin/change-log?from=${today}&to=${today}`)
  t.equal(await page.getByLabel('Modified from').inputValue(), today)
  t.equal(await page.locator('#change-count').innerText(), '2 contacts created or modified.')
  const rows = await page.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => {
    const a = tr.querySelector('a')!
    return { name: a.textContent, href: a.getAttribute('href'), change: tr.children[2].textContent, email: tr.children[3].textContent }
  }))
  t.same(rows.sort((a, b) => a.href!.localeCompare(b.href!)), [
    { name: 'Dana Berg', href: `/admin/contacts/${dana}`, change: 'Created', email: 'dana@example.org' },
    { name: 'eve@example.org', href: `/admin/contacts/${eve}`, change: 'Created', email: 'eve@example.org' },
  ].sort((a, b) => a.href.localeCompare(b.href)))
  await shot(page, 'admin-change-log')

  // One of them opens.
  await page.getByRole('link', { name: 'Dana Berg' }).click()
  await page.waitForURL(`${bridge}/admin/contacts/${dana}`)
  t.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Dana Berg')
  const main = await page.locator('main').innerText()
  t.match(main, 'dana@example.org (Home, primary)')
  t.match(main, 'User 45 (Dana@Example.org)')
  t.match(main, `contact record ${dana} saved`)
  await shot(page, 'admin-contact')

  // Log out: the pages ask for the token again.
  await page.getByRole('button', { name: 'Log out' }).click()
  await page.waitForURL(`${bridge}/admin/login`)
  await page.goto(`${bridge}/admin/sync`)
  await page.waitForURL(/\/admin\/login\?next=%2Fadmin%2Fsync$/)
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job'), 1, 'one job')
})
