// What operators see: Prometheus metrics, health and readiness, the OpenAPI document and UI.
import t from 'tap'
import { testDatabase, buildTestApp, sendEvent } from './helper.js'
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
  t.match((await app.inject('/metrics')).body, /civibridge_sync_users\{state="checked"\} 0\n/)
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
