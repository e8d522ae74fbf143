// Faults: MariaDB stopped under load (SIGTERM and SIGKILL) on a private server, the bridge
// killed with SIGKILL among 1,000 in-flight events, and SIGTERM with requests in flight. Every
// test ends by checking the database: each event applied once, one link per user, no orphan
// or duplicate contact. The client behaves like the Joomla plugin's outbox (test/fault-helper.ts).
import t, { type Test } from 'tap'
import mysql from 'mysql2/promise'
import { createFixtureDatabase } from '../server/dev/fixture.js'
import { lockKeys } from '../server/domain/link-user.js'
import { startServer } from '../server/server.js'
import { signEvent } from '../server/protocol/sign.js'
import { testDatabase, testConfig, eventBody, SECRET, SITE, holdLocks, lockWaiters } from './helper.js'
import { privateMariaDb, startBridge, Outbox, type Attempt } from './fault-helper.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const figures = (t: Test, line: string) => t.comment(line)

type Rows = <T = Record<string, unknown>>(query: string, params?: unknown[]) => Promise<T[]>

/** A pool on a database of the private server, closed at teardown. */
function openDb (t: Test, url: string): { rows: Rows, sql: mysql.Pool } {
  const sql = mysql.createPool({ uri: url, connectionLimit: 2, timezone: 'Z', multipleStatements: true })
  t.teardown(() => sql.end())
  return { sql, rows: async <T>(q: string, p: unknown[] = []) => (await sql.query(q, p))[0] as T[] }
}

/** Contacts (and optionally links) that exist before the events: `email` per user. */
async function seedContacts (sql: mysql.Pool, users: Array<{ id: number, email: string, linked: boolean }>): Promise<Map<number, number>> {
  const contactOf = new Map<number, number>()
  for (const u of users) {
    const [res] = await sql.query("INSERT INTO civicrm_contact (contact_type, first_name, last_name, display_name, sort_name, hash, source) VALUES ('Individual', 'Old', ?, ?, ?, MD5(RAND()), 'seed')",
      [`C${u.id}`, `Old C${u.id}`, `C${u.id}, Old`]) as [mysql.ResultSetHeader, unknown]
    await sql.query('INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) VALUES (?, 1, ?, 1)', [res.insertId, u.email])
    if (u.linked) await sql.query('INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, ?, ?, ?)', [u.id, u.email, res.insertId])
    contactOf.set(u.id, res.insertId)
  }
  return contactOf
}

/**
 * What must hold after any fault, once the outbox is drained:
 * - no user has two links, and no contact is linked twice;
 * - every contact the bridge created ('Joomla user') has exactly one email, one civicrm_log row
 *   and one link, and no two of them (nor a seeded contact) share an email;
 * - civibridge_event holds each jti once with its final result (never 'pending'), equal to the
 *   200 answer the client kept; a jti may be missing only when its answer changed nothing (the
 *   write-behind log of a killed process), never an effective one;
 * - one effective linking decision (created-contact or linked-existing) per linked user in
 *   civibridge_audit.
 * Returns the counts for the report.
 */
async function assertAppliedOnce (t: Test, rows: Rows, outbox: Outbox) {
  t.equal(outbox.queue.size, 0, 'the outbox is empty')
  t.same(await rows('SELECT uf_id, COUNT(*) AS n FROM civicrm_uf_match GROUP BY domain_id, uf_id HAVING n > 1'), [], 'no user has two links')
  t.same(await rows('SELECT contact_id, COUNT(*) AS n FROM civicrm_uf_match GROUP BY domain_id, contact_id HAVING n > 1'), [], 'no contact is linked to two users')
  const created = await rows<{ id: number, emails: number, logs: number, links: number }>(`
    SELECT c.id,
      (SELECT COUNT(*) FROM civicrm_email e WHERE e.contact_id = c.id) AS emails,
      (SELECT COUNT(*) FROM civicrm_log l WHERE l.entity_table = 'civicrm_contact' AND l.entity_id = c.id) AS logs,
      (SELECT COUNT(*) FROM civicrm_uf_match m WHERE m.contact_id = c.id) AS links
    FROM civicrm_contact c WHERE c.source = 'Joomla user'`)
  t.same(created.filter((c) => Number(c.emails) !== 1 || Number(c.logs) !== 1 || Number(c.links) !== 1), [], 'every contact the bridge created has one email, one change-log row and one link (no orphan)')
  t.same(await rows(`SELECT LOWER(TRIM(e.email)) AS email, COUNT(DISTINCT e.contact_id) AS n FROM civicrm_email e JOIN civicrm_contact c ON c.id = e.contact_id
    WHERE c.contact_type = 'Individual' AND c.source IN ('Joomla user', 'seed') GROUP BY LOWER(TRIM(e.email))
    HAVING n > 1 AND SUM(c.source = 'Joomla user') > 0`), [], 'no contact created for an email another contact already had')
  const orphanLogs = await rows(`SELECT l.entity_id FROM civicrm_log l LEFT JOIN civicrm_uf_match m ON m.contact_id = l.entity_id
    WHERE l.entity_table = 'civicrm_contact' AND m.id IS NULL`)
  t.same(orphanLogs, [], 'no contact with a change-log row from the bridge and no link')

  const events = await rows<{ jti: string, result: { action: string, contactId: number | null, reason: string | null } }>('SELECT jti, result FROM civibridge_event')
  const stored = new Map(events.map((e) => [e.jti, e.result]))
  t.same(events.filter((e) => e.result.action === 'pending'), [], 'no event left half-applied')
  t.same([...stored.keys()].filter((jti) => !outbox.all.has(jti)), [], 'no unknown event recorded')
  const noOp = (a: { action: string, reason: string | null }) => (a.action === 'already-linked' && a.reason === null) || a.action === 'skipped'
  const missing = [...outbox.answers].filter(([jti]) => !stored.has(jti))
  t.same(missing.filter(([, a]) => !noOp(a)), [], 'every event that changed something is recorded under its jti')
  const differing = [...outbox.answers].filter(([jti, a]) => stored.has(jti) && JSON.stringify({ ...stored.get(jti), reason: stored.get(jti)!.reason ?? null }) !== JSON.stringify(a))
  t.same(differing, [], 'the answer the client kept is the recorded result of its jti')
  const effective = await rows<{ uf_id: number, n: number }>("SELECT uf_id, COUNT(*) AS n FROM civibridge_audit WHERE action IN ('created-contact', 'linked-existing') GROUP BY uf_id HAVING n > 1")
  t.same(effective, [], 'at most one linking decision per user in civibridge_audit')
  return { links: Number((await rows<{ n: number }>('SELECT COUNT(*) AS n FROM civicrm_uf_match'))[0].n), created: created.length, events: events.length, missingNoOps: missing.length }
}

const pct = (attempts: Attempt[]) => {
  const by = new Map<string, number>()
  for (const a of attempts) by.set(String(a.status || a.error), (by.get(String(a.status || a.error)) ?? 0) + 1)
  return Object.fromEntries(by)
}

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  t.test(`MariaDB stopped with ${signal} under load: 503 with Retry-After within the pool's 3 s connect timeout, never a 500, /health says down; after a restart the outbox drains and every event is applied exactly once`, async (t) => {
    const server = await privateMariaDb(t)
    const url = await createFixtureDatabase(server.serverUrl, 'faults')
    const { rows, sql } = openDb(t, url)
    // 200 users: i % 4 = 0 registers with the email of an existing contact, 1 logs in already
    // linked (the write-behind path), 2 registers new, 3 logs in new (login links too).
    const users = Array.from({ length: 200 }, (_, k) => k + 1)
    const seeded = await seedContacts(sql, users.filter((i) => i % 4 <= 1).map((i) => ({ id: i, email: `user${i}@example.org`, linked: i % 4 === 1 })))
    const bridge = await startBridge(t, url)
    const outbox = new Outbox()
    for (const i of users) {
      outbox.add(eventBody(i % 2 === 0
        ? { event: 'onUserAfterSave', isNew: true, user: { id: i, email: `user${i}@example.org`, name: `Fault User${i}` } }
        : { event: 'onUserLogin', user: { id: i, email: `user${i}@example.org`, name: `Fault User${i}` } }), i)
    }

    let ok = 0
    let stopAt = Infinity
    let stopping: Promise<void> | null = null
    const first = outbox.pass(bridge.url, {
      concurrency: 20,
      paceMs: 15,
      onAttempt: (a) => {
        if (a.status === 200 && ++ok === 60) {
          stopAt = Date.now()
          stopping = server.stop(signal)
        }
      },
    })
    await first
    await stopping
    t.ok(Number.isFinite(stopAt), 'MariaDB was stopped mid-load')
    // While it is down: another delivery of everything still queued, and /health.
    const downPass = await outbox.pass(bridge.url, { concurrency: 20 })
    const healthStarted = performance.now()
    const health = await (await fetch(`${bridge.url}/health`)).json()
    const healthMs = performance.now() - healthStarted
    t.same(health, { status: 'ok', database: 'down' }, '/health answers and reports the database down')
    t.equal(bridge.child.exitCode, null, 'the bridge process is still running')

    // Every answer that came after the stop, including those of requests in flight at that moment.
    const afterStop = outbox.attempts.filter((a) => a.at + a.ms >= stopAt)
    const refused = afterStop.filter((a) => a.status !== 200)
    t.ok(refused.length >= 100, `requests were refused while MariaDB was down (${refused.length})`)
    t.same(afterStop.filter((a) => a.status !== 200 && a.status !== 503), [], 'every answer after the stop is a 200 (work already done) or a 503: no 500, no dropped connection')
    t.same(refused.filter((a) => a.retryAfter === null || !/^\d+$/.test(a.retryAfter)), [], 'every 503 has a Retry-After header')
    const slowest = Math.max(...afterStop.map((a) => a.ms))
    t.ok(slowest < 3500, `the slowest answer after the stop took ${slowest.toFixed(0)} ms (< 3.5 s)`)
    t.ok(downPass.every((a) => a.status === 503), 'a whole pass while down: all 503')

    const downtimeStart = Date.now()
    const restartMs = await server.start()
    const passes = await outbox.drain(bridge.url, { concurrency: 20 })
    // The write-behind log retries its batch every second: wait for it to land.
    const until = Date.now() + 10_000
    while (Number((await rows<{ n: number }>('SELECT COUNT(*) AS n FROM civibridge_event'))[0].n) < users.length && Date.now() < until) await sleep(100)
    t.same(await (await fetch(`${bridge.url}/health`)).json(), { status: 'ok', database: 'up' }, '/health reports the database up again')

    const r = await assertAppliedOnce(t, rows, outbox)
    t.equal(r.events, users.length, 'civibridge_event holds every one of the 200 jtis, once')
    t.equal(r.links, users.length, 'one link per user')
    t.equal(r.created, 100, 'a contact created for each new user (i % 4 = 2, 3), and only for them')
    const links = await rows<{ uf_id: number, contact_id: number, uf_name: string }>('SELECT uf_id, contact_id, uf_name FROM civicrm_uf_match ORDER BY uf_id')
    t.same(links.filter((l) => seeded.has(l.uf_id) && seeded.get(l.uf_id) !== l.contact_id), [], 'users with an existing contact are linked to it')
    t.same(links.filter((l) => l.uf_name !== `user${l.uf_id}@example.org`), [], 'uf_name is each user\'s email')
    figures(t, `${signal}: ${outbox.all.size} events, ${outbox.attempts.length} deliveries (${outbox.retries} retries, ${passes} drain passes), answers after the stop ${JSON.stringify(pct(afterStop))}, slowest answer after the stop ${slowest.toFixed(0)} ms, /health while down ${healthMs.toFixed(0)} ms, MariaDB restart ${restartMs} ms, drained ${Date.now() - downtimeStart} ms after the restart began; applied: ${r.events} events, ${r.links} links, ${r.created} contacts created`)
  })
}

t.test('the bridge killed with SIGKILL among 1,000 in-flight events, restarted, the outbox drained: every user linked once, no orphan or duplicate contact, no event applied twice', async (t) => {
  const db = await testDatabase(t)
  const { rows, sql } = { rows: db.rows, sql: db.sql }
  // Before: contacts for users 401..600 (their registrations match them), and users 621..920
  // already linked (621..820 log in: the write-behind path; 821..920 change their email).
  const seeded = await seedContacts(sql, [
    ...Array.from({ length: 200 }, (_, k) => ({ id: 401 + k, email: `old${401 + k}@example.org`, linked: false })),
    ...Array.from({ length: 300 }, (_, k) => ({ id: 621 + k, email: `linked${621 + k}@example.org`, linked: true })),
  ])
  const outbox = new Outbox()
  const save = (id: number, email: string, isNew = true) => outbox.add(eventBody({ event: 'onUserAfterSave', isNew, user: { id, email, name: `Kill User${id}` } }), id)
  const login = (id: number, email: string) => outbox.add(eventBody({ event: 'onUserLogin', user: { id, email, name: `Kill User${id}` } }), id)
  const mix: Array<() => void> = []
  for (let i = 1; i <= 400; i++) mix.push(() => save(i, `new${i}@example.org`)) // 400 new registrations
  for (let i = 401; i <= 600; i++) mix.push(() => save(i, `old${i}@example.org`)) // 200 matching existing contacts
  for (let i = 601; i <= 620; i++) mix.push(() => save(i, `old${i - 20}@example.org`)) // 20 sharing an email with users 581..600
  for (let i = 621; i <= 820; i++) mix.push(() => login(i, `linked${i}@example.org`)) // 200 logins of linked users
  for (let i = 821; i <= 920; i++) mix.push(() => save(i, `changed${i}@example.org`, false)) // 100 email changes
  for (let i = 1; i <= 80; i++) mix.push(() => login(i, `new${i}@example.org`)) // 80 logins of users registering now
  // A fixed shuffle, so that every kind of event is in flight when the process dies.
  let seed = 42
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
  for (let i = mix.length - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [mix[i], mix[j]] = [mix[j], mix[i]] }
  mix.forEach((add) => add())
  t.equal(outbox.all.size, 1000)

  const first = await startBridge(t, db.url)
  let ok = 0
  let killedAt = 0
  const firstPass = outbox.pass(first.url, {
    concurrency: 50,
    onAttempt: (a) => {
      if (a.status === 200 && ++ok === 350) {
        killedAt = Date.now()
        first.child.kill('SIGKILL')
      }
    },
  })
  await firstPass
  t.match(await first.exited, { signal: 'SIGKILL' }, 'the first process was killed')
  const inFlightLost = outbox.attempts.filter((a) => a.at < killedAt && a.status === 0).length
  const answeredBefore = outbox.answers.size
  const noOpsBefore = [...outbox.answers.values()].filter((a) => a.action === 'already-linked' && a.reason === null).length
  t.ok(inFlightLost > 0, `requests in flight at the kill failed (${inFlightLost})`)
  t.ok(outbox.queue.size > 0 && outbox.queue.size < 1000, `events left in the outbox: ${outbox.queue.size}`)

  const restartStarted = Date.now()
  const second = await startBridge(t, db.url)
  const restartMs = Date.now() - restartStarted
  const passes = await outbox.drain(second.url, { concurrency: 50, maxPasses: 3 }).catch((err: Error) => { throw new Error(`${err.message}\nbridge log: ${second.stderr()}`) })
  const lateStatuses = outbox.attempts.filter((a) => a.at >= restartStarted && a.status !== 200)
  t.same(lateStatuses, [], 'after the restart every delivery is a 200', { log: lateStatuses.length ? second.stderr() : '' })
  // Let the second process's write-behind log flush, then stop it the proper way.
  second.child.kill('SIGTERM')
  t.match(await second.exited, { code: 0 })

  const r = await assertAppliedOnce(t, rows, outbox)
  t.equal(r.links, 900, 'links: users 1..600 (minus one of each pair sharing an email) and the 300 linked before')
  t.equal(r.created, 400, 'a contact created for each of the 400 new emails, and for nothing else')
  const links = new Map((await rows<{ uf_id: number, contact_id: number, uf_name: string }>('SELECT uf_id, contact_id, uf_name FROM civicrm_uf_match')).map((l) => [l.uf_id, l]))
  t.same(Array.from({ length: 580 }, (_, k) => k + 1).filter((i) => !links.has(i)), [], 'every user 1..580 is linked')
  t.same(Array.from({ length: 20 }, (_, k) => 581 + k).filter((i) => links.has(i) === links.has(i + 20)), [], 'of two users sharing an email, exactly one is linked')
  t.same([...seeded].filter(([id, contact]) => id <= 600 && links.get(id) && links.get(id)!.contact_id !== contact), [], 'registrations with an existing contact\'s email are linked to it')
  const changed = await rows<{ uf_id: number, uf_name: string, email: string }>('SELECT m.uf_id, m.uf_name, e.email FROM civicrm_uf_match m JOIN civicrm_email e ON e.contact_id = m.contact_id AND e.is_primary = 1 WHERE m.uf_id BETWEEN 821 AND 920')
  t.equal(changed.length, 100)
  t.same(changed.filter((c) => c.uf_name !== `changed${c.uf_id}@example.org` || c.email !== `changed${c.uf_id}@example.org`), [], 'each email change applied to uf_name and the contact\'s primary email')
  t.same(await rows("SELECT uf_id, COUNT(*) AS n FROM civibridge_audit WHERE reason = 'email-updated' GROUP BY uf_id HAVING n <> 1"), [], 'each email change decided once')
  const effective = Number((await rows<{ n: number }>("SELECT COUNT(*) AS n FROM civibridge_audit WHERE action IN ('created-contact', 'linked-existing')"))[0].n)
  t.equal(effective, 600, 'one linking decision in the audit per user linked by these events')
  figures(t, `bridge SIGKILL: 1000 events, ${answeredBefore} answered before the kill, ${inFlightLost} in flight lost, ${outbox.all.size - answeredBefore} redelivered after a ${restartMs} ms restart in ${passes} pass(es); ${outbox.attempts.length} deliveries (${outbox.retries} retries); applied: ${r.events} events recorded (${r.missingNoOps} of the ${noOpsBefore} no-op answers given before the kill lost with the write-behind batch), ${r.links} links, ${r.created} contacts created`)
})

t.test('SIGTERM with requests in flight: they finish with 200 and their writes are in the database; requests after the signal are refused; the process exits within 10 s', async (t) => {
  const db = await testDatabase(t)
  const bridge = await startBridge(t, db.url)
  const users = Array.from({ length: 10 }, (_, k) => ({ id: 5001 + k, email: `term${k}@example.org`, name: `Term User${k}` }))
  // Hold the lock rows these registrations need, so that they stay in flight.
  const holder = await holdLocks(t, db.url, users.flatMap((u) => [lockKeys.user(u.id), lockKeys.email(u.email)]))
  const outbox = new Outbox()
  for (const u of users) outbox.add(eventBody({ event: 'onUserAfterSave', isNew: true, user: u }), u.id)
  const inFlight = outbox.pass(bridge.url, { concurrency: users.length })
  const waiting = () => lockWaiters(db)
  const until = Date.now() + 10_000
  while (await waiting() < users.length && Date.now() < until) await sleep(20)
  t.equal(await waiting(), users.length, 'ten registrations are in flight, waiting for their locks')

  const signalAt = Date.now()
  bridge.child.kill('SIGTERM')
  await sleep(300)
  const late = new Outbox()
  for (let k = 0; k < 5; k++) late.add(eventBody({ event: 'onUserAfterSave', isNew: true, user: { id: 6001 + k, email: `late${k}@example.org`, name: 'Late' } }), 6001 + k)
  const lateAttempts = await late.pass(bridge.url, { concurrency: 5 })
  t.same(lateAttempts.filter((a) => !(a.status === 503 || (a.status === 0 && /ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET/.test(String(a.error))))), [], 'requests after the signal are refused (connection refused or 503)')
  await holder.release()
  const finished = await inFlight
  const { code } = await bridge.exited
  const exitMs = Date.now() - signalAt
  t.same(finished.map((a) => a.status), users.map(() => 200), 'every request in flight at the signal finished with 200')
  t.equal(code, 0, 'exit code 0')
  t.ok(exitMs < 10_000, `exited ${exitMs} ms after SIGTERM`)
  const links = await db.rows<{ uf_id: number }>('SELECT uf_id FROM civicrm_uf_match ORDER BY uf_id')
  t.same(links.map((l) => l.uf_id), users.map((u) => u.id), 'the in-flight registrations are linked; the late ones wrote nothing')
  t.equal(Number((await db.rows<{ n: number }>('SELECT COUNT(*) AS n FROM civibridge_event'))[0].n), users.length, 'one event row per in-flight request')
  await assertAppliedOnce(t, db.rows, outbox)
  figures(t, `SIGTERM: ${users.length} in flight finished 200, late answers ${JSON.stringify(pct(lateAttempts))}, exit ${exitMs} ms after the signal (locks released ~${300 + Math.round(lateAttempts.reduce((m, a) => Math.max(m, a.ms), 0))} ms after it)`)
})

t.test('in process: a request in flight when the server starts closing gets its 200 with Connection: close, so close() does not wait for its keep-alive connection', async (t) => {
  const db = await testDatabase(t)
  const app = await startServer(testConfig(db.url, { PORT: '0' }))
  let closed: Promise<void> | null = null
  t.teardown(() => closed ?? app.close())
  const { port } = app.server.address() as { port: number }
  const user = { id: 7001, email: 'inproc@example.org', name: 'In Process' }
  const holder = await holdLocks(t, db.url, [lockKeys.user(user.id), lockKeys.email(user.email)])
  const outbox = new Outbox()
  outbox.add(eventBody({ event: 'onUserAfterSave', isNew: true, user }), user.id)
  const q = [...outbox.queue.values()][0]
  const signed = signEvent(SECRET, SITE, q.body, { jti: q.jti })
  const answer = fetch(`http://127.0.0.1:${port}/v1/joomla/events`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${signed.token}` }, body: q.body })
  const until = Date.now() + 10_000
  while (await lockWaiters(db) < 1 && Date.now() < until) await sleep(20)
  const closeAt = Date.now()
  closed = app.close()
  await sleep(100)
  await holder.release()
  const res = await answer
  t.equal(res.status, 200)
  t.equal(res.headers.get('connection'), 'close', 'the answer closes its connection')
  t.match(await res.json(), { action: 'created-contact' })
  await closed
  t.comment(`closed ${Date.now() - closeAt} ms after close() began`)
  t.same(await db.rows('SELECT uf_id FROM civicrm_uf_match'), [{ uf_id: user.id }])
})
