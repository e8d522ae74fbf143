// Galera with several writing nodes: a real 3-node MariaDB Galera cluster on 127.0.0.1
// (test/galera-helper.ts), two bridge processes writing through two different nodes, and the
// races that lost updates while locks were node-local named locks (GET_LOCK): every answer 200
// (or 503, then applied on retry), one link and one contact per user, no orphan contact.
// Without galera-4 this file FAILS (it does not skip): `apt-get install -y galera-4`.
import t from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import mysql from 'mysql2/promise'
import { createFixtureDatabase, withDatabaseName } from '../server/dev/fixture.js'
import { startBridge, Outbox, BIN, type Attempt } from './fault-helper.js'
import { childEnv, eventBody, eventually, SECRET, ADMIN_TOKEN } from './helper.js'
import { galeraMissing, startGaleraCluster } from './galera-helper.js'

t.setTimeout(480_000)

type Rows = <T = Record<string, unknown>>(q: string, params?: unknown[]) => Promise<T[]>

t.test('Galera, 3 nodes, two bridges writing through two nodes: no lost update', async (t) => {
  const missing = await galeraMissing()
  if (missing !== null) {
    t.fail(`a Galera cluster cannot be started: ${missing}`)
    return
  }
  const cluster = await startGaleraCluster(t)
  t.comment(`cluster of 3 nodes synced in ${cluster.startMs} ms`)
  const [n1, n2, n3] = cluster.nodes
  const name = `cbt19_galera_${randomBytes(4).toString('hex')}`
  const url1 = await createFixtureDatabase(n1.serverUrl, name)
  // Assertions read through node 1, each read waiting until the node has applied every write
  // certified before it (wsrep_sync_wait), so they see what the other nodes committed.
  const pool = mysql.createPool({ uri: url1, connectionLimit: 2, timezone: 'Z' })
  pool.pool.on('connection', (c) => { c.query('SET SESSION wsrep_sync_wait = 1') })
  t.teardown(() => pool.end())
  const rows: Rows = async (q, params = []) => (await pool.query(q, params))[0] as never
  const one = async (q: string, params: unknown[] = []) => Number(Object.values((await rows<Record<string, number>>(q, params))[0])[0])
  const [url2, url3] = [withDatabaseName(n2.serverUrl, name), withDatabaseName(n3.serverUrl, name)]
  const bridges = [await startBridge(t, url2), await startBridge(t, url3)]
  const [b1, b2] = bridges.map((b) => b.url)
  t.equal(await one("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = 'civibridge_lock'", [name]), 1, 'the schema is on every node')

  /** Sends every event at once (each to its bridge), then again each one not answered 200 until all are; returns every attempt. */
  async function deliver (events: Array<{ body: string, userId: number, to: string }>): Promise<Attempt[]> {
    const outbox = new Outbox()
    const target = new Map<string, string>()
    for (const e of events) target.set(outbox.add(e.body, e.userId), e.to)
    for (let pass = 0; outbox.queue.size > 0; pass++) {
      if (pass === 30) throw new Error(`not delivered after 30 passes: ${JSON.stringify(outbox.attempts.filter((a) => a.status !== 200).slice(-3))}`)
      if (pass > 0) await new Promise((resolve) => setTimeout(resolve, 200))
      await Promise.all([...outbox.queue.values()].map((q) => outbox.send(target.get(q.jti)!, q, 60_000)))
    }
    return outbox.attempts
  }
  const answersOk = (attempts: Attempt[]) => attempts.filter((a) => a.status !== 200 && !(a.status === 503 && a.retryAfter !== null))
  const figures: string[] = []
  const report = (what: string, attempts: Attempt[]) => figures.push(`${what}: ${attempts.length} deliveries, ${attempts.filter((a) => a.status === 503).length} answered 503 (then applied on retry)`)
  const save = (id: number, email: string, opts: { isNew?: boolean, at?: Date } = {}) =>
    eventBody({ event: 'onUserAfterSave', isNew: opts.isNew ?? false, user: { id, email, name: `User N${id}` }, occurredAt: (opts.at ?? new Date()).toISOString() })

  await t.test('email hand-over, 20 pairs at once: A changes to the email B is leaving, through the other node', async (t) => {
    const pairs = Array.from({ length: 20 }, (_, k) => ({ a: 1001 + k, b: 2001 + k, k }))
    const setup = await deliver(pairs.flatMap(({ a, b, k }) => [
      { body: save(a, `a${k}@handover.example.org`, { isNew: true }), userId: a, to: b1 },
      { body: save(b, `b${k}@handover.example.org`, { isNew: true }), userId: b, to: b2 },
    ]))
    t.same(answersOk(setup), [], 'registrations: 200, or 503 then 200')
    const race = await deliver(pairs.flatMap(({ a, b, k }) => [
      { body: save(a, `b${k}@handover.example.org`), userId: a, to: b1 },
      { body: save(b, `c${k}@handover.example.org`), userId: b, to: b2 },
    ]))
    t.same(answersOk(race), [], 'every answer 200, or 503 then 200')
    report('email hand-over (40 events)', race)
    const links = await rows<{ uf_id: number, uf_name: string, email: string }>(`SELECT m.uf_id, m.uf_name, e.email FROM civicrm_uf_match m
      JOIN civicrm_email e ON e.contact_id = m.contact_id AND e.is_primary = 1 WHERE m.uf_id BETWEEN 1001 AND 2020 ORDER BY m.uf_id`)
    const want = pairs.flatMap(({ a, b, k }) => [{ uf_id: a, email: `b${k}@handover.example.org` }, { uf_id: b, email: `c${k}@handover.example.org` }]).sort((x, y) => x.uf_id - y.uf_id)
    t.same(links.map((l) => ({ uf_id: l.uf_id, email: l.uf_name })), want, 'every A holds the email B left, every B its new one: none lost')
    t.same(links.filter((l) => l.email !== l.uf_name), [], 'each contact\'s primary email follows its link')
    t.equal(await one('SELECT COUNT(*) FROM civibridge_wanted_email WHERE uf_id BETWEEN 1001 AND 2020'), 0, 'no change left waiting for an email nobody holds')
  })

  await t.test('register, then delete 1 s later, sent together through two nodes (30 users): none stays linked', async (t) => {
    const at = Date.now()
    const users = Array.from({ length: 30 }, (_, k) => 3001 + k)
    const attempts = await deliver(users.flatMap((id) => [
      { body: save(id, `gone${id}@delete.example.org`, { isNew: true, at: new Date(at) }), userId: id, to: b1 },
      { body: eventBody({ event: 'onUserAfterDelete', user: { id, email: `gone${id}@delete.example.org`, name: `User N${id}` }, occurredAt: new Date(at + 1000).toISOString() }), userId: id, to: b2 },
    ]))
    t.same(answersOk(attempts), [], 'every answer 200, or 503 then 200')
    report('register then delete (60 events)', attempts)
    t.equal(await one('SELECT COUNT(*) FROM civicrm_uf_match WHERE uf_id BETWEEN 3001 AND 3030'), 0, 'no deleted user stays linked')
    t.equal(await one('SELECT COUNT(*) FROM civibridge_user_tombstone WHERE uf_id BETWEEN 3001 AND 3030'), 30, 'each delete recorded')
    t.same(await rows('SELECT e.email, COUNT(*) AS n FROM civicrm_email e WHERE e.email LIKE \'%@delete.example.org\' GROUP BY e.email HAVING n > 1'), [], 'at most one contact per user')
  })

  await t.test('50 concurrent saves of one new user through two nodes: one contact, one link', async (t) => {
    const attempts = await deliver(Array.from({ length: 50 }, (_, i) => ({ body: save(4001, 'fifty@once.example.org', { isNew: true }), userId: 4001, to: i % 2 === 0 ? b1 : b2 })))
    t.same(answersOk(attempts), [], 'every answer 200, or 503 then 200')
    report('50 saves of one user', attempts)
    t.equal(await one('SELECT COUNT(*) FROM civicrm_uf_match WHERE uf_id = 4001'), 1, 'one link')
    t.equal(await one("SELECT COUNT(*) FROM civicrm_email WHERE email = 'fifty@once.example.org'"), 1, 'one contact')
    t.equal(await one("SELECT COUNT(*) FROM civibridge_audit WHERE uf_id = 4001 AND action = 'created-contact'"), 1, 'created once')
  })

  await t.test('20 users sharing one email, at once through two nodes, 10 rounds: one contact, one link, the others told who holds it', async (t) => {
    // Ten rounds, because a unit that Galera rolled back without an error (db.ts,
    // assertInTransaction) showed in about one round in thirteen: each round must keep every unit.
    for (let round = 0; round < 10; round++) {
      const email = `shared${round}@many.example.org`
      const users = Array.from({ length: 20 }, (_, k) => 5001 + 100 * round + k)
      const attempts = await deliver(users.map((id, i) => ({ body: save(id, email, { isNew: true }), userId: id, to: i % 2 === 0 ? b1 : b2 })))
      t.same(answersOk(attempts), [], `round ${round}: every answer 200, or 503 then 200`)
      report(`20 users, one email, round ${round}`, attempts)
      const links = await rows<{ uf_id: number }>('SELECT uf_id FROM civicrm_uf_match WHERE uf_name = ?', [email])
      t.equal(links.length, 1, `round ${round}: one link`)
      t.equal(await one('SELECT COUNT(*) FROM civicrm_email WHERE email = ?', [email]), 1, `round ${round}: one contact`)
      // A skip changes nothing, so its audit row is written behind the answer: wait for the batch.
      const range = [users[0], users[19]]
      const skipped = () => one('SELECT COUNT(*) FROM civibridge_audit WHERE uf_id BETWEEN ? AND ? AND action = \'skipped\' AND reason = ?',
        [...range, `email-linked-to-user:${links[0]?.uf_id}`])
      await eventually('the 19 skips\' audit rows', async () => await skipped() >= 19, { timeoutMs: 10_000 }).catch(() => {})
      t.equal(await skipped(), 19, `round ${round}: the 19 others skipped, naming the holder`,
        { audit: await rows('SELECT uf_id, action, reason FROM civibridge_audit WHERE uf_id BETWEEN ? AND ? ORDER BY id', range) })
      t.equal(await one('SELECT COUNT(*) FROM civibridge_event WHERE uf_id BETWEEN ? AND ?', range), 20, `round ${round}: every event recorded`)
    }
  })

  await t.test('two syncs at once through two nodes: one refuses in one line naming the job, the other completes', async (t) => {
    const users = Array.from({ length: 4000 }, (_, k) => 20001 + k)
    // Half of them have a contact to match.
    for (let i = 0; i < users.length; i += 1000) {
      const slice = users.slice(i, i + 1000)
      await pool.query('INSERT INTO jos_users (id, name, username, email, password, block, params) VALUES ?', [slice.map((id) => [id, `Sync User${id}`, `s${id}`, `s${id}@sync.example.org`, '', 0, ''])])
      const matched = slice.filter((id) => id % 2 === 0)
      await pool.query('INSERT INTO civicrm_contact (id, contact_type, first_name, last_name, display_name, sort_name) VALUES ?', [matched.map((id) => [id + 100_000, 'Individual', 'Sync', `User${id}`, `Sync User${id}`, `User${id}, Sync`])])
      await pool.query('INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) VALUES ?', [matched.map((id) => [id + 100_000, 1, `s${id}@sync.example.org`, 1])])
    }
    const sync = (url: string) => new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'sync', '--batch-size', '100'], { env: childEnv({ CIVICRM_DB_URL: url, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'error' }), stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => { stdout += d })
      child.stderr.on('data', (d) => { stderr += d })
      child.once('exit', (code) => resolve({ code, stdout, stderr }))
    })
    const results = await Promise.all([sync(url2), sync(url3)])
    const done = results.filter((r) => r.code === 0)
    const refused = results.filter((r) => r.code === 1)
    t.equal(done.length, 1, `one sync completes: ${JSON.stringify(results)}`)
    t.equal(refused.length, 1, 'the other is refused')
    const jobs = await rows<{ id: number, status: string }>('SELECT id, status FROM civibridge_sync_job')
    t.same(jobs.map((j) => j.status), ['done'], 'one job, done')
    t.match(refused[0]?.stderr, new RegExp(`^civicrm-bridge: A synchronization is already running \\(job ${jobs[0]?.id}, started [0-9TZ:.-]+\\)\\.\\n$`), 'one line naming the running job')
    t.equal(done[0]?.stdout.trim().split('\n').pop(), 'Synchronize Users to Contacts completed. Checked 4000 user records. Found 2000 matching contact records. Created 2000 new contact records.')
    t.equal(await one('SELECT COUNT(*) FROM civicrm_uf_match WHERE uf_id BETWEEN 20001 AND 24000'), 4000, 'every user linked')
    t.equal(await one('SELECT COUNT(*) FROM civicrm_uf_match WHERE uf_id BETWEEN 20001 AND 24000 AND uf_id % 2 = 0 AND contact_id = uf_id + 100000'), 2000, 'to their own contact when they had one')
    t.equal(await one("SELECT COUNT(*) FROM civicrm_email WHERE email LIKE '%@sync.example.org'"), 4000, 'one contact per user')
  })

  await t.test('a sync through one node while the same users are saved through another: one link per user, one contact per email', async (t) => {
    const users = Array.from({ length: 2000 }, (_, k) => 30001 + k)
    await pool.query('INSERT INTO jos_users (id, name, username, email, password, block, params) VALUES ?', [users.map((id) => [id, `Live User${id}`, `l${id}`, `l${id}@live.example.org`, '', 0, ''])])
    const matched = users.filter((id) => id % 2 === 0)
    await pool.query('INSERT INTO civicrm_contact (id, contact_type, first_name, last_name, display_name, sort_name) VALUES ?', [matched.map((id) => [id + 100_000, 'Individual', 'Live', `User${id}`, `Live User${id}`, `User${id}, Live`])])
    await pool.query('INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) VALUES ?', [matched.map((id) => [id + 100_000, 1, `l${id}@live.example.org`, 1])])
    const sync = new Promise<{ code: number | null, stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'sync', '--batch-size', '50'], { env: childEnv({ CIVICRM_DB_URL: url2, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'error' }), stdio: ['ignore', 'pipe', 'inherit'] })
      let stdout = ''
      child.stdout.on('data', (d) => { stdout += d })
      child.once('exit', (code) => resolve({ code, stdout }))
    })
    // Every third user saved through the other node, from the last, while the sync walks from the first.
    const saves = [...users].reverse().filter((id) => id % 3 === 0).map((id) => ({ body: save(id, `l${id}@live.example.org`), userId: id, to: b2 }))
    const [synced, attempts] = await Promise.all([sync, deliver(saves)])
    report('saves during a sync through another node', attempts)
    t.equal(synced.code, 0, `the sync completes: ${synced.stdout.slice(-300)}`)
    t.same(answersOk(attempts), [], 'every save answered 200, or 503 with Retry-After and then applied')
    t.equal(await one('SELECT COUNT(*) FROM civicrm_uf_match WHERE uf_id BETWEEN 30001 AND 32000'), 2000, 'every user linked')
    t.equal(await one('SELECT COUNT(DISTINCT uf_id) FROM civicrm_uf_match WHERE uf_id BETWEEN 30001 AND 32000'), 2000, 'once')
    t.equal(await one('SELECT COUNT(*) FROM civicrm_uf_match WHERE uf_id BETWEEN 30001 AND 32000 AND uf_id % 2 = 0 AND contact_id = uf_id + 100000'), 1000, 'to their own contact when they had one')
    t.equal(await one("SELECT COUNT(*) FROM civicrm_email WHERE email LIKE '%@live.example.org'"), 2000, 'one contact per email')
  })

  await t.test('the whole database: one link per user and per contact, no orphan contact', async (t) => {
    t.same(await rows('SELECT uf_id, COUNT(*) AS n FROM civicrm_uf_match GROUP BY uf_id HAVING n > 1'), [], 'one link per user')
    t.same(await rows('SELECT contact_id, COUNT(*) AS n FROM civicrm_uf_match GROUP BY contact_id HAVING n > 1'), [], 'one link per contact')
    t.same(await rows(`SELECT c.id FROM civicrm_contact c LEFT JOIN civicrm_uf_match m ON m.contact_id = c.id
      WHERE m.id IS NULL AND c.id NOT IN (SELECT contact_id FROM civibridge_audit WHERE action = 'created-contact' AND contact_id IS NOT NULL) AND c.id < 100000 AND c.id > 2`), [], 'every contact the bridge created is linked, or was created by an audited decision whose user was then deleted')
    t.same(await rows('SELECT c.id FROM civicrm_contact c LEFT JOIN civicrm_email e ON e.contact_id = c.id AND e.is_primary = 1 WHERE e.id IS NULL AND c.id > 2'), [], 'every contact has its primary email')
    // What certification did: transactions that lost to another node's (re-run by the bridge) and local ones aborted by an applier.
    for (const [node, url] of [[n2, url2], [n3, url3]] as const) {
      const conn = await mysql.createConnection({ uri: url })
      const [status] = await conn.query("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_cert_failures', 'wsrep_local_bf_aborts')") as unknown as [Array<{ Variable_name: string, Value: string }>]
      await conn.end()
      figures.push(`${node.name}: ${status.map((s) => `${s.Variable_name} ${s.Value}`).join(', ')}`)
    }
    t.comment(`cluster synced in ${cluster.startMs} ms\n${figures.join('\n')}`)
  })
})
