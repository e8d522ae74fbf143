// No hangs: a database that stops answering (SIGSTOP on a private mariadbd) gets 503 within the
// statement timeout, and the event retried once it answers again applies once; a client that
// sends its request too slowly is cut off; a client that leaves mid-body is not a database outage.
import t from 'tap'
import { connect, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import { createFixtureDatabase } from '../server/dev/fixture.js'
import { buildApp } from '../server/http/app.js'
import { testDatabase, testConfig, eventBody, sendEvent, eventually, SECRET, SITE } from './helper.js'
import { signEvent } from '../server/protocol/sign.js'
import { privateMariaDb } from './fault-helper.js'
import { Database } from '../server/data/db.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('a paused database: 503 within the statement timeout, /health says down; once it answers, the retried event applies once', async (t) => {
  const mdb = await privateMariaDb(t)
  const url = await createFixtureDatabase(mdb.serverUrl, 'cbt12_hang')
  const app = await buildApp(testConfig(url, { DB_QUERY_TIMEOUT_MS: '1000' }))
  t.teardown(async () => {
    mdb.resume()
    await app.close()
  })
  await app.ready()
  const warm = await sendEvent(app, { user: { id: 1, email: 'one@example.org', name: 'One' }, isNew: true })
  t.equal(warm.json.action, 'created-contact', 'the pool has connections to the database')

  await mdb.pause()
  const body = eventBody({ user: { id: 2, email: 'two@example.org', name: 'Two Tee' }, isNew: true })
  const started = performance.now()
  const first = await sendEvent(app, body, { jti: 'paused-1' })
  const ms = performance.now() - started
  t.equal(first.status, 503, JSON.stringify(first.json))
  t.equal(first.headers['retry-after'], '5')
  // The database is still paused: an answer at all is the statement timeout's doing (1 s per
  // statement here); before it, a request waited for the TCP keep-alive, about 40 s.
  t.comment(`503 after ${Math.round(ms)} ms with DB_QUERY_TIMEOUT_MS=1000`)
  t.same((await app.inject('/health')).json(), { status: 'ok', database: 'down' })

  mdb.resume()
  // The plugin's outbox retries until it gets a 200.
  const retried = await eventually('a 200 for the retried event', async () => {
    const res = await sendEvent(app, body, { jti: 'paused-1' })
    return res.status === 200 && res
  }, { everyMs: 200 })
  t.equal(retried.status, 200)
  t.equal(retried.json.action, 'created-contact')
  const replay = await sendEvent(app, body, { jti: 'paused-1' })
  t.same(replay.json, retried.json, 'a later delivery gets the first result')

  const check = new Database(url, { poolSize: 1 })
  t.teardown(() => check.close())
  const [rows] = await check.pool.query(`SELECT
    (SELECT COUNT(*) FROM civicrm_uf_match WHERE uf_id = 2) AS links,
    (SELECT COUNT(*) FROM civicrm_email WHERE email = 'two@example.org') AS emails,
    (SELECT COUNT(*) FROM civicrm_contact WHERE display_name = 'Two Tee') AS contacts,
    (SELECT COUNT(*) FROM civibridge_event WHERE jti = 'paused-1') AS events,
    (SELECT COUNT(*) FROM civibridge_audit WHERE uf_id = 2 AND action = 'created-contact') AS decisions`)
  t.same((rows as Array<Record<string, number>>).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)]))),
    [{ links: 1, emails: 1, contacts: 1, events: 1, decisions: 1 }], 'applied once')
})

/** The raw HTTP head of a POST to the event route, signed for a body of `length` bytes (which the client never sends whole). */
const head = (length: number) => {
  const { token } = signEvent(SECRET, SITE, eventBody({ user: { id: 5, email: 'slow@example.org' } }).padEnd(length))
  return `POST /v1/joomla/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${length}\r\n\r\n`
}

function open (port: number): Promise<{ socket: Socket, received: () => string, closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    socket.on('data', (d) => { data += d.toString() })
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    socket.once('error', () => {})
    socket.once('connect', () => resolve({ socket, received: () => data, closed }))
    socket.once('error', reject)
  })
}

t.test('a client sending its body a byte at a time is cut off at the request timeout; one that leaves mid-body is logged as such, not as a database outage', async (t) => {
  const db = await testDatabase(t)
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, done) { lines.push(chunk.toString()); done() } })
  const app = await buildApp(testConfig(db.url, { HTTP_REQUEST_TIMEOUT_MS: '2000' }), { logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }

  const slow = await open(port)
  slow.socket.write(head(200))
  let sent = 0
  let done = false
  slow.closed.then(() => { done = true })
  // eslint-disable-next-line no-unmodified-loop-condition -- set by the promise above
  for (; sent < 200 && !done; sent++) {
    slow.socket.write('x')
    await Promise.race([sleep(1500), slow.closed])
  }
  await slow.closed
  t.ok(sent < 200, `cut off after ${sent} of 200 bytes`)
  t.match(slow.received(), /^$|^HTTP\/1\.1 408/, 'no answer but a 408')

  const gone = () => lines.filter((l) => l.includes('client closed the connection')).length
  const before = gone()
  const leaving = await open(port)
  leaving.socket.write(head(200) + '{"event":')
  await sleep(300)
  leaving.socket.destroy()
  await eventually('the left client\'s log line', () => gone() !== before, { everyMs: 50 })
  t.equal(gone(), before + 1, 'logged as a client that left')
  t.notOk(lines.some((l) => l.includes('database unavailable')), 'not as a database outage')
})
