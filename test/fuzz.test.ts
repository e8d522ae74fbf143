// Property-based hostile input against every public endpoint of the core: at least 10,000
// requests of broken JSON, wrong types, missing fields, huge numbers, 4-byte UTF-8, control
// characters, injection strings, oversized bodies, duplicate keys and forged tokens. Every
// answer is a 4xx (never a 5xx), the process keeps serving, and the database holds exactly
// what it held before.
import t from 'tap'
import fc from 'fast-check'
import { signEvent } from '../server/protocol/sign.js'
import { testDatabase, buildTestApp, snapshot, insertContact, SECRET, SITE } from './helper.js'

const NASTY = [
  "' OR 1=1 -- ", '"; DROP TABLE civicrm_contact; --', '<script>alert(1)</script>', '\u0000', '\u202e', '😀'.repeat(50),
  '%00', '../../etc/passwd', '${jndi:ldap://x}' /* eslint-disable-line no-template-curly-in-string -- the literal text is the attack */, '\\', 'NaN', '-1', '1e400', '9'.repeat(400), '{"a":', '\ud800',
]
const nasty = fc.oneof(fc.constantFrom(...NASTY), fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 50 }))
const notAString = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(nasty, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), nasty, { maxKeys: 3 }))
const notAnId = fc.oneof(fc.constant(0), fc.integer({ max: 0 }), fc.constant(4294967296), fc.constant(1e300), fc.double({ noInteger: true }), fc.string(), fc.constant(null))

const valid = () => ({ event: 'onUserAfterSave', user: { id: 7, username: 'u7', email: 'u7@example.org', name: 'U Seven', block: 0 }, isNew: true, success: true, occurredAt: '2026-11-25T08:00:00Z' })
type Body = ReturnType<typeof valid>

// Each mutation makes a body the schema refuses (or an unknown event), never a valid one.
const mutation: fc.Arbitrary<(b: Body) => unknown> = fc.oneof(
  fc.constantFrom<(b: Body) => unknown>((b) => ({ ...b, user: undefined }), (b) => ({ ...b, event: undefined }), (b) => ({ ...b, occurredAt: undefined }),
    (b) => ({ ...b, user: { ...b.user, id: undefined } }), (b) => ({ ...b, user: { ...b.user, password: 'hunter2' } }), (b) => ({ ...b, extra: 1 }),
    (b) => [b], () => null, () => 42, () => 'just a string'),
  notAString.map((v) => (b: Body) => ({ ...b, user: { ...b.user, email: v } })),
  notAString.map((v) => (b: Body) => ({ ...b, user: { ...b.user, name: v } })),
  notAString.map((v) => (b: Body) => ({ ...b, user: { ...b.user, username: v } })),
  notAnId.map((v) => (b: Body) => ({ ...b, user: { ...b.user, id: v } })),
  fc.oneof(nasty, fc.integer()).map((v) => (b: Body) => ({ ...b, user: { ...b.user, block: typeof v === 'string' ? v : Math.abs(v) + 2 } })),
  nasty.filter((s) => Number.isNaN(Date.parse(s))).map((v) => (b: Body) => ({ ...b, occurredAt: v })),
  nasty.map((v) => (b: Body) => ({ ...b, event: `x${v}` })), // unknown event: 422
  fc.oneof(nasty, fc.integer()).map((v) => (b: Body) => ({ ...b, isNew: v })),
  fc.string({ minLength: 321, maxLength: 400 }).map((v) => (b: Body) => ({ ...b, user: { ...b.user, email: v } })),
  fc.string({ unit: 'grapheme', minLength: 401, maxLength: 420 }).map((v) => (b: Body) => ({ ...b, user: { ...b.user, name: v } }))
)

// Text-level damage: broken JSON, duplicate keys, a body over the 64 KiB limit.
const rawBody: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }).filter((s) => { try { JSON.parse(s); return false } catch { return true } }),
  fc.constant(JSON.stringify(valid()).slice(0, 40)),
  fc.constant(JSON.stringify(valid()).replace('"event":"onUserAfterSave"', '"event":"onUserAfterSave","event":"onUserAfterSave","password":"x"')),
  fc.integer({ min: 65 * 1024, max: 1024 * 1024 }).map((n) => JSON.stringify({ ...valid(), pad: 'x'.repeat(n) }))
)

t.test('10,000+ hostile requests: all 4xx, none 5xx, nothing written', async (t) => {
  const db = await testDatabase(t)
  await insertContact(db, { first: 'Ann', emails: [{ email: 'ann@example.org', primary: true }] })
  const app = await buildTestApp(t, db)
  const before = await snapshot(db)
  let n = 0
  const statuses = new Map<number, number>()
  const address = () => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`
  const expect4xx = (status: number, what: string) => {
    n++
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
    if (status < 400 || status >= 500) throw new Error(`${what}: HTTP ${status}`)
  }
  const postSigned = async (body: string) => {
    const signed = signEvent(SECRET, SITE, body)
    const r = await app.inject({ method: 'POST', url: '/v1/joomla/events', remoteAddress: address(), payload: body, headers: { 'content-type': 'application/json', authorization: `Bearer ${signed.token}` } })
    expect4xx(r.statusCode, body.slice(0, 200))
  }

  // Signed, so they reach parsing and validation.
  await fc.assert(fc.asyncProperty(mutation, async (mutate) => { await postSigned(JSON.stringify(mutate(valid())) ?? 'undefined') }), { numRuns: 4000 })
  await fc.assert(fc.asyncProperty(rawBody, async (body) => { await postSigned(body) }), { numRuns: 1500 })

  // Forged, missing or garbage credentials on every protected route.
  const token = fc.oneof(nasty, fc.base64String({ maxLength: 300 }), fc.constant('a.b.c'), fc.string({ minLength: 5000, maxLength: 11000 }))
  await fc.assert(fc.asyncProperty(token, fc.constantFrom('/v1/joomla/events', '/v1/users/7/link'), async (tok, url) => {
    const r = await app.inject({ method: url.startsWith('/v1/users') ? 'GET' : 'POST', url, remoteAddress: address(), payload: url.startsWith('/v1/users') ? undefined : JSON.stringify(valid()), headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` } })
    expect4xx(r.statusCode, `token ${tok.slice(0, 40)}`)
  }), { numRuns: 2500 })

  // Anything at all, anywhere: random methods, paths, content types and bodies.
  await fc.assert(fc.asyncProperty(
    fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), fc.oneof(fc.constantFrom('/v1/joomla/events', '/v1/users/1/link', '/v1/users/../link', '/health/x'), nasty.map((s) => { try { return `/${encodeURIComponent(s)}` } catch { return `/${s.length}` } })),
    fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data'), nasty,
    async (method, url, type, body) => {
      const r = await app.inject({ method: method as 'GET', url, remoteAddress: address(), payload: method === 'GET' ? undefined : body, headers: { 'content-type': type } })
      expect4xx(r.statusCode, `${method} ${url}`)
    }), { numRuns: 2000 })

  t.ok(n >= 10_000, `${n} requests`)
  t.comment(`answers: ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.same((await app.inject('/health')).json(), { status: 'ok', database: 'up' }, 'still serving')
  await app.eventLog.flush()
  t.equal(await snapshot(db), before, 'the database holds exactly what it held before')
})
