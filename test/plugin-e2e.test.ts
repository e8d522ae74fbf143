// The Joomla plugin end to end, per generation (1.5, 1.6-3.x, 4.x, 5.x/6.x): php-cli runs the
// adapter with its Joomla stubs (joomla-plugin/tests/e2e/run-scenario.php, one process per
// Joomla request) against this repository's bridge listening on a real port, on the real
// MariaDB. Joomla's #__users and the plugin's outbox live in the bridge's fixture database
// (prefix jos_). Each generation has its own database and bridge; they run concurrently.
import t from 'tap'
import { execFile } from 'node:child_process'
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../server/http/app.js'
import { testDatabase, testConfig, insertContact, freePort, SECRET, SITE, type TestDb } from './helper.js'

const DRIVER = fileURLToPath(new URL('../joomla-plugin/tests/e2e/run-scenario.php', import.meta.url))
const PREFIX = 'jos_'
const OUTBOX = `${PREFIX}civicrm_bridge_outbox`
/** How much longer than its timeout a listener may take (curl's own overhead, a busy machine). */
const MARGIN_S = 0.75

type Gen = 'j15' | 'j3' | 'j4' | 'j5'
const GENERATIONS: Array<{ gen: Gen, label: string }> = [
  { gen: 'j15', label: 'Joomla 1.5' },
  { gen: 'j3', label: 'Joomla 1.6-3.x' },
  { gen: 'j4', label: 'Joomla 4.x' },
  { gen: 'j5', label: 'Joomla 5.x/6.x' },
]
/** The event names each generation sends (1.5 has its own). */
const NAMES: Record<Gen, { save: string, login: string, delete: string }> = {
  j15: { save: 'onAfterStoreUser', login: 'onLoginUser', delete: 'onAfterDeleteUser' },
  j3: { save: 'onUserAfterSave', login: 'onUserLogin', delete: 'onUserAfterDelete' },
  j4: { save: 'onUserAfterSave', login: 'onUserLogin', delete: 'onUserAfterDelete' },
  j5: { save: 'onUserAfterSave', login: 'onUserLogin', delete: 'onUserAfterDelete' },
}

interface User { id: number, username: string, email: string, name: string }
interface Call { event: string, returned: unknown, seconds: number }
interface OutboxRow { id: number, jti: string, event: string, user_id: number, body: string, status: string, attempts: number, next_attempt_at: number, last_error: string | null }
interface Drain { via: 'cron' | 'task', exit: number, output: string, counts: { delivered: number, failed: number, pending: number } | null }
interface Run { generation: Gen, scenario: string, calls: Call[], elapsed: number, outbox: OutboxRow[], drain?: Drain, panel?: string, log: string[], error?: string }

/** Runs one scenario (one Joomla request) in php-cli; resolves with the driver's JSON line. */
function php (gen: Gen, scenario: string, config: Record<string, unknown>): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile('php', [DRIVER, gen, scenario, JSON.stringify(config)], { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const line = stdout.trim().split('\n').pop() ?? ''
      let run: Run
      try { run = JSON.parse(line) } catch { reject(new Error(`${gen} ${scenario}: no JSON line (${err?.message ?? ''}) ${stdout} ${stderr}`)); return }
      if (err || run.error) reject(new Error(`${gen} ${scenario}: ${run.error ?? err?.message} ${stderr}`))
      else resolve(run)
    })
  })
}

/** The bridge of this repository on a real port; stop() closes it, start() listens again (same port, same database). */
class Bridge {
  app: FastifyInstance | null = null
  port = 0
  constructor (private readonly db: TestDb) {}
  get url (): string { return `http://127.0.0.1:${this.port}` }
  async start (): Promise<void> {
    const app = await buildApp(testConfig(this.db.url))
    await app.listen({ host: '127.0.0.1', port: this.port })
    this.port = (app.server.address() as { port: number }).port
    this.app = app
  }

  async stop (): Promise<void> {
    const app = this.app
    this.app = null
    await app?.close()
  }

  /** The write-behind log holds read-only decisions (a linked user's login) for a few ms. */
  async flush (): Promise<void> { await this.app!.eventLog.flush() }
}

/**
 * A misbehaving bridge: answers 500, a proxy's HTML error page, bytes that are not HTTP, nothing
 * at all, or (a wrong bridge URL: a CMS page, a captive portal) 200 with an HTML page.
 */
async function badBridge (t: Tap.Test): Promise<{ url: string, mode: string, requests: number }> {
  const state = { url: '', mode: '500', requests: 0 }
  const sockets = new Set<Socket>()
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.requests++
    req.resume()
    req.on('end', () => {
      if (state.mode === '500') {
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end('{"error":"Internal Server Error","message":"boom"}')
      } else if (state.mode === 'html') {
        res.writeHead(502, { 'content-type': 'text/html' })
        res.end('<html><body><h1>502 Bad Gateway</h1>\u0000\u00ff</body></html>')
      } else if (state.mode === 'html200') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        res.end('<!DOCTYPE html><html><head><title>Home</title></head><body><h1>Welcome to our site</h1></body></html>')
      } else if (state.mode === 'garbage') {
        req.socket.end(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a, 0x66, 0x6f, 0x6f]))
      }
      // 'hang': never answers; the socket is destroyed at teardown.
    })
  })
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  t.teardown(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy()
    server.close(() => resolve())
  }))
  return state
}

const count = async (db: TestDb, table: string, where = '1', params: unknown[] = []) =>
  Number((await db.rows<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params))[0].n)

t.jobs = GENERATIONS.length

for (const { gen, label } of GENERATIONS) {
  t.test(`${label} (${gen}): the plugin in php-cli against the real bridge and MariaDB`, async (t) => {
    const db = await testDatabase(t, { joomlaPrefix: PREFIX })
    const bridge = new Bridge(db)
    await bridge.start()
    t.teardown(() => bridge.stop())
    const names = NAMES[gen]
    /** What a listener returns to Joomla when it carries on: true on 1.5-4.x, nothing (void) on 5.x's typed listeners. */
    const carriesOn = gen === 'j5' ? null : true

    const config = (over: Record<string, unknown> = {}) => ({
      bridgeUrl: bridge.url,
      secret: SECRET,
      siteId: SITE,
      prefix: PREFIX,
      dsn: `mysql:host=127.0.0.1;port=3306;dbname=${db.name};charset=utf8mb4`,
      dbUser: 'root',
      dbPassword: '',
      ...over,
    })
    const run = (scenario: string, user?: User, over: Record<string, unknown> = {}) => php(gen, scenario, config({ ...over, user }))
    const listenersCarriedOn = (t: Tap.Test, r: Run) => {
      const fired = r.calls.filter((c) => c.returned !== 'not-listening')
      t.ok(fired.length > 0, 'at least one listener ran')
      for (const c of fired) t.equal(c.returned, carriesOn, `${c.event} returned ${JSON.stringify(carriesOn)}`)
      t.same(r.log.filter((l) => /PHP (Fatal|Warning|Notice|Deprecated)/.test(l)), [], 'no PHP error, warning, notice or deprecation')
    }
    const eventsOf = (ufId: number) => db.rows<{ jti: string, event: string, result: { action: string, contactId: number | null, reason: string | null } }>(
      'SELECT jti, event, result FROM civibridge_event WHERE uf_id = ? ORDER BY received_at, jti', [ufId])
    const outbox = () => db.rows<OutboxRow>(`SELECT * FROM ${OUTBOX} ORDER BY id`)

    await run('install')

    const ann: User = { id: 42, username: 'ann', email: 'ann@example.org', name: 'Ann Lee' }
    const bob: User = { id: 43, username: 'bob', email: 'bob@example.org', name: 'Bob Berg' }

    await t.test('1a. a registration whose email matches a contact links the user to that contact', async (t) => {
      const contact = await insertContact(db, { first: 'Ann', last: 'Lee', emails: [{ email: 'Ann@Example.org', primary: true }] })
      const contactsBefore = await count(db, 'civicrm_contact')
      const r = await run('register', ann)
      listenersCarriedOn(t, r)
      t.same(r.outbox, [], 'nothing queued: the bridge took it')
      t.same(await db.rows(`SELECT id, username, email FROM ${PREFIX}users WHERE id = 42`), [{ id: 42, username: 'ann', email: 'ann@example.org' }], 'Joomla stored the user')
      t.same(await db.rows('SELECT domain_id, uf_id, uf_name, contact_id FROM civicrm_uf_match WHERE uf_id = 42'), [{ domain_id: 1, uf_id: 42, uf_name: 'ann@example.org', contact_id: contact }])
      t.equal(await count(db, 'civicrm_contact'), contactsBefore, 'no contact created')
      t.match(await eventsOf(42), [{ event: names.save, result: { action: 'linked-existing', contactId: contact } }])
      t.same(await db.rows('SELECT `trigger`, action, contact_id FROM civibridge_audit WHERE uf_id = 42'), [{ trigger: 'save', action: 'linked-existing', contact_id: contact }])
    })

    await t.test('1b. a registration with a new email creates an Individual, its primary email, a civicrm_log row and the link', async (t) => {
      const r = await run('register', bob)
      listenersCarriedOn(t, r)
      t.same(r.outbox, [])
      const [link] = await db.rows<{ uf_name: string, contact_id: number }>('SELECT uf_name, contact_id FROM civicrm_uf_match WHERE uf_id = 43')
      t.equal(link?.uf_name, 'bob@example.org')
      const id = link.contact_id
      t.same(await db.rows('SELECT contact_type, first_name, last_name, display_name, sort_name, is_deleted FROM civicrm_contact WHERE id = ?', [id]),
        [{ contact_type: 'Individual', first_name: 'Bob', last_name: 'Berg', display_name: 'Bob Berg', sort_name: 'Berg, Bob', is_deleted: 0 }])
      t.same(await db.rows('SELECT email, is_primary, location_type_id FROM civicrm_email WHERE contact_id = ?', [id]), [{ email: 'bob@example.org', is_primary: 1, location_type_id: 1 }])
      t.same(await db.rows("SELECT entity_id, modified_id FROM civicrm_log WHERE entity_table = 'civicrm_contact' AND entity_id = ?", [id]), [{ entity_id: id, modified_id: id }])
      t.match(await eventsOf(43), [{ event: names.save, result: { action: 'created-contact', contactId: id } }])
    })

    await t.test('2. an email change (before-save old, after-save new) updates uf_name and the contact\'s primary email', async (t) => {
      const [{ contact_id: id }] = await db.rows<{ contact_id: number }>('SELECT contact_id FROM civicrm_uf_match WHERE uf_id = 43')
      const r = await run('email-change', { ...bob, email: 'bob.berg@example.net' })
      listenersCarriedOn(t, r)
      t.same(r.outbox, [])
      t.same(await db.rows('SELECT uf_name, contact_id FROM civicrm_uf_match WHERE uf_id = 43'), [{ uf_name: 'bob.berg@example.net', contact_id: id }])
      t.same(await db.rows('SELECT email FROM civicrm_email WHERE contact_id = ? AND is_primary = 1', [id]), [{ email: 'bob.berg@example.net' }])
      t.equal(await count(db, 'civicrm_email', 'contact_id = ?', [id]), 1, 'the primary email row was changed, not added')
      t.match((await eventsOf(43)).at(-1), { event: names.save, result: { action: 'already-linked', contactId: id, reason: 'email-updated' } })
    })

    await t.test('3. a login of a linked user is answered already-linked, once, and audited', async (t) => {
      const [{ contact_id: id }] = await db.rows<{ contact_id: number }>('SELECT contact_id FROM civicrm_uf_match WHERE uf_id = 42')
      const r = await run('login', ann)
      listenersCarriedOn(t, r)
      t.same(r.outbox, [])
      await bridge.flush()
      const logins = (await eventsOf(42)).filter((e) => e.event === names.login)
      t.match(logins, [{ result: { action: 'already-linked', contactId: id } }], 'the login reached the bridge exactly once')
      t.same(await db.rows("SELECT action, contact_id FROM civibridge_audit WHERE uf_id = 42 AND `trigger` = 'login'"), [{ action: 'already-linked', contact_id: id }])
      t.equal(await count(db, 'civicrm_uf_match', 'uf_id = 42'), 1)
    })

    await t.test('4. a delete (before-delete, after-delete) removes the link and keeps the contact', async (t) => {
      const [{ contact_id: id }] = await db.rows<{ contact_id: number }>('SELECT contact_id FROM civicrm_uf_match WHERE uf_id = 43')
      const r = await run('delete', bob)
      listenersCarriedOn(t, r)
      t.same(r.outbox, [])
      t.equal(await count(db, `${PREFIX}users`, 'id = 43'), 0, 'Joomla deleted the user')
      t.equal(await count(db, 'civicrm_uf_match', 'uf_id = 43'), 0, 'the link is gone')
      t.same(await db.rows('SELECT is_deleted FROM civicrm_contact WHERE id = ?', [id]), [{ is_deleted: 0 }], 'the contact stays')
      t.equal(await count(db, 'civicrm_email', 'contact_id = ?', [id]), 1)
      t.match((await eventsOf(43)).at(-1), { event: names.delete, result: { action: 'unlinked', contactId: id } })
      t.equal(await count(db, 'civibridge_user_tombstone', 'uf_id = 43'), 1)
    })

    await t.test('5. with the bridge stopped a login is queued at once; one drain after the restart delivers it exactly once, a second does nothing', async (t) => {
      const cat: User = { id: 44, username: 'cat', email: 'cat@example.org', name: 'Cat Fox' }
      await db.sql.query(`INSERT INTO ${PREFIX}users (id, name, username, email, params) VALUES (?, ?, ?, ?, '')`, [cat.id, cat.name, cat.username, cat.email])
      await bridge.stop()
      const r = await run('login', cat, { timeout: 2 })
      listenersCarriedOn(t, r)
      t.ok(r.elapsed < 2 + MARGIN_S, `the login returned in ${r.elapsed.toFixed(3)} s (timeout 2 s)`)
      t.match(r.outbox, [{ event: names.login, user_id: 44, status: 'pending', attempts: 0, last_error: /^network: / }])
      t.equal(r.outbox.length, 1)
      const jti = r.outbox[0].jti
      t.equal(await count(db, 'civibridge_event', 'uf_id = 44'), 0, 'the bridge never saw it')

      await bridge.start()
      // The row waits out its back-off (30 s): make it due now instead of waiting.
      await db.sql.query(`UPDATE ${OUTBOX} SET next_attempt_at = 0`)
      const first = await run('drain')
      t.equal(first.drain!.via, gen === 'j15' || gen === 'j3' ? 'cron' : 'task')
      t.equal(first.drain!.exit, 0, first.drain!.output)
      t.same(first.drain!.counts, { delivered: 1, failed: 0, pending: 0 })
      t.same(first.outbox, [], 'the outbox is empty')
      t.same(await db.rows('SELECT event, uf_id FROM civibridge_event WHERE jti = ?', [jti]), [{ event: names.login, uf_id: 44 }], 'the bridge has the jti once')
      t.equal(await count(db, 'civicrm_uf_match', 'uf_id = 44'), 1, 'the link exists once')
      const eventsBefore = await count(db, 'civibridge_event')

      const second = await run('drain')
      t.same(second.drain!.counts, { delivered: 0, failed: 0, pending: 0 }, 'a second drain has nothing to do')
      t.equal(await count(db, 'civibridge_event'), eventsBefore, 'nothing more reached the bridge')
      t.equal(await count(db, 'civibridge_event', 'jti = ?', [jti]), 1)
      t.equal(await count(db, 'civicrm_uf_match', 'uf_id = 44'), 1)
    })

    await t.test('6a. a user without an email is skipped with a reason and no contact is created', async (t) => {
      const contacts = await count(db, 'civicrm_contact')
      const r = await run('register', { id: 45, username: 'noemail', email: '', name: 'No Email' })
      listenersCarriedOn(t, r)
      t.same(r.outbox, [], 'delivered (the bridge answered), not queued')
      await bridge.flush()
      t.match(await eventsOf(45), [{ event: names.save, result: { action: 'skipped', contactId: null, reason: 'missing-email' } }])
      t.same(await db.rows('SELECT action, reason FROM civibridge_audit WHERE uf_id = 45'), [{ action: 'skipped', reason: 'missing-email' }])
      t.equal(await count(db, 'civicrm_contact'), contacts, 'no contact created')
      t.equal(await count(db, 'civicrm_uf_match', 'uf_id = 45'), 0)
    })

    await t.test('6b. a name with 4-byte UTF-8 (emoji) reaches CiviCRM intact', async (t) => {
      const r = await run('register', { id: 46, username: 'unicorn', email: 'uni@example.org', name: 'Ana🦄 Pérez' })
      listenersCarriedOn(t, r)
      t.same(r.outbox, [])
      const [{ contact_id: id }] = await db.rows<{ contact_id: number }>('SELECT contact_id FROM civicrm_uf_match WHERE uf_id = 46')
      t.same(await db.rows('SELECT first_name, middle_name, last_name, display_name, sort_name FROM civicrm_contact WHERE id = ?', [id]),
        [{ first_name: 'Ana🦄', middle_name: null, last_name: 'Pérez', display_name: 'Ana🦄 Pérez', sort_name: 'Pérez, Ana🦄' }])
      t.same(await db.rows(`SELECT name FROM ${PREFIX}users WHERE id = 46`), [{ name: 'Ana🦄 Pérez' }])
    })

    await t.test('6c. a 400-character name creates a contact with each name part cut to 64 and display/sort names to 128 characters', async (t) => {
      // 150 + 1 + 99 + 1 + 149 = 400 characters (the bridge refuses 401); multi-byte, so cuts count characters, not bytes.
      const name = `${'Ö'.repeat(150)} ${'M'.repeat(99)} ${'L'.repeat(149)}`
      t.equal([...name].length, 400)
      const r = await run('register', { id: 47, username: 'longname', email: 'long@example.org', name })
      listenersCarriedOn(t, r)
      t.same(r.outbox, [])
      const [{ contact_id: id }] = await db.rows<{ contact_id: number }>('SELECT contact_id FROM civicrm_uf_match WHERE uf_id = 47')
      const [first, middle, last] = ['Ö'.repeat(64), 'M'.repeat(64), 'L'.repeat(64)]
      t.same(await db.rows('SELECT first_name, middle_name, last_name, display_name, sort_name FROM civicrm_contact WHERE id = ?', [id]), [{
        first_name: first,
        middle_name: middle,
        last_name: last,
        display_name: `${first} ${last}`.slice(0, 128),
        sort_name: `${last}, ${first}`.slice(0, 128),
      }])
    })

    // The 1.5 outbox table is utf8 (3-byte; CivicrmBridgeJ15_Db) and any site's may be: the body
    // is ASCII-only JSON (\uXXXX escapes, surrogate pairs for 4-byte characters), so it survives.
    await t.test('6d. a 4-byte UTF-8 name queued while the bridge is down survives the outbox and is delivered intact', async (t) => {
      const r = await run('register', { id: 48, username: 'fox', email: 'fox@example.org', name: 'Zoë🦊 Fuchs' }, { bridgeUrl: `http://127.0.0.1:${await freePort()}` })
      listenersCarriedOn(t, r)
      t.match(r.outbox, [{ event: names.save, user_id: 48, status: 'pending' }], 'queued')
      t.equal(r.outbox.length, 1)
      const body = r.outbox[0]?.body ?? ''
      t.match(body, /^[\x20-\x7e]+$/, 'the stored body is ASCII only')
      t.ok(body.includes('"name":"Zo\\u00eb\\ud83e\\udd8a Fuchs"'), `4-byte characters as a surrogate pair: ${body}`)
      t.equal(JSON.parse(body || '{}').user?.name, 'Zoë🦊 Fuchs', 'the stored body keeps the name')
      await db.sql.query(`UPDATE ${OUTBOX} SET next_attempt_at = 0 WHERE user_id = 48`)
      const drained = await run('drain')
      t.same(drained.drain!.counts, { delivered: 1, failed: 0, pending: 0 })
      t.same(drained.outbox, [])
      const [link] = await db.rows<{ contact_id: number }>('SELECT contact_id FROM civicrm_uf_match WHERE uf_id = 48')
      t.same(await db.rows('SELECT first_name, last_name, display_name FROM civicrm_contact WHERE id = ?', [link?.contact_id]),
        [{ first_name: 'Zoë🦊', last_name: 'Fuchs', display_name: 'Zoë🦊 Fuchs' }])
    })

    await t.test('6e. a bridge answering 500, an HTML error page, non-HTTP bytes or nothing: the listener returns within the timeout, the event stays pending', async (t) => {
      const bad = await badBridge(t)
      const timeout = 1
      const kept: string[] = []
      for (const mode of ['500', 'html', 'garbage', 'hang']) {
        bad.mode = mode
        const before = bad.requests
        const eventsBefore = await count(db, 'civibridge_event')
        const r = await run('login', ann, { bridgeUrl: bad.url, timeout })
        listenersCarriedOn(t, r)
        t.ok(r.elapsed < timeout + MARGIN_S, `${mode}: the login returned in ${r.elapsed.toFixed(3)} s (timeout ${timeout} s)`)
        t.equal(bad.requests - before, 1, `${mode}: one attempt`)
        const rows = await outbox()
        const row = rows.find((o) => !kept.includes(o.jti))
        t.equal(rows.length, kept.length + 1, `${mode}: one more row in the outbox`)
        t.match(row, { event: names.login, user_id: 42, status: 'pending', attempts: 0 }, `${mode}: kept as pending`)
        t.match(row?.last_error, { 500: /^HTTP 500 Internal Server Error boom$/, html: /^HTTP 502$/, garbage: /^network: /, hang: /^network: .*timed out/i }[mode], `${mode}: last_error says why`)
        t.ok(Number(row?.next_attempt_at) > Date.now() / 1000, `${mode}: retried later, with back-off`)
        t.equal(await count(db, 'civibridge_event'), eventsBefore, `${mode}: the real bridge saw nothing`)
        kept.push(row!.jti)
      }
    })

    await t.test('6f. a wrong bridge URL answering 200 with an HTML page: the event stays pending, a warning says why, and the right URL delivers it', async (t) => {
      const bad = await badBridge(t)
      bad.mode = 'html200'
      const eventsBefore = await count(db, 'civibridge_event')
      const earlier = new Set((await outbox()).map((o) => o.jti))
      const r = await run('login', ann, { bridgeUrl: bad.url, timeout: 1 })
      listenersCarriedOn(t, r)
      t.equal(bad.requests, 1, 'one attempt')
      const added = r.outbox.filter((o) => !earlier.has(o.jti))
      t.equal(added.length, 1, 'one more row in the outbox')
      const row = added[0]
      t.match(row, { event: names.login, user_id: 42, status: 'pending', attempts: 0, last_error: /^HTTP 200 not from the bridge/ }, 'kept as pending, not dropped')
      if (row === undefined) return
      t.ok(Number(row?.next_attempt_at) > Date.now() / 1000, 'retried later, with back-off')
      const warning = new RegExp(`\\[civicrm-bridge\\] warning: the bridge URL ${bad.url.replace(/[.]/g, '\\.')} did not answer like the bridge`)
      t.ok(r.log.some((l) => warning.test(l)), `the log says the URL did not answer like the bridge: ${r.log.join(' | ')}`)
      t.equal(await count(db, 'civibridge_event'), eventsBefore, 'the real bridge saw nothing')

      // The retry against the same wrong URL keeps it pending, with one more attempt.
      await db.sql.query(`UPDATE ${OUTBOX} SET next_attempt_at = 0 WHERE jti = ?`, [row!.jti])
      const again = await run('drain', undefined, { bridgeUrl: bad.url })
      t.equal(bad.requests, 2, 'the drain tried it once')
      // pending: every row still waiting (the earlier tests' rows too), not only the one tried.
      t.same(again.drain!.counts, { delivered: 0, failed: 0, pending: await count(db, OUTBOX, "status = 'pending'") })
      t.ok(again.drain!.counts!.pending > 1, 'the rows not due yet are counted')
      t.match(again.outbox.find((o) => o.jti === row!.jti), { status: 'pending', attempts: 1, last_error: /^HTTP 200 not from the bridge/ })
      t.equal(await count(db, 'civibridge_event'), eventsBefore, 'the real bridge still saw nothing')

      // With the right URL the same event (same jti) is delivered.
      await db.sql.query(`UPDATE ${OUTBOX} SET next_attempt_at = 0 WHERE jti = ?`, [row!.jti])
      const fixed = await run('drain')
      t.same(fixed.drain!.counts, { delivered: 1, failed: 0, pending: await count(db, OUTBOX, "status = 'pending'") })
      t.notOk(fixed.outbox.some((o) => o.jti === row!.jti), 'gone from the outbox')
      t.same((await outbox()).map((o) => o.jti).filter((j) => !earlier.has(j)), [], 'nothing else queued')
      await bridge.flush()
      t.same(await db.rows('SELECT event, uf_id FROM civibridge_event WHERE jti = ?', [row!.jti]), [{ event: names.login, uf_id: 42 }], 'the bridge has the jti once')
    })

    await t.test('7a. an admin blocking 5 users while the bridge hangs: one delivery attempt, the other 4 go straight to the outbox', async (t) => {
      const bad = await badBridge(t)
      bad.mode = 'hang'
      const users = [60, 61, 62, 63, 64].map((id) => ({ id, username: `b${id}`, email: `b${id}@example.org`, name: `Blocked ${id}` }))
      for (const u of users) await db.sql.query(`INSERT INTO ${PREFIX}users (id, name, username, email, params) VALUES (?, ?, ?, ?, '')`, [u.id, u.name, u.username, u.email])
      const earlier = new Set((await outbox()).map((o) => o.jti))
      const eventsBefore = await count(db, 'civibridge_event')
      const r = await php(gen, 'block-many', config({ bridgeUrl: bad.url, timeout: 1, users }))
      listenersCarriedOn(t, r)
      t.equal(bad.requests, 1, 'the hanging bridge got one request for five events (one timeout, not five)')
      const added = r.outbox.filter((o) => !earlier.has(o.jti))
      t.same(added.map((o) => [o.event, o.user_id, o.status]), users.map((u) => [names.save, u.id, 'pending']), 'all five queued, in order')
      t.match(added[0]?.last_error, /^network: .*timed out/i, 'the first one timed out')
      for (const o of added.slice(1)) t.match(o.last_error, /^network: not tried: the bridge did not answer earlier in this request/, `user ${o.user_id}: not tried`)
      t.same(added.map((o) => JSON.parse(o.body).user.block), [1, 1, 1, 1, 1], 'each body says blocked')
      t.equal(await count(db, 'civibridge_event'), eventsBefore, 'the real bridge saw nothing')
    })

    await t.test('7b. the options panel: the queue as the database holds it, Test connection (connected, wrong secret, unreachable), Send now', async (t) => {
      const pending = await count(db, OUTBOX, "status = 'pending'")
      t.ok(pending > 0, 'events wait from the tests above')
      const shown = await run('panel')
      t.match(shown.panel, new RegExp(`Events waiting to be sent to CiviCRM: <strong class="civicrmbridge-pending">${pending}</strong>`))
      t.match(shown.panel, /Test connection<\/a>/)
      t.equal(await count(db, OUTBOX, "status = 'pending'"), pending, 'showing the page changes nothing')

      const eventsBeforePings = await count(db, 'civibridge_event')
      const ok = await run('panel', undefined, { action: 'test' })
      t.match(ok.panel, /<strong>Connected\.<\/strong>/, 'the real bridge answered the signed ping')
      const wrongSecret = await run('panel', undefined, { action: 'test', secret: 'not-the-secret-not-the-secret-not-the-secret' })
      t.match(wrongSecret.panel, /<strong>Not connected: wrong shared secret\.<\/strong>/)
      const dead = await run('panel', undefined, { action: 'test', bridgeUrl: `http://127.0.0.1:${await freePort()}` })
      t.match(dead.panel, /<strong>Not connected: the bridge cannot be reached\.<\/strong>/)
      t.equal(await count(db, 'civibridge_event'), eventsBeforePings, 'pings are not recorded as events')
      t.equal(await count(db, OUTBOX, "status = 'pending'"), pending, 'nor queued')

      const waiting = (await db.rows<{ jti: string }>(`SELECT jti FROM ${OUTBOX} WHERE status = 'pending'`)).map((o) => o.jti)
      const sent = await run('panel', undefined, { action: 'retry' })
      const expected = Math.min(pending, 10) // one batch (outbox_batch, default 10)
      t.match(sent.panel, new RegExp(`Sent now: ${expected}\\.`))
      t.equal(await count(db, OUTBOX, "status = 'pending'"), pending - expected, 'the sent events left the queue')
      await bridge.flush()
      const left = new Set((await outbox()).map((o) => o.jti))
      const gone = waiting.filter((j) => !left.has(j))
      t.equal(gone.length, expected)
      t.equal(await count(db, 'civibridge_event', `jti IN (${gone.map(() => '?').join(',')})`, gone), expected, 'the bridge has each sent event once')
    })

    if (gen === 'j15') {
      await t.test('7c. 1.5: a blocked user\'s login (1.5 calls every user plugin even when the login is refused) is sent as blocked and not linked', async (t) => {
        const dan: User = { id: 70, username: 'dan', email: 'dan@example.org', name: 'Dan Blocked' }
        await db.sql.query(`INSERT INTO ${PREFIX}users (id, name, username, email, block, params) VALUES (?, ?, ?, ?, 1, '')`, [dan.id, dan.name, dan.username, dan.email])
        await insertContact(db, { first: 'Dan', last: 'Blocked', emails: [{ email: 'dan@example.org', primary: true }] })
        const r = await run('login', dan)
        listenersCarriedOn(t, r)
        await bridge.flush()
        t.match(await eventsOf(70), [{ event: 'onLoginUser', result: { action: 'skipped', reason: 'user-blocked' } }])
        t.equal(await count(db, 'civicrm_uf_match', 'uf_id = 70'), 0, 'not linked')
      })
    }
  })
}
