// Concurrency across processes: two bridge processes on one database receive 50 registrations
// of one new email (50 Joomla users sharing it) while `civicrm-bridge sync` walks a table of
// thousands of users that holds them. uf_name is unique per domain, so exactly one of the 50
// is linked, to exactly one contact; the others are skipped with the reason the rules give
// (email-linked-to-user:<winner>); every answer is a 200 and the sync ends with its message.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { signEvent } from '../server/protocol/sign.js'
import { testDatabase, eventBody, eventually, childEnv, SECRET, ADMIN_TOKEN, SITE, type TestDb } from './helper.js'
import { startBridge as startBridgeProcess } from './fault-helper.js'
import { insertJoomlaUsers } from './sync-helper.js'

const BIN = fileURLToPath(new URL('../bin/civicrm-bridge.js', import.meta.url))
const env = (url: string, extra: Record<string, string> = {}) => childEnv({ CIVICRM_DB_URL: url, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'warn', ...extra })
const count = async (db: TestDb, q: string, params: unknown[] = []) => Number((await db.rows<{ n: number }>(q, params))[0].n)

/** A bridge process on the test database; its log lines appear in a failure's message. */
const startBridge = async (t: Test, url: string) => (await startBridgeProcess(t, url, { LOG_LEVEL: 'warn' })).url

t.test('50 registrations of one new email across two processes during a sync: one contact, one link, 49 skips with a reason, only 200s', async (t) => {
  const db = await testDatabase(t)
  const TOTAL = 3100
  const SHARED = 'shared.person@example.org'
  // The 50 users sharing the email, one every 53 ids from 450: with chunks of 50 no two share a chunk,
  // and the sync (at user 50 or so when the events leave) meets the first ones while the events
  // race for the email, the last ones long after.
  const sharedIds = Array.from({ length: 50 }, (_, k) => 450 + 53 * k)
  const shared = new Set(sharedIds)
  const variants = [SHARED, 'Shared.Person@Example.org', '  SHARED.PERSON@example.org ', 'shared.person@EXAMPLE.ORG']
  await insertJoomlaUsers(db, Array.from({ length: TOTAL }, (_, i) => i + 1).map((id) => (shared.has(id)
    ? { id, name: `Shared Person${id}`, email: variants[id % variants.length] }
    : { id, name: `Other User${id}`, email: `other${id}@example.org` })))
  // A third of the other users already have a contact (to be matched); nobody has the shared email.
  const withContact = Array.from({ length: TOTAL }, (_, i) => i + 1).filter((id) => !shared.has(id) && id % 3 === 0)
  await db.sql.query('INSERT INTO civicrm_contact (contact_type, display_name, sort_name, source) VALUES ?', [withContact.map((id) => ['Individual', `Had ${id}`, `Had ${id}`, `had-${id}`])])
  await db.sql.query("INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) SELECT id, 1, CONCAT('other', SUBSTRING(source, 5), '@example.org'), 1 FROM civicrm_contact WHERE source LIKE 'had-%'")

  const [a, b] = await Promise.all([startBridge(t, db.url), startBridge(t, db.url)])

  const syncStarted = Date.now()
  const sync = spawn(process.execPath, [BIN, 'sync', '--batch-size', '50'], { env: env(db.url), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  sync.stdout!.on('data', (d) => { stdout += d })
  sync.stderr!.on('data', (d) => { stderr += d })
  const syncExit = new Promise<{ code: number | null, ms: number }>((resolve) => sync.on('exit', (code) => resolve({ code, ms: Date.now() - syncStarted })))
  t.teardown(() => { if (sync.exitCode === null) sync.kill('SIGKILL') })

  // Wait for the sync's first checkpoint: it is under way.
  const checkpoint = await eventually('the sync\'s first checkpoint', async () =>
    Number((await db.rows<{ last_user_id: number }>('SELECT last_user_id FROM civibridge_sync_job'))[0]?.last_user_id ?? 0) || false, { everyMs: 10 })
  t.ok(checkpoint > 0 && checkpoint < TOTAL, `the sync is under way (at user ${checkpoint}) when the events are sent`)

  // The 50 registrations at once, alternating between the two processes.
  const eventsStarted = Date.now()
  const answers = await Promise.all(sharedIds.map(async (id, i) => {
    const body = eventBody({ user: { id, email: variants[id % variants.length], name: `Shared Person${id}` }, isNew: true })
    const signed = signEvent(SECRET, SITE, body)
    const res = await fetch(`${i % 2 ? a : b}/v1/joomla/events`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${signed.token}` }, body })
    return { id, status: res.status, json: await res.json() as { action: string, contactId: number | null, reason: string | null } }
  }))
  const eventsMs = Date.now() - eventsStarted
  const [job] = await db.rows<{ status: string, last_user_id: number }>('SELECT status, last_user_id FROM civibridge_sync_job')
  t.equal(job.status, 'running', `the sync was still running when the last answer came (at user ${job.last_user_id}, answers took ${eventsMs} ms)`)

  const { code, ms } = await syncExit
  t.equal(code, 0, `the sync exits 0 (ran ${ms} ms) ${stderr}`)
  // A sync whose output is not a terminal prints a progress line now and then (more of them
  // on a slow machine); anything else on stderr is an error.
  t.same(stderr.split('\n').filter((line) => line !== '' && !/^Synchronizing users: /.test(line)), [], 'nothing on stderr but progress lines')

  // Exactly one of the 50 holds the email, on exactly one contact.
  const links = await db.rows<{ uf_id: number, contact_id: number }>('SELECT uf_id, contact_id FROM civicrm_uf_match WHERE uf_id IN (?)', [sharedIds])
  t.equal(links.length, 1, 'one link among the 50 users')
  const [{ uf_id: winner, contact_id: contact }] = links
  const typed = await db.rows<{ uf_name: string }>('SELECT uf_name FROM civicrm_uf_match WHERE uf_id = ?', [winner])
  t.ok(variants.map((v) => v.trim()).includes(typed[0].uf_name), `uf_name is the winner's email as typed (${typed[0].uf_name})`)
  t.same(await db.rows('SELECT DISTINCT contact_id FROM civicrm_email WHERE email = ?', [SHARED]), [{ contact_id: contact }], 'one contact has the email')
  t.same(await db.rows('SELECT contact_type, is_deleted FROM civicrm_contact WHERE id = ?', [contact]), [{ contact_type: 'Individual', is_deleted: 0 }])

  // Every answer is a 200 consistent with the winner: the others are skipped with the reason.
  t.same([...new Set(answers.map((r) => r.status))], [200], 'every answer is a 200: no 5xx, no 409')
  for (const r of answers) {
    if (r.id === winner) t.match(r.json, { action: /^(created-contact|already-linked)$/, contactId: contact }, `the winner ${r.id}`)
    else t.same(r.json, { action: 'skipped', contactId: null, reason: `email-linked-to-user:${winner}` }, `user ${r.id} is skipped with the reason`)
  }
  t.ok(answers.filter((r) => r.json.action === 'created-contact').length <= 1, 'at most one event created the contact')

  // The sync: its message last, the same skips, and a link per other user.
  const created = await count(db, "SELECT COUNT(*) AS n FROM civicrm_contact WHERE source = 'Joomla user sync'")
  const others = TOTAL - sharedIds.length
  t.ok(created === others - withContact.length || created === others - withContact.length + 1, `the sync created a contact per other user without one, and maybe the shared one (${created})`)
  t.equal(stdout.trim().split('\n').at(-1), `Synchronize Users to Contacts completed. Checked ${TOTAL} user records. Found ${others + 1 - created} matching contact records. ` +
    `Created ${created} new contact records. Skipped 49 user records whose email belongs to another user.`)
  const skips = await db.rows<{ uf_id: number, reason: string }>('SELECT uf_id, reason FROM civibridge_sync_skip ORDER BY uf_id')
  t.same(skips, sharedIds.filter((id) => id !== winner).map((id) => ({ uf_id: id, reason: `email-linked-to-user:${winner}` })), 'the sync skipped the 49 others, with the reason')

  // No duplicate anywhere: one link per user that can be linked, one contact per link, one contact per email.
  t.same(await db.rows('SELECT COUNT(*) AS n, COUNT(DISTINCT uf_id) AS users, COUNT(DISTINCT contact_id) AS contacts, COUNT(DISTINCT uf_name) AS names FROM civicrm_uf_match'),
    [{ n: others + 1, users: others + 1, contacts: others + 1, names: others + 1 }])
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM jos_users u LEFT JOIN civicrm_uf_match m ON m.uf_id = u.id AND m.domain_id = 1 WHERE m.id IS NULL'), 49, 'only the 49 are unlinked')
  t.equal(await count(db, "SELECT COUNT(*) AS n FROM civicrm_contact WHERE contact_type = 'Individual'"), others + 1, 'one Individual per linked user: no duplicate contact')
  t.same(await db.rows('SELECT email FROM civicrm_email GROUP BY email HAVING COUNT(DISTINCT contact_id) > 1'), [], 'no email on two contacts')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_email'), others + 1, 'one email row per contact')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_log'), created + (answers.some((r) => r.json.action === 'created-contact') ? 1 : 0), 'a change-log row per created contact')
  t.same(await db.rows('SELECT status FROM civibridge_sync_job'), [{ status: 'done' }])
  t.comment(`sync ${ms} ms over ${TOTAL} users; 50 answers in ${eventsMs} ms; winner ${winner} (${answers.find((r) => r.id === winner)!.json.action})`)
})

t.test('email swaps in parallel across two processes: A takes B\'s old email as soon as B frees it, in every order, only 200s', async (t) => {
  const db = await testDatabase(t)
  const [p, q] = await Promise.all([startBridge(t, db.url), startBridge(t, db.url)])
  const send = async (to: string, e: Parameters<typeof eventBody>[0]) => {
    const body = eventBody(e)
    const signed = signEvent(SECRET, SITE, body)
    const res = await fetch(`${to}/v1/joomla/events`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${signed.token}` }, body })
    return { status: res.status, json: await res.json() as { action: string, contactId: number | null, reason: string | null } }
  }
  // A's change to B's email and B's change (or delete): A's first and answered before B's is
  // sent, B's first, both at once (either one leaving first, to either process), and B deleted.
  const modes = ['a-first', 'b-first', 'together-a', 'together-b', 'b-deleted'] as const
  const ROUNDS = 60
  const statuses: number[] = []
  const waited: Record<string, number> = {}
  const rounds = Array.from({ length: ROUNDS }, (_, r) => ({ r, mode: modes[r % modes.length], a: 5000 + 2 * r, b: 5001 + 2 * r }))
  const contacts = new Map<number, number>()
  // Ten rounds at a time, each its own pair of users.
  for (let i = 0; i < ROUNDS; i += 10) {
    await Promise.all(rounds.slice(i, i + 10).map(async ({ r, mode, a, b }) => {
      const [ra, rb] = await Promise.all([send(p, { user: { id: a, email: `a${r}@swap.example`, name: `Ann Swap${r}` }, isNew: true }), send(q, { user: { id: b, email: `b${r}@swap.example`, name: `Bob Swap${r}` }, isNew: true })])
      statuses.push(ra.status, rb.status)
      contacts.set(a, ra.json.contactId!)
      contacts.set(b, rb.json.contactId!)
      const [toA, toB] = r % 2 ? [p, q] : [q, p]
      const changeA = () => send(toA, { user: { id: a, email: `B${r}@Swap.example`, name: `Ann Swap${r}` }, isNew: false })
      const changeB = () => (mode === 'b-deleted'
        ? send(toB, { event: 'onUserAfterDelete', user: { id: b, email: `b${r}@swap.example` } })
        : send(toB, { user: { id: b, email: `c${r}@swap.example`, name: `Bob Swap${r}` }, isNew: false }))
      let ansA, ansB
      if (mode === 'a-first') { ansA = await changeA(); ansB = await changeB() } else if (mode === 'b-first') { ansB = await changeB(); ansA = await changeA() } else if (mode === 'together-a') [ansA, ansB] = await Promise.all([changeA(), changeB()])
      else [ansB, ansA] = await Promise.all([changeB(), changeA()])
      statuses.push(ansA.status, ansB.status)
      const aWaited = ansA.json.reason === `email-linked-to-user:${b}`
      if (aWaited) waited[mode] = (waited[mode] ?? 0) + 1
      t.ok(aWaited || ansA.json.reason === 'email-updated', `round ${r} (${mode}): A's answer: waits for B, or updated (${ansA.json.reason})`)
      if (mode === 'a-first') t.ok(aWaited, `round ${r}: A's change, first, waits for B`)
      if (mode === 'b-first') t.notOk(aWaited, `round ${r}: A's change, after B's, is applied at once`)
    }))
  }
  t.same([...new Set(statuses)], [200], `every one of the ${statuses.length} answers is a 200`)

  const links = new Map((await db.rows<{ uf_id: number, uf_name: string, contact_id: number, primary_email: string }>(
    'SELECT m.uf_id, m.uf_name, m.contact_id, e.email AS primary_email FROM civicrm_uf_match m LEFT JOIN civicrm_email e ON e.contact_id = m.contact_id AND e.is_primary = 1')).map((l) => [l.uf_id, l]))
  for (const { r, mode, a, b } of rounds) {
    t.same(links.get(a), { uf_id: a, uf_name: `B${r}@Swap.example`, contact_id: contacts.get(a), primary_email: `b${r}@swap.example` }, `round ${r} (${mode}): A holds B's old email, on A's own contact`)
    if (mode === 'b-deleted') t.equal(links.get(b), undefined, `round ${r} (${mode}): B is unlinked`)
    else t.same(links.get(b), { uf_id: b, uf_name: `c${r}@swap.example`, contact_id: contacts.get(b), primary_email: `c${r}@swap.example` }, `round ${r} (${mode}): B holds its new email, on B's own contact`)
  }
  t.same(await db.rows('SELECT * FROM civibridge_wanted_email'), [], 'no change left waiting')
  t.equal(await count(db, "SELECT COUNT(*) AS n FROM civicrm_contact WHERE contact_type = 'Individual'"), 2 * ROUNDS, 'no contact created by a swap')
  t.same(await db.rows('SELECT email FROM civicrm_email WHERE contact_id IN (SELECT contact_id FROM civicrm_uf_match) GROUP BY email HAVING COUNT(*) > 1'), [], 'no email on two linked contacts')
  // Every wait ended with a hand-over in the unit that freed the email, audited as such.
  const handed = await count(db, "SELECT COUNT(*) AS n FROM civibridge_audit WHERE reason LIKE 'email-freed-by-user:%'")
  t.equal(handed, Object.values(waited).reduce((x, y) => x + y, 0), 'one hand-over per wait')
  t.comment(`${ROUNDS} rounds, ${statuses.length} answers; A waited for B in ${JSON.stringify(waited)}; ${handed} hand-overs`)
})
