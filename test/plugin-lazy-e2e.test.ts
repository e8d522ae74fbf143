// Lazy linking on CiviCRM's own pages, end to end per generation (1.5, 1.6-3.x, 4.x, 5.x/6.x):
// php-cli runs the generation's system plugin on onAfterRoute for a logged-in user's request to
// com_civicrm (joomla-plugin/tests/e2e/run-scenario.php, scenario "page"), against this
// repository's bridge on a real port and the real MariaDB; right after onAfterRoute the driver
// reads civicrm_uf_match as CiviCRM would when it runs. The money tables never change.
import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../server/http/app.js'
import { testDatabase, testConfig, insertContact, moneySnapshot, freePort, eventually, SECRET, SITE, type TestDb } from './helper.js'

const DRIVER = fileURLToPath(new URL('../joomla-plugin/tests/e2e/run-scenario.php', import.meta.url))
const PREFIX = 'jos_'
const OUTBOX = `${PREFIX}civicrm_bridge_outbox`
/** How much longer than its timeout a listener may take (curl's own overhead, a busy machine). */
const MARGIN_S = 0.75
const GENERATIONS = ['j15', 'j3', 'j4', 'j5'] as const
type Gen = typeof GENERATIONS[number]

interface User { id: number, username: string, email: string, name: string }
interface OutboxRow { jti: string, event: string, user_id: number, status: string, body: string }
interface Run {
  calls: Array<{ event: string, returned: unknown, seconds: number }>
  elapsed: number
  outbox: OutboxRow[]
  log: string[]
  error?: string
  civicrmFinds?: number[]
  session?: Record<string, string>
  drain?: { counts: { delivered: number, failed: number, pending: number } | null }
}

function php (gen: Gen, scenario: string, config: Record<string, unknown>): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile('php', [DRIVER, gen, scenario, JSON.stringify(config)], { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      let run: Run
      try { run = JSON.parse(stdout.trim().split('\n').pop() ?? '') } catch { reject(new Error(`${gen} ${scenario}: no JSON line ${stdout} ${stderr}`)); return }
      if (err || run.error) reject(new Error(`${gen} ${scenario}: ${run.error ?? err?.message} ${stderr}`))
      else resolve(run)
    })
  })
}

const count = async (db: TestDb, table: string, where = '1', params: unknown[] = []) =>
  Number((await db.rows<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params))[0].n)

t.jobs = GENERATIONS.length

for (const gen of GENERATIONS) {
  t.test(`${gen}: the system plugin links a logged-in user before CiviCRM's page runs`, async (t) => {
    const db = await testDatabase(t, { joomlaPrefix: PREFIX })
    let app: FastifyInstance | null = null
    let port = 0
    const start = async () => {
      app = await buildApp(testConfig(db.url))
      await app.listen({ host: '127.0.0.1', port })
      port = (app.server.address() as { port: number }).port
    }
    const stop = async () => { const a = app; app = null; await a?.close() }
    await start()
    t.teardown(stop)
    const bridgeUrl = () => `http://127.0.0.1:${port}`
    // The seed's story: user save and login forwarding are off (or were not installed yet).
    const config = (over: Record<string, unknown> = {}) => ({
      bridgeUrl: bridgeUrl(),
      secret: SECRET,
      siteId: SITE,
      prefix: PREFIX,
      params: { forward_save: '0', forward_login: '0' },
      dsn: `mysql:host=127.0.0.1;port=3306;dbname=${db.name};charset=utf8mb4`,
      dbUser: 'root',
      dbPassword: '',
      ...over,
    })
    const run = (scenario: string, user?: User, over: Record<string, unknown> = {}) => php(gen, scenario, config({ ...over, user }))
    const page = (user: User, request: Record<string, unknown>, session: Record<string, string> = {}, over: Record<string, unknown> = {}) =>
      run('page', user, { request, session, ...over })
    const eventsOf = (ufId: number) => db.rows<{ event: string, result: { action: string, contactId: number | null } }>(
      'SELECT event, result FROM civibridge_event WHERE uf_id = ? ORDER BY received_at, jti', [ufId])
    const clean = (t: Tap.Test, r: Run) => {
      t.same(r.calls.map((c) => c.event), ['onAfterRoute'])
      t.same(r.log.filter((l) => /PHP (Fatal|Warning|Notice|Deprecated)/.test(l)), [], 'no PHP error, warning, notice or deprecation')
    }

    await run('install')
    const money = await moneySnapshot(db)

    const ann: User = { id: 42, username: 'ann', email: 'ann@example.org', name: 'Ann Lee' }
    let annSession: Record<string, string> = {}

    await t.test('the seed\'s four steps: anonymous contact, registration not forwarded, login, CiviCRM contribution page: linked to that contact before CiviCRM runs', async (t) => {
      // 1. An anonymous contribution on CiviCRM's page made a contact (and CiviCRM's money rows).
      const contact = await insertContact(db, { first: 'Ann', last: 'Lee', emails: [{ email: 'ann@example.org', primary: true }] })
      // 2. Ann registers with that email; 3. logs in: forwarding is off, the bridge hears nothing.
      await run('register', ann)
      await run('login', ann)
      t.equal(await count(db, 'civibridge_event', 'uf_id = 42'), 0, 'nothing sent for the registration and the login')
      t.equal(await count(db, 'civicrm_uf_match', 'uf_id = 42'), 0, 'not linked yet')
      const contacts = await count(db, 'civicrm_contact')
      // 4. Her first request to a CiviCRM contribution page.
      const r = await page(ann, { task: 'civicrm/contribute/transact', id: '1', reset: '1' })
      clean(t, r)
      t.same(r.civicrmFinds, [contact], 'when CiviCRM runs, the user is linked to the contact of step 1')
      t.same(r.outbox, [])
      t.equal(await count(db, 'civicrm_contact'), contacts, 'no duplicate contact')
      t.match(await eventsOf(42), [{ event: 'onCivicrmContribution', result: { action: 'linked-existing', contactId: contact } }])
      t.same(await db.rows('SELECT `trigger`, action, contact_id FROM civibridge_audit WHERE uf_id = 42'), [{ trigger: 'contribution', action: 'linked-existing', contact_id: contact }])
      t.equal(Object.keys(r.session ?? {}).length, 1, 'the session remembers the link')
      annSession = r.session!
    })

    await t.test('an already-linked user\'s next CiviCRM page costs no call', async (t) => {
      const before = await count(db, 'civibridge_event')
      const r = await page(ann, { task: 'civicrm/contribute/transact', id: '1' }, annSession, { bridgeUrl: `http://127.0.0.1:${await freePort()}`, timeout: 5 })
      clean(t, r)
      t.ok(r.elapsed < 0.5, `answered from the session in ${r.elapsed.toFixed(3)} s (a call to the dead URL would have queued an event)`)
      t.same(r.outbox, [], 'nothing queued')
      t.equal(await count(db, 'civibridge_event'), before, 'nothing reached the bridge')
      t.same(r.civicrmFinds?.length, 1)
    })

    await t.test('a membership signup page (a contribution page with a membership block) and a profile page send their kinds', async (t) => {
      const bob: User = { id: 43, username: 'bob', email: 'bob@example.org', name: 'Bob Berg' }
      await run('register', bob)
      const m = await page(bob, { task: 'civicrm/contribute/transact', id: '2' })
      clean(t, m)
      t.equal(m.civicrmFinds?.length, 1, 'linked (a new contact) before CiviCRM runs')
      t.match(await eventsOf(43), [{ event: 'onCivicrmMembership', result: { action: 'created-contact' } }])
      const cat: User = { id: 44, username: 'cat', email: 'cat@example.org', name: 'Cat Fox' }
      await run('register', cat)
      const p = await page(cat, { task: 'civicrm/profile/edit', gid: '1', reset: '1' })
      clean(t, p)
      t.equal(p.civicrmFinds?.length, 1)
      t.same(await db.rows('SELECT `trigger` FROM civibridge_audit WHERE uf_id IN (43, 44) ORDER BY uf_id'), [{ trigger: 'membership' }, { trigger: 'profile' }])
    })

    await t.test('other pages, other CiviCRM paths and a com_civicrm menu item naming another task cost nothing', async (t) => {
      const dan: User = { id: 45, username: 'dan', email: 'dan@example.org', name: 'Dan Oak' }
      await run('register', dan)
      for (const request of [{ option: 'com_content', view: 'article', id: '1' }, { task: 'civicrm/event/info', id: '1' }, { task: 'civicrm/mailing/subscribe' }]) {
        const r = await page(dan, request)
        clean(t, r)
        t.same(r.civicrmFinds, [], JSON.stringify(request))
      }
      t.equal(await count(db, 'civibridge_event', 'uf_id = 45'), 0)
    })

    await t.test('with the bridge down the page opens within the timeout; the link arrives through the outbox', async (t) => {
      const eve: User = { id: 46, username: 'eve', email: 'eve@example.org', name: 'Eve Ng' }
      const contact = await insertContact(db, { first: 'Eve', last: 'Ng', emails: [{ email: 'eve@example.org', primary: true }] })
      await run('register', eve)
      await stop()
      const r = await page(eve, { task: 'civicrm/contribute/transact', id: '1' }, {}, { timeout: 1 })
      clean(t, r)
      t.ok(r.elapsed < 1 + MARGIN_S, `onAfterRoute returned in ${r.elapsed.toFixed(3)} s (timeout 1 s)`)
      t.same(r.civicrmFinds, [], 'not linked yet: CiviCRM runs anyway (and links by its own rule)')
      t.match(r.outbox, [{ event: 'onCivicrmContribution', user_id: 46, status: 'pending' }])
      t.equal(r.outbox.length, 1)
      const again = await page(eve, { task: 'civicrm/contribute/transact', id: '1' }, r.session, { timeout: 1 })
      t.equal(again.outbox.length, 1, 'the queued event is remembered in the session: no second row')
      await start()
      // A busy machine can time the restarted bridge's first answer out: the event then stays
      // pending for the next drain, as on a real site. Drained until nothing is pending.
      const counts = { delivered: 0, failed: 0, pending: 1 }
      await eventually('the queued event delivered', async () => {
        await db.sql.query(`UPDATE ${OUTBOX} SET next_attempt_at = 0`)
        const drained = (await run('drain')).drain?.counts
        if (!drained) return false
        counts.delivered += drained.delivered
        counts.failed += drained.failed
        counts.pending = drained.pending
        return drained.pending === 0
      })
      t.same(counts, { delivered: 1, failed: 0, pending: 0 }, 'delivered once, never given up')
      t.same(await db.rows('SELECT contact_id FROM civicrm_uf_match WHERE uf_id = 46'), [{ contact_id: contact }])
      t.same(await db.rows('SELECT `trigger`, action FROM civibridge_audit WHERE uf_id = 46'), [{ trigger: 'contribution', action: 'linked-existing' }])
    })

    await t.test('the money tables are unchanged', async (t) => {
      t.equal(await moneySnapshot(db), money)
    })
  })
}
