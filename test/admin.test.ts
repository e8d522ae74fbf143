// The admin side of Synchronize Users to Contacts over HTTP (Fastify inject), against the real
// MariaDB: the JSON API (start, progress, latest, skipped users, one sync at a time, an
// interrupted or failed job resumed), the pages (login, confirm step, job page, busy page),
// the Change Log and a contact's details, each checked against the rows in the database.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../server/http/app.js'
import { Signer } from '@fastify/cookie'
import { ADMIN_COOKIE, ADMIN_SESSION_TTL_S, adminCookieKey } from '../server/http/plugins/admin-session.js'
import { readFileSync } from 'node:fs'
import { skipReason, humanTime, logText, civicrmContactUrl } from '../server/http/views/admin.js'
import { CHANGE_LOG_PAGE_SIZE } from '../server/data/admin-store.js'
import { SyncClaim, JoomlaUsers } from '../server/data/sync-store.js'
import { html } from '../server/http/views/html.js'
import { fieldErrorText } from '../server/http/views/pages.js'
import { lockKeys } from '../server/domain/link-user.js'
import { createFixtureDatabase, dropDatabase } from '../server/dev/fixture.js'
import { testDatabase, testConfig, buildTestApp, insertContact, ADMIN_TOKEN, SERVER_URL, type TestDb, cookieSigner, holdLocks, holdSyncClaim, eventually } from './helper.js'
import { insertJoomlaUsers, seedExample, SEED_MESSAGE } from './sync-helper.js'
import { CookieJar } from './cookie-jar.js'

const adminSigner = new Signer([adminCookieKey(ADMIN_TOKEN)])

const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` }
const count = async (db: TestDb, q: string, params: unknown[] = []) => Number((await db.rows<{ n: number }>(q, params))[0].n)
const today = () => new Date().toISOString().slice(0, 10)

/** What the seed's example leaves in CiviCRM's tables: 3 links to the old contacts, 2 new contacts with their emails and a log row each. */
async function assertSeedSynced (t: Tap.Test, db: TestDb, seed: { ann: number, bob: number, cy: number }): Promise<{ dana: number, eve: number }> {
  const links = await db.rows<{ uf_id: number, uf_name: string, contact_id: number }>('SELECT uf_id, uf_name, contact_id FROM civicrm_uf_match ORDER BY uf_id')
  const [dana, eve] = [links[3]?.contact_id, links[4]?.contact_id]
  t.same(links, [
    { uf_id: 42, uf_name: 'ANN@example.org', contact_id: seed.ann }, { uf_id: 43, uf_name: 'bob@example.org', contact_id: seed.bob },
    { uf_id: 44, uf_name: 'cy@example.org', contact_id: seed.cy }, { uf_id: 45, uf_name: 'Dana@Example.org', contact_id: dana }, { uf_id: 46, uf_name: 'eve@example.org', contact_id: eve },
  ], 'one link per user')
  t.ok(dana > seed.cy && eve > seed.cy && dana !== eve, 'users 45 and 46 have new contacts')
  // Dana and Eve are in different chunks, which may insert in either order (two chunks in flight).
  t.same(await db.rows('SELECT c.id, c.contact_type, c.first_name, c.middle_name, c.last_name, c.display_name, c.source, e.email, e.is_primary FROM civicrm_contact c JOIN civicrm_email e ON e.contact_id = c.id WHERE c.id > ? ORDER BY c.id', [seed.cy]), [
    { id: dana, contact_type: 'Individual', first_name: 'Dana', middle_name: 'van der', last_name: 'Berg', display_name: 'Dana Berg', source: 'Joomla user sync', email: 'dana@example.org', is_primary: 1 },
    { id: eve, contact_type: 'Individual', first_name: null, middle_name: null, last_name: null, display_name: 'eve@example.org', source: 'Joomla user sync', email: 'eve@example.org', is_primary: 1 },
  ].sort((x, y) => x.id - y.id), 'exactly two new contacts, each with its email')
  t.equal(await count(db, "SELECT COUNT(*) AS n FROM civicrm_contact WHERE contact_type = 'Individual'"), 5, 'no duplicate contact')
  t.same(await db.rows('SELECT entity_table, entity_id, data FROM civicrm_log ORDER BY entity_id'), [
    { entity_table: 'civicrm_contact', entity_id: dana, data: `civicrm_contact,${dana}` }, { entity_table: 'civicrm_contact', entity_id: eve, data: `civicrm_contact,${eve}` },
  ].sort((x, y) => x.entity_id - y.entity_id), 'a civicrm_log row per new contact, none for the matched ones')
  return { dana, eve }
}

/** A browser on the admin pages. */
class Jar extends CookieJar {
  /** Logs in through the form. */
  async login () {
    const res = await this.submit('/admin/login', { token: ADMIN_TOKEN })
    if (res.statusCode !== 303) throw new Error(`login answered ${res.statusCode}`)
    return this
  }
}

/** Polls the JSON API until the job is no longer running. */
async function finished (app: FastifyInstance, id: number, headers: Record<string, string> = AUTH) {
  const res = await eventually(`job ${id} to end`, async () => {
    const res = await app.inject({ url: `/v1/admin/sync/jobs/${id}`, headers })
    return (res.statusCode !== 200 || res.json().status !== 'running') && res
  }, { everyMs: 25 })
  return res.json()
}

async function waitFor (what: string, check: () => Promise<boolean>) {
  await eventually(what, check, { everyMs: 25 })
}

/** Holds a live event's lock rows (of `keys`) in an open transaction, or, without keys, the sync claim, as another process would. */
async function holdLock (t: Tap.Test, db: TestDb, keys: string[] | 'sync') {
  return (keys === 'sync' ? await holdSyncClaim(t, db.url) : await holdLocks(t, db.url, keys)).release
}

t.test('the JSON API: admin token only, a valid batch size, 404 for an unknown job; nothing written when refused', async (t) => {
  const db = await testDatabase(t)
  await seedExample(db)
  const app = await buildTestApp(t, db)
  const post = (headers: Record<string, string>, payload?: unknown) => app.inject({ method: 'POST', url: '/v1/admin/sync', headers, ...(payload === undefined ? {} : { payload: payload as object }) })
  t.equal((await post({})).statusCode, 401, 'no token')
  t.equal((await post({ authorization: 'Bearer not-the-admin-token' })).statusCode, 401, 'wrong token')
  t.equal((await post({ authorization: `Basic ${ADMIN_TOKEN}` })).statusCode, 401, 'not a bearer token')
  for (const batchSize of [0, -1, 5001, 2.5, '10', null]) {
    const res = await post(AUTH, { batchSize })
    t.equal(res.statusCode, 400, `batchSize ${JSON.stringify(batchSize)}`)
    t.match(res.json(), { error: 'Bad Request', message: /batchSize/ })
  }
  t.equal((await post(AUTH, { batchSize: 10, fast: true })).statusCode, 400, 'an unknown field')
  t.match((await post(AUTH)).json(), { error: 'Bad Request', message: 'body must be object' }, 'no body: send {} for the defaults')
  for (const url of ['/v1/admin/sync', '/v1/admin/sync/jobs/1', '/v1/admin/sync/jobs/1/skipped']) {
    t.equal((await app.inject({ url })).statusCode, 401, `${url} without a token`)
    t.equal((await app.inject({ url, headers: { authorization: 'Bearer wrong' } })).statusCode, 401, `${url} with a wrong token`)
  }
  t.same((await app.inject({ url: '/v1/admin/sync', headers: AUTH })).json(), { latest: null }, 'no job yet')
  t.same((await app.inject({ url: '/v1/admin/sync/jobs/999', headers: AUTH })).json(), { error: 'Not Found', message: 'no sync job 999' })
  t.equal((await app.inject({ url: '/v1/admin/sync/jobs/999/skipped', headers: AUTH })).statusCode, 404)
  t.equal((await app.inject({ url: '/v1/admin/sync/jobs/abc', headers: AUTH })).statusCode, 400)
  t.equal((await app.inject({ url: '/v1/admin/sync/jobs/0', headers: AUTH })).statusCode, 400)
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job'), 0, 'no job row')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_uf_match'), 0, 'no link')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_log'), 0, 'no change log row')
})

t.test('the JSON API: 202 + Location, polled to the seed\'s exact message; latest; skipped users', async (t) => {
  const db = await testDatabase(t)
  const seed = await seedExample(db)
  const app = await buildTestApp(t, db)
  const res = await app.inject({ method: 'POST', url: '/v1/admin/sync', headers: AUTH, payload: { batchSize: 2 } })
  t.equal(res.statusCode, 202)
  const started = res.json()
  t.match(started, { id: Number, status: /^(running|done)$/, resumed: false, total: 5, startedAt: String })
  t.equal(res.headers.location, `/v1/admin/sync/jobs/${started.id}`)
  const done = await finished(app, started.id)
  t.same(done, {
    id: started.id,
    status: 'done',
    done: 5,
    total: 5,
    percent: 100,
    counts: { checked: 5, matched: 3, created: 2, skipped: 0, skippedInvalid: 0, skippedTaken: 0 },
    rate: null,
    etaS: null,
    message: SEED_MESSAGE,
    error: null,
    startedAt: started.startedAt,
    finishedAt: done.finishedAt,
  })
  t.ok(Date.parse(done.finishedAt) >= Date.parse(done.startedAt))
  await assertSeedSynced(t, db, seed)
  t.match(await db.rows('SELECT id, status, batch_size, last_user_id, checked, matched, created, skipped, total_users, message, error FROM civibridge_sync_job'), [
    { id: started.id, status: 'done', batch_size: 2, last_user_id: 46, checked: 5, matched: 3, created: 2, skipped: 0, total_users: 5, message: SEED_MESSAGE, error: null },
  ])
  t.same(await db.rows('SELECT uf_id, `trigger`, action FROM civibridge_audit ORDER BY uf_id'), [
    { uf_id: 42, trigger: 'sync', action: 'linked-existing' }, { uf_id: 43, trigger: 'sync', action: 'linked-existing' }, { uf_id: 44, trigger: 'sync', action: 'linked-existing' },
    { uf_id: 45, trigger: 'sync', action: 'created-contact' }, { uf_id: 46, trigger: 'sync', action: 'created-contact' },
  ])
  t.same((await app.inject({ url: '/v1/admin/sync', headers: AUTH })).json(), { latest: done })
  t.same((await app.inject({ url: `/v1/admin/sync/jobs/${started.id}/skipped`, headers: AUTH })).json(), { jobId: started.id, skippedUsers: [] })

  // A second run with the default batch size: users without a valid email are skipped and listed.
  await insertJoomlaUsers(db, [{ id: 47, email: 'nope' }, { id: 48, email: '' }, { id: 49, email: 'ANN@example.org' }])
  const again = await app.inject({ method: 'POST', url: '/v1/admin/sync', headers: AUTH, payload: {} })
  t.equal(again.statusCode, 202)
  const second = await finished(app, again.json().id)
  t.equal(second.message, 'Synchronize Users to Contacts completed. Checked 8 user records. Found 5 matching contact records. Created 0 new contact records. Skipped 2 user records without a valid email. Skipped one user record whose email belongs to another user.')
  t.match(second, { counts: { checked: 8, matched: 5, created: 0, skipped: 3, skippedInvalid: 2, skippedTaken: 1 } })
  t.same((await app.inject({ url: `/v1/admin/sync/jobs/${second.id}/skipped`, headers: AUTH })).json(),
    { jobId: second.id, skippedUsers: [{ id: 47, reason: 'invalid-email' }, { id: 48, reason: 'missing-email' }, { id: 49, reason: 'email-linked-to-user:42' }] })
  t.same(await db.rows('SELECT uf_id, reason FROM civibridge_sync_skip WHERE job_id = ? ORDER BY uf_id', [second.id]), [{ uf_id: 47, reason: 'invalid-email' }, { uf_id: 48, reason: 'missing-email' }, { uf_id: 49, reason: 'email-linked-to-user:42' }])
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_uf_match'), 5, 'no new link')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_log'), 2, 'no new change log row')
  t.match((await app.inject({ url: '/v1/admin/sync', headers: AUTH })).json(), { latest: { id: second.id } })
  t.match(await db.rows('SELECT batch_size FROM civibridge_sync_job ORDER BY id'), [{ batch_size: 2 }, { batch_size: 1000 }])
})

t.test('one sync at a time: live progress, 409 while the lock is held here or elsewhere, interrupted by a shutdown, then resumed', async (t) => {
  const db = await testDatabase(t)
  const seed = await seedExample(db)
  const first = await buildApp(testConfig(db.url))
  let closed = false
  t.teardown(() => (closed ? undefined : first.close()))
  await first.ready()
  const admin = await new Jar(first).login()

  // Another tool holds the sync lock and no job row exists: refused, nothing written.
  const releaseSync = await holdLock(t, db, 'sync')
  const busy = await first.inject({ method: 'POST', url: '/v1/admin/sync', headers: AUTH, payload: {} })
  t.equal(busy.statusCode, 409)
  t.same(busy.json(), { error: 'Conflict', message: 'A synchronization is already running.', jobId: null })
  const busyPage = await admin.submit('/admin/sync/start', {}, '/admin/sync/confirm')
  t.equal(busyPage.statusCode, 409)
  t.match(busyPage.body, '<div class="error" role="alert"><p>A synchronization is already running.</p></div>')
  t.match(busyPage.body, 'No synchronization has run yet.')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job'), 0)
  await releaseSync()

  // User 44's lock held (a live event for that user): the job waits in its second pair of chunks, running.
  const releaseUser = await holdLock(t, db, [lockKeys.user(44)])
  const res = await first.inject({ method: 'POST', url: '/v1/admin/sync', headers: AUTH, payload: { batchSize: 1 } })
  t.equal(res.statusCode, 202)
  const id: number = res.json().id
  // The job's live figures move once a chunk's commit has answered: polled on the API, not on
  // the job row, which a poll on another connection can see a moment earlier.
  const liveJob = async () => (await first.inject({ url: `/v1/admin/sync/jobs/${id}`, headers: AUTH })).json()
  await waitFor('two chunks', async () => (await liveJob()).done === 2)
  t.equal(await count(db, 'SELECT checked AS n FROM civibridge_sync_job WHERE id = ?', [id]), 2, 'the job row has the two chunks')
  const live = await liveJob()
  t.match(live, { id, status: 'running', done: 2, total: 5, percent: 40, counts: { checked: 2, matched: 2, created: 0 }, message: null, error: null, finishedAt: null })
  t.ok(live.rate > 0, 'a rate')
  t.ok(live.etaS > 0, 'and the time left')
  const page = await admin.get(`/admin/sync/jobs/${id}`)
  t.match(page.body, `<div id="sync-job" data-job-id="${id}" data-status="running">`)
  t.match(page.body, '<progress id="sync-progress" aria-labelledby="sync-label" max="5" value="2">40%</progress>')
  t.match(page.body, /<p id="sync-status" role="status" aria-live="polite">2 of 5 users checked \(40%\), \d+ users\/s, about \d+ s left\.<\/p>/)
  t.match(page.body, '<div id="sync-message" class="ok" role="status" aria-live="polite" hidden>')
  t.match(page.body, `/admin/change-log?from=${today()}&amp;to=${today()}`)
  t.match((await admin.get('/admin/sync')).body, new RegExp(`Job ${id} \\(started \\d{1,2} [A-Z][a-z]{2} \\d{4}, \\d\\d:\\d\\d UTC\\) is running: 2 of 5 users checked\\.`))
  // A second start, by the API or the page, while this process runs the job.
  const twice = await first.inject({ method: 'POST', url: '/v1/admin/sync', headers: AUTH, payload: {} })
  t.equal(twice.statusCode, 409)
  t.match(twice.json(), { error: 'Conflict', message: new RegExp(`^A synchronization is already running \\(job ${id}, started \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z\\)\\.$`), jobId: id })
  const twicePage = await admin.submit('/admin/sync/start', {}, '/admin/sync/confirm')
  t.equal(twicePage.statusCode, 409)
  t.match(twicePage.body, `A synchronization is already running (job ${id}, started`)
  t.match(twicePage.body, 'Follow its progress</a>.')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job'), 1, 'still one job')

  // The server shuts down: the job stops after its current pair of chunks (users 44 and 45, one after the other) and stays resumable.
  // (That pair has begun: user 44's chunk waits for its lock row. On a busy machine it may not have yet.)
  await waitFor('the next pair waits for user 44', async () => (await count(db, "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE info LIKE 'INSERT INTO civibridge_lock%' AND db = DATABASE()")) >= 1)
  const closing = first.close()
  await releaseUser()
  await closing
  closed = true
  t.match(await db.rows('SELECT status, last_user_id, checked, matched, created, finished_at, error FROM civibridge_sync_job WHERE id = ?', [id]),
    [{ status: 'running', last_user_id: 45, checked: 4, matched: 3, created: 1, finished_at: null, error: null }])
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_uf_match'), 4, 'the four committed chunks, nothing after them')

  // Another process: the job is interrupted (nobody holds the lock)...
  const app = await buildTestApp(t, db)
  const jar = await new Jar(app).login()
  t.match((await app.inject({ url: `/v1/admin/sync/jobs/${id}`, headers: AUTH })).json(), { id, status: 'interrupted', done: 4, total: 5, percent: 80, rate: null, etaS: null, finishedAt: null })
  const syncPage = await jar.get('/admin/sync')
  t.match(syncPage.body, '<h2>Unfinished synchronization</h2>')
  t.match(syncPage.body, new RegExp(`Job ${id} \\(started \\d{1,2} [A-Z][a-z]{2} \\d{4}, \\d\\d:\\d\\d UTC\\) is interrupted: 4 of 5 users checked\\.`))
  t.match(syncPage.body, `<a href="/admin/sync/jobs/${id}">Follow its progress</a>; starting a synchronization resumes it.`)
  const interrupted = await jar.get(`/admin/sync/jobs/${id}`)
  t.match(interrupted.body, 'data-status="interrupted"')
  t.match(interrupted.body, 'Interrupted after 4 of 5 users; start the synchronization again to resume.')
  // ...or running elsewhere while someone holds the lock: its figures come from the job row.
  const releaseAgain = await holdLock(t, db, 'sync')
  const elsewhere = (await app.inject({ url: `/v1/admin/sync/jobs/${id}`, headers: { cookie: jar.header } })).json()
  t.match(elsewhere, { id, status: 'running', done: 4, total: 5, percent: 80 })
  t.ok(elsewhere.rate > 0 && elsewhere.etaS > 0, 'rate from the job row\'s start and heartbeat')
  t.match((await app.inject({ method: 'POST', url: '/v1/admin/sync', headers: AUTH, payload: {} })).json(), { error: 'Conflict', jobId: id })
  await releaseAgain()

  // Started again: resumes the same job and ends with the seed's message for the whole job.
  const resumed = await app.inject({ method: 'POST', url: '/v1/admin/sync', headers: AUTH, payload: {} })
  t.equal(resumed.statusCode, 202)
  t.match(resumed.json(), { id, resumed: true })
  t.match(await finished(app, id), { status: 'done', done: 5, total: 5, percent: 100, message: SEED_MESSAGE })
  await assertSeedSynced(t, db, seed)
  t.match(await db.rows('SELECT id, status, checked, matched, created, last_user_id FROM civibridge_sync_job'), [{ id, status: 'done', checked: 5, matched: 3, created: 2, last_user_id: 46 }])
})

t.test('a start that cannot read the users: 500 from the API and the page, no job', async (t) => {
  const db = await testDatabase(t)
  await seedExample(db)
  await db.sql.query('RENAME TABLE jos_users TO jos_users_away')
  for (const how of ['API', 'page']) {
    const app = await buildApp(testConfig(db.url))
    try {
      await app.ready()
      const res = how === 'API'
        ? await app.inject({ method: 'POST', url: '/v1/admin/sync', headers: AUTH, payload: {} })
        : await (await new Jar(app).login()).submit('/admin/sync/start', {}, '/admin/sync/confirm')
      t.equal(res.statusCode, 500, how)
      t.equal(await new SyncClaim(1).held(db.sql), false, `${how}: the sync claim is given back`)
    } finally {
      await app.close()
    }
  }
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job'), 0, 'no job')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_uf_match'), 0, 'no link')
})

t.test('a chunk that fails keeps the job resumable, with its error on the job page', async (t) => {
  const db = await testDatabase(t)
  const seed = await seedExample(db)
  const app = await buildTestApp(t, db)
  const jar = await new Jar(app).login()
  await db.sql.query('RENAME TABLE civicrm_log TO civicrm_log_away')
  const res = await app.inject({ method: 'POST', url: '/v1/admin/sync', headers: AUTH, payload: {} })
  t.equal(res.statusCode, 202)
  const id: number = res.json().id
  const failed = await finished(app, id)
  t.match(failed, { id, status: 'interrupted', done: 0, error: /civicrm_log/, message: null })
  t.match(await db.rows('SELECT status, checked, error FROM civibridge_sync_job'), [{ status: 'running', checked: 0, error: /civicrm_log/ }])
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_uf_match'), 0, 'the failed chunk was rolled back')
  t.equal(await count(db, "SELECT COUNT(*) AS n FROM civicrm_contact WHERE contact_type = 'Individual'"), 3)
  const page = await jar.get(`/admin/sync/jobs/${id}`)
  t.match(page.body, /<div id="sync-error" class="error" role="alert"><p>The synchronization stopped after 0 of 5 users because of an error\. Start it again: it resumes where it stopped\. \(Details: [^<]*civicrm_log[^<]*\)<\/p><\/div>/, 'the failure in words, not raw')
  await db.sql.query('RENAME TABLE civicrm_log_away TO civicrm_log')
  const resumed = await app.inject({ method: 'POST', url: '/v1/admin/sync', headers: AUTH, payload: {} })
  t.match(resumed.json(), { id, resumed: true })
  // (The job row keeps the earlier chunk's error, and the API shows it; the finished job page does not.)
  t.match(await finished(app, id), { status: 'done', message: SEED_MESSAGE })
  t.match((await jar.get(`/admin/sync/jobs/${id}`)).body, '<div id="sync-error" class="error" role="alert" hidden>')
  await assertSeedSynced(t, db, seed)
})

t.test('the admin pages: human times, thousands separators, the skipped users named, a failure to start in words', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  const jar = await new Jar(app).login()
  await insertJoomlaUsers(db, [
    { id: 7, name: 'Nora No-Mail', username: 'nora', email: 'not an email' },
    { id: 8, name: 'Otto <Twin>', username: 'otto', email: 'twin@example.org' },
    { id: 9, name: 'Pia Twin', username: 'pia', email: 'twin@example.org' },
  ])
  const res = await jar.submit('/admin/sync/start', {}, '/admin/sync/confirm')
  const id = Number(/^\/admin\/sync\/jobs\/(\d+)$/.exec(res.headers.location as string)![1])
  t.match(await finished(app, id, { cookie: jar.header }), { status: 'done', counts: { skipped: 2 } })
  t.same(await db.rows('SELECT uf_id, reason FROM civibridge_sync_skip ORDER BY uf_id'), [{ uf_id: 7, reason: 'invalid-email' }, { uf_id: 9, reason: 'duplicate-email' }])
  const skipped = '<ul id="skipped-users" aria-labelledby="skipped-heading"><li>Nora No-Mail (nora, Joomla user 7): the email address is not valid</li><li>Pia Twin (pia, Joomla user 9): another user in the same batch has the same email address</li></ul>'
  const jobPage = await jar.get(`/admin/sync/jobs/${id}`)
  t.match(jobPage.body, skipped, 'the job page names the skipped users and why, in words')
  t.match(jobPage.body, /<p id="sync-label">Job \d+, started \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC<\/p>/, 'a time as people read it')
  const syncPage = await jar.get('/admin/sync')
  t.match(syncPage.body, skipped)
  t.match(syncPage.body, /<p>Finished \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC\. /)
  t.notMatch(syncPage.body + jobPage.body, /\d{4}-\d\d-\d\dT\d\d:/, 'no ISO time on the pages')
  // A user gone from Joomla since, and thousands (a job another process ran: its row's figures).
  await db.sql.query('DELETE FROM jos_users WHERE id = 9')
  const now = new Date()
  const [other] = await db.sql.query("INSERT INTO civibridge_sync_job (domain_id, status, batch_size, checked, skipped, total_users, message, started_at, heartbeat_at, finished_at) VALUES (1, 'done', 1000, 12345, 1002, 12345, 'Done.', ?, ?, ?)", [now, now, now]) as unknown as [{ insertId: number }]
  await db.sql.query("INSERT INTO civibridge_sync_skip (job_id, uf_id, reason) VALUES (?, 7, 'invalid-email'), (?, 9, 'duplicate-email')", [other.insertId, other.insertId])
  const big = await jar.get(`/admin/sync/jobs/${other.insertId}`)
  t.match(big.body, 'Completed: 12,345 of 12,345 users checked.')
  t.match(big.body, '<h2 id="skipped-heading">Skipped users (the first 2 of 1,002)</h2>')
  t.match(big.body, '<li>Joomla user 9 (no longer in Joomla): another user in the same batch has the same email address</li>')
  // A start that fails (Joomla's table is gone) is a page in words, not JSON, and changes nothing.
  await db.sql.query('RENAME TABLE jos_users TO jos_users_away')
  const jobs = await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job')
  const failed = await jar.submit('/admin/sync/start', {}, '/admin/sync/confirm')
  t.equal(failed.statusCode, 500)
  t.match(failed.headers['content-type'], /^text\/html/)
  t.match(failed.body, /<div class="error" role="alert"><p>The synchronization could not start because of an error; nothing was changed\. Check the bridge&#39;s configuration \(JOOMLA_DB_URL, JOOMLA_DB_PREFIX\) and try again\. \(Details: [^<]*jos_users[^<]*\)<\/p><\/div>/)
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job'), jobs, 'no job was added')
  await db.sql.query('RENAME TABLE jos_users_away TO jos_users')
})

t.test('log rows in words; links into CiviCRM on Drupal/WordPress and on Joomla', async (t) => {
  t.equal(logText('civicrm_contact,107'), 'contact record 107 saved')
  t.equal(logText('bob again'), 'bob again')
  t.equal(logText(null), '(no details)')
  t.equal(logText(''), '(no details)')
  t.equal(civicrmContactUrl(null, 7), null)
  t.equal(civicrmContactUrl('https://example.org/', 7), 'https://example.org/civicrm/contact/view?reset=1&cid=7')
  t.equal(civicrmContactUrl(JOOMLA_CIVICRM, 7), 'https://civi.example.org/administrator/index.php?option=com_civicrm&task=civicrm/contact/view&reset=1&cid=7')
})

t.test('an unknown /admin/ address is an HTML page, 404', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  const jar = await new Jar(app).login()
  for (const url of ['/admin/nothing-here', '/admin/sync/jobs/1/extra?x=1']) {
    const res = await jar.get(url)
    t.equal(res.statusCode, 404, url)
    t.match(res.headers['content-type'], /^text\/html/)
    t.match(res.body, `<p>There is no page ${url.split('?')[0]}.</p>`)
  }
  const anonymous = await app.inject({ url: '/admin/nothing-here' })
  t.equal(anonymous.statusCode, 404)
  t.match(anonymous.headers['content-type'], /^text\/html/)
})

t.test('the html tag escapes every value but its own markup', async (t) => {
  const evil = '<script>alert("x")</script> & \''
  t.equal(html`<p title="${evil}">${evil}</p>`.value, '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;</p>')
  t.equal(html`<ul>${['a<', html`<b>b</b>`].map((x) => html`<li>${x}</li>`)}</ul>`.value, '<ul><li>a&lt;</li><li><b>b</b></li></ul>', 'markup from html passes, strings do not')
  t.equal(html`[${null}${undefined}${false}${0}${''}]`.value, '[0]', 'null, undefined and false are nothing; 0 is 0')
  t.equal(String(html`<i>${'&'}</i>`), '<i>&amp;</i>')
  t.equal(fieldErrorText({ field: 'gid', message: 'gid: must be a positive integer' }), 'gid: must be a positive integer', 'a field without a label keeps its message')
  t.equal(fieldErrorText({ field: 'first_name', message: 'fields.first_name: is too long' }), 'First name is too long')
  const db = await testDatabase(t)
  t.same(await new JoomlaUsers(db.sql, 'jos_').names([]), new Map(), 'no ids, no query')
})

t.test('skipped users\' reasons in words', async (t) => {
  t.equal(skipReason('missing-email'), 'no email address')
  t.equal(skipReason('email-too-long'), 'the email address is too long for CiviCRM')
  t.equal(skipReason('email-linked-to-user:12'), 'their email belongs to Joomla user 12, who is linked to a contact already')
  t.equal(skipReason('something-new'), 'something-new')
})

t.test('job figures without users, without a total, without a finish time', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  const jar = await new Jar(app).login()
  const res = await jar.submit('/admin/sync/start', {}, '/admin/sync/confirm')
  t.equal(res.statusCode, 303)
  const id = Number(/^\/admin\/sync\/jobs\/(\d+)$/.exec(res.headers.location as string)![1])
  t.match(await finished(app, id, { cookie: jar.header }), { status: 'done', done: 0, total: 0, percent: 100, message: 'Synchronize Users to Contacts completed. Checked 0 user records. Created 0 new contact records.' })
  // Rows another version may leave: a running job without a total, a done job without a finish time.
  const now = new Date()
  const [running] = await db.sql.query("INSERT INTO civibridge_sync_job (domain_id, status, batch_size, started_at, heartbeat_at) VALUES (1, 'running', 10, ?, ?)", [now, now]) as unknown as [{ insertId: number }]
  const release = await holdLock(t, db, 'sync')
  t.match((await app.inject({ url: `/v1/admin/sync/jobs/${running.insertId}`, headers: AUTH })).json(), { status: 'running', done: 0, total: 0, percent: 0, rate: null, etaS: null })
  t.match((await jar.get(`/admin/sync/jobs/${running.insertId}`)).body, '<p id="sync-status" role="status" aria-live="polite">0 of 0 users checked (0%).</p>')
  await release()
  t.match((await app.inject({ url: `/v1/admin/sync/jobs/${running.insertId}`, headers: AUTH })).json(), { status: 'interrupted', percent: 0 })
  await db.sql.query("UPDATE civibridge_sync_job SET status = 'done', message = 'Done long ago.', started_at = '2024-03-10 12:00:00' WHERE id = ?", [running.insertId])
  t.match((await app.inject({ url: '/v1/admin/sync', headers: AUTH })).json(), { latest: { id: running.insertId, status: 'done', percent: 100, finishedAt: null, message: 'Done long ago.' } })
  const page = await jar.get('/admin/sync')
  t.match(page.body, '<h2>Last synchronization</h2><div class="ok" role="status"><p>Done long ago.</p></div>')
  t.match(page.body, '<a href="/admin/change-log?from=2024-03-10&amp;to=2024-03-10">See the contacts it created in the Change Log</a>')
})

t.test('JOOMLA_DB_URL: the users are read from Joomla\'s own database', async (t) => {
  const db = await testDatabase(t, { joomlaPrefix: null })
  const joomlaName = `cbt_j${Date.now().toString(36)}${process.pid}`
  const joomlaUrl = await createFixtureDatabase(SERVER_URL, joomlaName, { civicrm: false, migrate: false, joomlaPrefix: 'jx_' })
  t.teardown(() => dropDatabase(SERVER_URL, joomlaName))
  const ann = await insertContact(db, { first: 'Ann', last: 'Lee', emails: [{ email: 'ann@example.org', primary: true }] })
  const mysql = (await import('mysql2/promise')).default
  const jconn = await mysql.createConnection({ uri: joomlaUrl })
  await jconn.query("INSERT INTO jx_users (id, name, username, email, password, params) VALUES (7, 'Ann Lee', 'ann', 'ann@example.org', '', ''), (8, 'Zed Zee', 'zed', 'zed@example.org', '', '')")
  await jconn.end()
  const app = await buildTestApp(t, db, { JOOMLA_DB_URL: joomlaUrl, JOOMLA_DB_PREFIX: 'jx_' })
  const res = await app.inject({ method: 'POST', url: '/v1/admin/sync', headers: AUTH, payload: {} })
  t.equal(res.statusCode, 202)
  t.match(await finished(app, res.json().id), { status: 'done', message: 'Synchronize Users to Contacts completed. Checked 2 user records. Found one matching contact record. Created one new contact record.' })
  const links = await db.rows<{ uf_id: number, contact_id: number }>('SELECT uf_id, contact_id FROM civicrm_uf_match ORDER BY uf_id')
  t.same(links.map((l) => l.uf_id), [7, 8])
  t.equal(links[0].contact_id, ann)
  t.same(await db.rows('SELECT email FROM civicrm_email WHERE contact_id = ?', [links[1].contact_id]), [{ email: 'zed@example.org' }])
})

const JOOMLA_CIVICRM = 'https://civi.example.org/administrator/index.php?option=com_civicrm&task='

t.test('the pages: login, the confirm step, the job page, the Change Log, a contact, logout', async (t) => {
  const db = await testDatabase(t)
  const seed = await seedExample(db)
  const app = await buildTestApp(t, db, { CIVICRM_BASE_URL: JOOMLA_CIVICRM })

  t.test('login: a signed HttpOnly SameSite=Lax cookie; next only to /admin/ paths; no session, no page', async (t) => {
    const jar = new Jar(app)
    t.match(await app.inject({ url: '/admin' }), { statusCode: 303, headers: { location: '/admin/sync' } })
    for (const url of ['/admin/sync', '/admin/sync/confirm', '/admin/sync/jobs/1', '/admin/change-log', '/admin/contacts/1']) {
      const res = await jar.get(url)
      t.equal(res.statusCode, 303, url)
      t.equal(res.headers.location, `/admin/login?next=${encodeURIComponent(url)}`)
    }
    t.match(await jar.post('/admin/sync/start', {}), { statusCode: 303, headers: { location: '/admin/login?next=%2Fadmin%2Fsync%2Fstart' } })
    const form = await jar.get('/admin/login?next=%2Fadmin%2Fchange-log%3Ffrom%3D2024-03-10')
    t.equal(form.statusCode, 200)
    t.match(form.headers['content-type'], 'text/html; charset=utf-8')
    t.equal(form.headers['cache-control'], 'no-store')
    t.match(form.body, '<title>Administrator login | CiviCRM bridge</title>')
    t.match(form.body, '<input type="hidden" name="next" value="/admin/change-log?from=2024-03-10">')
    t.match(form.body, '<label for="token">Administrator token</label>')
    t.notMatch(form.body, '<header>', 'no navigation before login')
    t.notMatch(form.body, 'role="alert"')
    for (const next of ['https://evil.example/admin/', '//evil.example/admin/', '/admin', '/civicrm/profile/edit', '/admin/"><script>']) {
      t.match((await jar.get(`/admin/login?next=${encodeURIComponent(next)}`)).body, '<input type="hidden" name="next" value="/admin/sync">', `next=${next}`)
    }
    t.match((await jar.get('/admin/login')).body, 'name="next" value="/admin/sync"')

    t.equal((await jar.post('/admin/login', { token: ADMIN_TOKEN })).statusCode, 403, 'no CSRF token')
    const wrong = await jar.submit('/admin/login', { token: 'not-the-token', next: '/admin/change-log' })
    t.equal(wrong.statusCode, 401)
    t.match(wrong.body, '<div class="error" role="alert"><p>That is not the administrator token.</p></div>')
    t.match(wrong.body, 'autocomplete="current-password" size="50" aria-invalid="true">')
    t.match(wrong.body, 'name="next" value="/admin/change-log"')
    t.notOk(jar.cookies.has(ADMIN_COOKIE), 'no session')

    const before = Math.floor(Date.now() / 1000)
    const ok = await jar.submit('/admin/login', { token: ADMIN_TOKEN, next: '/admin/change-log?from=2024-03-10' }, '/admin/login?next=%2Fadmin%2Fchange-log%3Ffrom%3D2024-03-10')
    t.equal(ok.statusCode, 303)
    t.equal(ok.headers.location, '/admin/change-log?from=2024-03-10')
    const cookie = ok.cookies.find((c) => c.name === ADMIN_COOKIE)!
    t.match(cookie, { httpOnly: true, sameSite: 'Lax', path: '/', maxAge: ADMIN_SESSION_TTL_S })
    t.notOk(cookie.secure, 'not Secure over plain http')
    const { valid, value: id } = adminSigner.unsign(cookie.value)
    t.ok(valid, 'signed with the admin session key')
    t.match(id, /^[A-Za-z0-9_-]{43}$/, 'a random id, nothing else')
    const [row] = await db.rows<{ expires_at: Date }>('SELECT expires_at FROM civibridge_admin_session WHERE id_sha256 = SHA2(?, 256)', [id])
    const exp = row.expires_at.getTime() / 1000
    t.ok(exp >= before + ADMIN_SESSION_TTL_S && exp <= Math.ceil(Date.now() / 1000) + ADMIN_SESSION_TTL_S, 'the session row expires in 8 hours')
    t.equal((await jar.get('/admin/change-log?from=2024-03-10')).statusCode, 200)

    t.equal((await new Jar(app).submit('/admin/login', { token: ADMIN_TOKEN, next: 'https://evil.example/' })).headers.location, '/admin/sync', 'next elsewhere: /admin/sync')
    t.equal((await new Jar(app).submit('/admin/login', { token: ADMIN_TOKEN })).headers.location, '/admin/sync')

    // Unsigned cookies, cookies signed with another key (the pages' cookie key) and ids that are not an open session are no session.
    for (const [what, value] of [['unsigned', id!], ['signed with the pages\' key', cookieSigner.sign(id!)], ['unknown id', adminSigner.sign('A'.repeat(43))], ['malformed', adminSigner.sign('admin.9999999999')]]) {
      const forged = new Jar(app)
      forged.cookies.set(ADMIN_COOKIE, value)
      t.equal((await forged.get('/admin/sync')).statusCode, 303, what)
      t.equal((await app.inject({ url: '/v1/admin/sync', headers: { cookie: forged.header } })).statusCode, 401, `${what}: no API read either`)
    }
    // The session reads the JSON API, a wrong bearer token wins over it, and it never writes through the API.
    t.equal((await app.inject({ url: '/v1/admin/sync', headers: { cookie: jar.header } })).statusCode, 200)
    t.equal((await app.inject({ url: '/v1/admin/sync', headers: { cookie: jar.header, authorization: 'Bearer wrong' } })).statusCode, 401)
    t.equal((await app.inject({ method: 'POST', url: '/v1/admin/sync', headers: { cookie: jar.header } })).statusCode, 401)
    t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job'), 0)
  })

  t.test('Synchronize Users to Contacts: button, "Click OK to proceed", CSRF, the job page to the final message', async (t) => {
    const jar = await new Jar(app).login()
    const sync = await jar.get('/admin/sync')
    t.equal(sync.statusCode, 200)
    t.equal(sync.headers['cache-control'], 'no-store')
    t.match(sync.body, '<h1>Synchronize Users to Contacts</h1>')
    t.match(sync.body, '<p>No synchronization has run yet.</p>')
    t.match(sync.body, '<form method="get" action="/admin/sync/confirm"><button type="submit">Synchronize Users to Contacts</button></form>')
    t.match(sync.body, '<nav aria-label="Administration"><a href="/admin/sync">Synchronize Users to Contacts</a><a href="/admin/change-log">Change Log</a>')
    const confirm = await jar.get('/admin/sync/confirm')
    t.equal(confirm.statusCode, 200)
    t.match(confirm.body, '<p><strong>Click OK to proceed.</strong></p>')
    t.match(confirm.body, /<form method="post" action="\/admin\/sync\/start">\n<input type="hidden" name="_csrf" value="[^"]+">\n<button type="submit">OK<\/button> <a class="button secondary" href="\/admin\/sync">Cancel<\/a>/)
    t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job'), 0, 'nothing started before OK')

    t.equal((await jar.post('/admin/sync/start', {})).statusCode, 403, 'OK without the CSRF token')
    t.equal((await jar.post('/admin/sync/start', { _csrf: 'forged' })).statusCode, 403, 'a forged CSRF token')
    t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job'), 0, 'nothing started')

    const started = await jar.submit('/admin/sync/start', {}, '/admin/sync/confirm')
    t.equal(started.statusCode, 303)
    const [job] = await db.rows<{ id: number }>('SELECT id FROM civibridge_sync_job')
    t.equal(started.headers.location, `/admin/sync/jobs/${job.id}`)
    const done = await finished(app, job.id, { cookie: jar.header })
    t.equal(done.message, SEED_MESSAGE)
    await assertSeedSynced(t, db, seed)
    t.match(await db.rows('SELECT status, batch_size, checked, matched, created, message FROM civibridge_sync_job'), [{ status: 'done', batch_size: 1000, checked: 5, matched: 3, created: 2, message: SEED_MESSAGE }])

    const page = await jar.get(started.headers.location as string)
    t.equal(page.statusCode, 200)
    t.match(page.body, '<script src="/admin/static/sync.js" defer></script>')
    t.match(page.body, `<div id="sync-job" data-job-id="${job.id}" data-status="done">`)
    t.match(page.body, '<progress id="sync-progress" aria-labelledby="sync-label" max="5" value="5">100%</progress>')
    t.match(page.body, '<p id="sync-status" role="status" aria-live="polite">Completed: 5 of 5 users checked.</p>')
    t.match(page.body, `<div id="sync-message" class="ok" role="status" aria-live="polite"><p>${SEED_MESSAGE}</p></div>`)
    t.match(page.body, '<div id="sync-error" class="error" role="alert" hidden>')
    t.match(page.body, `<p id="sync-after"><a href="/admin/change-log?from=${today()}&amp;to=${today()}">Find the new contacts in the Change Log</a></p>`)
    const after = await jar.get('/admin/sync')
    t.match(after.body, `<h2>Last synchronization</h2><div class="ok" role="status"><p>${SEED_MESSAGE}</p></div>`)
    t.match(after.body, `<a href="/admin/change-log?from=${today()}&amp;to=${today()}">See the contacts it created in the Change Log</a>`)

    const missing = await jar.get('/admin/sync/jobs/999')
    t.equal(missing.statusCode, 404)
    t.match(missing.body, '<title>Not found | CiviCRM bridge</title>')
    t.match(missing.body, '<p>There is no synchronization job 999.</p>')
    t.equal((await jar.get('/admin/sync/jobs/abc')).statusCode, 400)

    const js = await app.inject({ url: '/admin/static/sync.js' })
    t.equal(js.statusCode, 200)
    t.equal(js.headers['content-type'], 'application/javascript; charset=utf-8')
    t.equal(js.headers['cache-control'], 'no-cache')
    t.equal(js.body, readFileSync(new URL('../server/http/views/static/sync.js', import.meta.url), 'utf8'), 'the file as it is')
    t.match(js.body, "fetch('/v1/admin/sync/jobs/' + id")
  })

  t.test('the Change Log: exactly the contacts changed in the window, Created or Modified; bad windows are refused', async (t) => {
    const jar = await new Jar(app).login()
    const [dana, eve] = (await db.rows<{ id: number }>('SELECT contact_id AS id FROM civicrm_uf_match WHERE uf_id IN (45, 46) ORDER BY uf_id')).map((r) => r.id)
    const todays = await jar.get('/admin/change-log')
    t.equal(todays.statusCode, 200)
    t.match(todays.body, `<input id="from" name="from" type="date" value="${today()}" required>`)
    t.match(todays.body, `<input id="to" name="to" type="date" value="${today()}" required>`)
    t.match(todays.body, '<p id="change-count">2 contacts created or modified.</p>')
    const rows = (body: string) => [...body.matchAll(/<tr><td><a href="\/admin\/contacts\/(\d+)">([^<]*)<\/a>(?: <a href="[^"]+">in CiviCRM<\/a>)?<\/td><td>([^<]*)<\/td><td>(Created|Modified)<\/td>/g)].map((m) => [Number(m[1]), m[2], m[3], m[4]])
    t.same(rows(todays.body).sort(), [[dana, 'Dana Berg', 'Individual', 'Created'], [eve, 'eve@example.org', 'Individual', 'Created']].sort(), 'the two new contacts, not the three matched ones')
    t.match(todays.body, `<tr><td><a href="/admin/contacts/${dana}">Dana Berg</a> <a href="${JOOMLA_CIVICRM.replaceAll('&', '&amp;')}civicrm/contact/view&amp;reset=1&amp;cid=${dana}">in CiviCRM</a></td><td>Individual</td><td>Created</td><td>dana@example.org</td><td>User 45 (Dana@Example.org)</td>`, 'its email, its Joomla user, a link into CiviCRM')
    t.match(todays.body, '<th scope="col">Email</th><th scope="col">Joomla user</th>')
    t.same(rows((await jar.get(`/admin/change-log?from=${today()}&to=${today()}`)).body).length, 2)
    t.same(rows((await jar.get(`/admin/change-log?from=&to=${today()}`)).body).length, 2, 'an empty from is today')

    // Older changes: Ann created in 2020 and changed on 2024-03-10 (Modified); Bob without a
    // creation date, first logged on 2024-03-10; Cy created on 2024-03-09, changed on 2024-03-10.
    const noName = await insertContact(db, { emails: [] })
    await db.sql.query("UPDATE civicrm_contact SET created_date = '2020-01-01 00:00:00' WHERE id = ?", [seed.ann])
    await db.sql.query('UPDATE civicrm_contact SET created_date = NULL WHERE id IN (?, ?)', [seed.bob, noName])
    await db.sql.query("UPDATE civicrm_contact SET created_date = '2024-03-09 23:59:59' WHERE id = ?", [seed.cy])
    await db.sql.query(`INSERT INTO civicrm_log (entity_table, entity_id, data, modified_id, modified_date) VALUES
      ('civicrm_contact', ?, 'ann', ?, '2024-03-10 08:00:00'), ('civicrm_contact', ?, 'bob', ?, '2024-03-10 09:00:00'), ('civicrm_contact', ?, 'bob again', ?, '2024-03-11 10:00:00'),
      ('civicrm_contact', ?, 'cy', ?, '2024-03-10 23:59:59'), ('civicrm_contact', ?, 'no name', NULL, '2024-03-12 00:00:00'), ('civicrm_group', ?, 'not a contact', NULL, '2024-03-10 10:00:00')`,
    [seed.ann, seed.ann, seed.bob, seed.bob, seed.bob, seed.bob, seed.cy, seed.cy, noName, seed.ann])
    const day = await jar.get('/admin/change-log?from=2024-03-10')
    t.equal(day.statusCode, 200)
    t.match(day.body, 'value="2024-03-10" required>\n<label for="to">to</label><input id="to" name="to" type="date" value="2024-03-10" required>', 'to defaults to from')
    t.match(day.body, '<p id="change-count">3 contacts created or modified.</p>')
    t.same(rows(day.body), [[seed.cy, 'Cy Young', 'Individual', 'Modified'], [seed.bob, 'Bob Berg', 'Individual', 'Created'], [seed.ann, 'Ann Lee', 'Individual', 'Modified']], 'the last changed first')
    t.match(day.body, '<td>2024-03-10 23:59:59</td>')
    t.same(rows((await jar.get('/admin/change-log?from=2024-03-09&to=2024-03-11')).body),
      [[seed.bob, 'Bob Berg', 'Individual', 'Created'], [seed.cy, 'Cy Young', 'Individual', 'Created'], [seed.ann, 'Ann Lee', 'Individual', 'Modified']])
    const one = await jar.get('/admin/change-log?from=2024-03-12&to=2024-03-12')
    t.match(one.body, '<p id="change-count">1 contact created or modified.</p>')
    t.same(rows(one.body), [[noName, `Contact ${noName}`, 'Individual', 'Created']], 'a contact without a name')
    t.match(one.body, /<td>Created<\/td><td>—<\/td><td>—<\/td>/, 'no email, no user')
    // A link without uf_name (CiviCRM allows it), and a hostile name: escaped like every value.
    await db.sql.query('INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 99, NULL, ?)', [noName])
    await db.sql.query("UPDATE civicrm_contact SET display_name = '<img src=x onerror=alert(1)>' WHERE id = ?", [noName])
    const hostile = await jar.get('/admin/change-log?from=2024-03-12')
    t.match(hostile.body, `<a href="/admin/contacts/${noName}">&lt;img src=x onerror=alert(1)&gt;</a>`)
    t.notMatch(hostile.body, '<img')
    t.match(hostile.body, '<td>User 99</td>')
    await db.sql.query('DELETE FROM civicrm_uf_match WHERE uf_id = 99')
    const none = await jar.get('/admin/change-log?from=2024-03-13&to=2024-04-30')
    t.equal(none.statusCode, 200)
    t.match(none.body, '<p>No contact was created or modified in this window.</p>')

    for (const q of ['from=2024-03-11&to=2024-03-10', 'from=2024-02-30', 'from=2024-02-32', 'from=2024-3-1', 'from=yesterday', 'from=2024-03-10&to=2024-13-01']) {
      const bad = await jar.get(`/admin/change-log?${q}`)
      t.equal(bad.statusCode, 400, q)
      t.match(bad.body, '<div class="error" role="alert"><p>Enter two dates (from, then to), the second not before the first.</p></div>')
      t.match(bad.body, '<p>No contact was created or modified in this window.</p>')
    }
    t.equal((await jar.get('/admin/change-log?from=2024-03-10&to=2024-03-10T00:00')).statusCode, 400, 'longer than a date')

    // More than 1,000 contacts: pages of CHANGE_LOG_PAGE_SIZE, every contact on one of them.
    const many = 1001
    await db.sql.query('INSERT INTO civicrm_contact (contact_type, display_name, sort_name, hash) VALUES ?', [Array.from({ length: many }, (_, i) => ['Individual', `Bulk ${i}`, `Bulk ${i}`, `bulk${i}`])])
    await db.sql.query("INSERT INTO civicrm_log (entity_table, entity_id, data, modified_date) SELECT 'civicrm_contact', id, 'bulk', '2023-05-05 12:00:00' FROM civicrm_contact WHERE hash LIKE 'bulk%'")
    const bulk = await jar.get('/admin/change-log?from=2023-05-05')
    t.match(bulk.body, `<p id="change-count">1,001 contacts created or modified (1 to ${CHANGE_LOG_PAGE_SIZE} shown).</p>`)
    t.equal(rows(bulk.body).length, CHANGE_LOG_PAGE_SIZE)
    t.ok(rows(bulk.body).every((r) => r[3] === 'Modified'), 'created today, changed then')
    t.match(bulk.body, '<nav aria-label="Pages" id="change-pages"><p>Page 1 of 11 <a rel="next" href="/admin/change-log?from=2023-05-05&amp;to=2023-05-05&amp;page=2">Next page</a></p></nav>')
    const seen = new Set<number>()
    for (let page = 1; page <= 11; page++) for (const r of rows((await jar.get(`/admin/change-log?from=2023-05-05&page=${page}`)).body)) seen.add(r[0] as number)
    t.equal(seen.size, many, 'every contact on exactly one page')
    const last = await jar.get('/admin/change-log?from=2023-05-05&to=2023-05-05&page=11')
    t.match(last.body, '<p id="change-count">1,001 contacts created or modified (1,001 to 1,001 shown).</p>')
    t.match(last.body, '<p>Page 11 of 11 <a rel="prev" href="/admin/change-log?from=2023-05-05&amp;to=2023-05-05&amp;page=10">Previous page</a></p>')
    const middle = await jar.get('/admin/change-log?from=2023-05-05&page=5')
    t.match(middle.body, '<p>Page 5 of 11 <a rel="prev" href="/admin/change-log?from=2023-05-05&amp;to=2023-05-05&amp;page=4">Previous page</a> <a rel="next" href="/admin/change-log?from=2023-05-05&amp;to=2023-05-05&amp;page=6">Next page</a></p>')
    const beyond = await jar.get('/admin/change-log?from=2023-05-05&page=12')
    t.equal(beyond.statusCode, 404)
    t.match(beyond.body, '<p>There is no page 12: 1,001 contacts fill 11 pages.</p>')
    t.equal((await jar.get('/admin/change-log?from=2023-05-05&page=0')).statusCode, 400)
  })

  t.test('a contact\'s details: names, emails, its Joomla user, its change log; 404 for none', async (t) => {
    const jar = await new Jar(app).login()
    const [dana] = (await db.rows<{ id: number }>('SELECT contact_id AS id FROM civicrm_uf_match WHERE uf_id = 45')).map((r) => r.id)
    const [created] = await db.rows<{ created_date: Date }>('SELECT created_date FROM civicrm_contact WHERE id = ?', [dana])
    const page = await jar.get(`/admin/contacts/${dana}`)
    t.equal(page.statusCode, 200)
    t.match(page.body, '<title>Dana Berg | CiviCRM bridge</title>')
    t.match(page.body, `<dt>Contact id</dt><dd>${dana}</dd>\n<dt>Type</dt><dd>Individual</dd>\n<dt>First name</dt><dd>Dana</dd>\n<dt>Middle name</dt><dd>van der</dd>\n<dt>Last name</dt><dd>Berg</dd>\n<dt>Sort name</dt><dd>Berg, Dana</dd>\n<dt>Source</dt><dd>Joomla user sync</dd>\n<dt>Created</dt><dd>${humanTime(created.created_date)}</dd>\n<dt>In the trash</dt><dd>no</dd>`)
    t.match(page.body, `<a href="${JOOMLA_CIVICRM.replaceAll('&', '&amp;')}civicrm/contact/view&amp;reset=1&amp;cid=${dana}">Open in CiviCRM</a>`)
    t.match(page.body, '<ul><li>dana@example.org (Home, primary)</li></ul>')
    t.match(page.body, '<ul><li>User 45 (Dana@Example.org)</li></ul>')
    t.match(page.body, new RegExp(`<ul><li>\\d{1,2} [A-Z][a-z]{2} \\d{4}, \\d\\d:\\d\\d UTC: contact record ${dana} saved</li></ul>`), 'the log row in words, not civicrm_contact,N')

    // Bob: matched, emails at two locations and one without; no log row of the sync.
    await db.sql.query('INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) VALUES (?, NULL, ?, 0)', [seed.bob, 'bob@old.example'])
    await db.sql.query("INSERT INTO civicrm_log (entity_table, entity_id, data, modified_id, modified_date) VALUES ('civicrm_contact', ?, 'imported', NULL, NULL)", [seed.bob])
    const bob = await jar.get(`/admin/contacts/${seed.bob}`)
    t.match(bob.body, '<li>no date: imported</li>', 'a log row without a date')
    t.match(bob.body, '<ul><li>bob.work@example.com (Work, primary)</li><li>Bob@Example.org (Home)</li><li>bob@old.example (no location)</li></ul>')
    t.match(bob.body, '<ul><li>User 43 (bob@example.org)</li></ul>')

    // A contact with nothing: no name, email, user or log row, no creation date, in the trash.
    const bare = await insertContact(db, { deleted: true, emails: [] })
    await db.sql.query('UPDATE civicrm_contact SET created_date = NULL WHERE id = ?', [bare])
    const empty = await jar.get(`/admin/contacts/${bare}`)
    t.equal(empty.statusCode, 200)
    t.match(empty.body, `<h1>Contact ${bare}</h1>`)
    t.match(empty.body, '<dt>First name</dt><dd>—</dd>')
    t.match(empty.body, '<dt>Created</dt><dd>—</dd>')
    t.match(empty.body, '<dt>In the trash</dt><dd>yes</dd>')
    t.match(empty.body, '<h2>Emails</h2>\n<p>None.</p>')
    t.match(empty.body, '<h2>Joomla user</h2>\n<p>Not linked to a user.</p>')
    t.match(empty.body, '<h2>Change log</h2>\n<p>No entries.</p>')

    const missing = await jar.get('/admin/contacts/999999')
    t.equal(missing.statusCode, 404)
    t.match(missing.body, '<p>There is no contact 999999.</p>')
    t.equal((await jar.get('/admin/contacts/abc')).statusCode, 400)
  })

  t.test('logout needs the CSRF token, clears the session, and the pages ask to log in again', async (t) => {
    const jar = await new Jar(app).login()
    t.equal((await jar.post('/admin/logout', {})).statusCode, 403)
    t.equal((await jar.get('/admin/sync')).statusCode, 200, 'still logged in')
    const out = await jar.submit('/admin/logout', {}, '/admin/sync')
    t.equal(out.statusCode, 303)
    t.equal(out.headers.location, '/admin/login')
    t.match(out.cookies.find((c) => c.name === ADMIN_COOKIE), { value: '', path: '/' })
    t.notOk(jar.cookies.has(ADMIN_COOKIE))
    t.equal((await jar.get('/admin/sync')).statusCode, 303)
  })
})
