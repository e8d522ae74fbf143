// What operators see: Prometheus metrics, health and readiness, the OpenAPI document and UI.
import t from 'tap'
import { testDatabase, buildTestApp, sendEvent, ADMIN_TOKEN, SECRET, SITE } from './helper.js'
import { signAssertion } from '../server/protocol/sign.js'
import { CookieJar } from './cookie-jar.js'
import Fastify from 'fastify'
import openapiPlugin, { OPERATIONS, TAGS } from '../server/http/plugins/openapi.js'

t.test('GET /metrics counts events by name and action, auth failures, and shows pool, queue and sync progress', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db, { EVENT_LOG_FLUSH_MS: '1000' })
  await sendEvent(app, { user: { id: 1, email: 'a@example.org' }, isNew: true })
  await sendEvent(app, { event: 'onUserLogin', user: { id: 1, email: 'a@example.org' } })
  await sendEvent(app, { event: 'onUserLogin', user: { id: 1, email: 'a@example.org' } })
  await app.inject({ method: 'POST', url: '/v1/joomla/events', payload: '{}', headers: { 'content-type': 'application/json', authorization: 'Bearer x.y.z' } })
  await db.sql.query("INSERT INTO civibridge_sync_job (domain_id, status, batch_size, checked, total_users, started_at, heartbeat_at) VALUES (1, 'running', 1000, 400, 1000, NOW(), NOW())")
  const r = await app.inject('/metrics')
  t.equal(r.statusCode, 200)
  t.match(r.headers['content-type'], /^text\/plain/)
  const text = r.body
  t.match(text, /civibridge_events_total\{event="onUserAfterSave",action="created-contact"\} 1\n/)
  t.match(text, /civibridge_events_total\{event="onUserLogin",action="already-linked"\} 2\n/)
  t.match(text, /civibridge_event_duration_seconds_count\{event="onUserLogin"\} 2\n/)
  t.match(text, /civibridge_auth_failures_total\{route="\/v1\/joomla\/events"\} 1\n/)
  t.match(text, /civibridge_event_log_queued 2\n/)
  t.match(text, /civibridge_sync_users\{state="checked"\} 400\n/)
  t.match(text, /civibridge_sync_users\{state="total"\} 1000\n/)
  t.match(text, /civibridge_db_pool_connections\{state="open"\} \d+\n/)
  t.match(text, /civibridge_process_cpu_seconds_total/)
})

t.test('before any sync the sync gauges read zero', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  const text = (await app.inject('/metrics')).body
  t.match(text, /civibridge_sync_users\{state="checked"\} 0\n/)
  t.match(text, /civibridge_sync_last_contacts\{outcome="created"\} 0\n/)
  t.match(text, /civibridge_sync_last_duration_seconds 0\n/)
})

t.test('GET /metrics: HTTP latency per route pattern and status, profile saves (page and API, successes only), the last finished sync\'s figures', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  await sendEvent(app, { user: { id: 1, email: 'a@example.org' }, isNew: true })
  await app.inject('/health')
  await app.inject('/nothing-here')
  await app.inject({ url: '/v1/users/1/link', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  await app.inject({ url: '/v1/users/2/link', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })

  // Profile saves: one through the page, one through the API, and one refused (not counted).
  const user = { id: 7, username: 'gus', email: 'gus@example.org', name: 'Gus Grey' }
  const page = new CookieJar(app)
  t.equal((await page.arrive(`/civicrm/profile/edit?gid=1&assertion=${signAssertion(SECRET, SITE, user, 'profile')}`)).statusCode, 303)
  t.equal((await page.submit('/civicrm/profile/edit?gid=1', { first_name: 'Gus', last_name: 'Grey', email: 'gus@example.org' })).statusCode, 200)
  t.equal((await page.submit('/civicrm/profile/edit?gid=1', { first_name: 'Gus', last_name: 'Grey', email: '' })).statusCode, 400)
  const api = await app.inject({ method: 'POST', url: '/v1/transactions/profile', headers: { authorization: `Bearer ${signAssertion(SECRET, SITE, user, 'profile')}` }, payload: { gid: 1, fields: { first_name: 'Gustav' } } })
  t.equal(api.statusCode, 200, api.body)
  t.same(await db.rows('SELECT first_name FROM civicrm_contact c JOIN civicrm_uf_match m ON m.contact_id = c.id WHERE m.uf_id = 7'), [{ first_name: 'Gustav' }])

  const now = Date.now()
  await db.sql.query("INSERT INTO civibridge_sync_job (domain_id, status, batch_size, checked, matched, created, skipped, total_users, started_at, heartbeat_at, finished_at) VALUES (1, 'done', 1000, 6, 3, 2, 1, 6, ?, ?, ?), (1, 'running', 1000, 1, 1, 0, 0, 9, ?, ?, NULL)",
    [new Date(now - 90_500), new Date(now), new Date(now), new Date(now), new Date(now)])
  const text = (await app.inject('/metrics')).body
  t.match(text, /civibridge_http_request_duration_seconds_count\{method="POST",route="\/v1\/joomla\/events",status_code="200"\} 1\n/)
  t.match(text, /civibridge_http_request_duration_seconds_count\{method="GET",route="\/health",status_code="200"\} 1\n/)
  t.match(text, /civibridge_http_request_duration_seconds_count\{method="GET",route="\/v1\/users\/:id\/link",status_code="200"\} 2\n/, 'one series per route pattern, not per id')
  t.match(text, /civibridge_http_request_duration_seconds_count\{method="GET",route="unmatched",status_code="404"\} 1\n/)
  t.match(text, /civibridge_http_request_duration_seconds_bucket\{le="10",method="GET",route="\/health",status_code="200"\} 1\n/)
  t.match(text, /civibridge_profile_saves_total\{via="page"\} 1\n/)
  t.match(text, /civibridge_profile_saves_total\{via="api"\} 1\n/)
  t.match(text, /civibridge_sync_last_contacts\{outcome="matched"\} 3\n/, 'the last finished job, not the running one')
  t.match(text, /civibridge_sync_last_contacts\{outcome="created"\} 2\n/)
  t.match(text, /civibridge_sync_last_contacts\{outcome="skipped"\} 1\n/)
  t.match(text, /civibridge_sync_last_duration_seconds 90\.5\n/)
})

t.test('the OpenAPI document describes the routes, and /docs serves its UI', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  const doc = (await app.inject('/docs/json')).json()
  t.equal(doc.openapi.slice(0, 2), '3.')
  t.ok(doc.paths['/v1/joomla/events'].post, 'the event route')
  t.ok(doc.paths['/v1/users/{id}/link'].get, 'the admin route')
  t.same(doc.paths['/v1/joomla/events'].post.security, [{ eventToken: [] }])
  t.ok(doc.paths['/metrics'].get, '/metrics is listed')
  t.same(doc.tags.map((tag: { name: string }) => tag.name), TAGS.map((tag) => tag.name))
  const operations = Object.entries(doc.paths as Record<string, Record<string, { tags: string[], summary?: string, security?: unknown }>>)
    .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`, ...op })))
  t.ok(operations.length >= 10)
  for (const op of operations) {
    t.ok(OPERATIONS[op.key], `${op.key} is in the table`)
    t.same(op.tags, [OPERATIONS[op.key]?.tag], `${op.key}: tagged`)
    t.equal(op.summary, OPERATIONS[op.key]?.summary, `${op.key}: a summary`)
    if (/^\w+ \/v1\/(admin|users)\//.test(op.key)) t.same(op.security, [{ adminToken: [] }], `${op.key}: the admin token`)
    if (op.key.startsWith('POST /v1/transactions/')) t.match(op.security, [{ assertionToken: [] }], `${op.key}: the assertion`)
  }
  t.notOk(operations.some((op) => /^\w+ \/(admin|civicrm)\b/.test(op.key)), 'no HTML page among the operations')
  t.same(doc.components.securitySchemes.adminToken, { type: 'http', scheme: 'bearer', description: 'BRIDGE_ADMIN_TOKEN' })
  const ui = await app.inject('/docs/')
  t.equal(ui.statusCode, 200)
  t.match(ui.body, /swagger/i)
})

t.test('an API route missing from the table is documented under "other", without a summary', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(openapiPlugin)
  app.get('/v1/new', async () => ({}))
  await app.ready()
  const doc = app.swagger() as { paths: Record<string, { get: { tags: string[], summary?: string } }> }
  t.same(doc.paths['/v1/new'].get.tags, ['other'])
  t.equal(doc.paths['/v1/new'].get.summary, undefined)
})
