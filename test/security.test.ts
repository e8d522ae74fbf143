// The attacks of issue #13, tried against the app as an attacker would, each refused; and the
// settings that answer them (sites file, TRUST_PROXY, METRICS_TOKEN). docs/reliability.md lists them.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Signer } from '@fastify/cookie'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../server/http/app.js'
import { loadConfig, loadSitesFile, parseTrustProxy, configDomains, siteOf, ConfigError } from '../server/config.js'
import { parseProfile } from '../server/domain/transactions.js'
import { TransactionService } from '../server/services/transaction-service.js'
import { Database } from '../server/data/db.js'
import { cookieKey, HSTS } from '../server/http/plugins/web.js'
import { ADMIN_COOKIE, adminCookieKey } from '../server/http/plugins/admin-session.js'
import { SESSION_COOKIE } from '../server/http/page-session.js'
import { signAssertion, signEvent } from '../server/protocol/sign.js'
import { testDatabase, buildTestApp, insertContact, snapshot, sendEvent, eventBody, ADMIN_TOKEN, SECRET, SITE, type TestDb } from './helper.js'
import { CookieJar } from './cookie-jar.js'

const count = async (db: TestDb, q: string, params: unknown[] = []) => Number((await db.rows<{ n: number }>(q, params))[0].n)

class Jar extends CookieJar {
  async login (token = ADMIN_TOKEN) {
    return this.submit('/admin/login', { token })
  }
}

t.test('admin sessions: no Joomla site can forge one, logout and token rotation end them, wrong logins lock out', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)

  t.test('a cookie signed with BRIDGE_SECRET (every site holds it) is refused: 401 on the API, the login form on the pages, no sync', async (t) => {
    // The attack of the issue: the old cookie format signed with the old key, and a well-formed id signed with a key from BRIDGE_SECRET.
    const siteSigner = new Signer([cookieKey(SECRET)])
    for (const value of [siteSigner.sign('admin.9999999999'), siteSigner.sign('A'.repeat(43)), new Signer([adminCookieKey(SECRET)]).sign('A'.repeat(43))]) {
      const jar = new Jar(app)
      jar.cookies.set(ADMIN_COOKIE, value)
      t.equal((await app.inject({ url: '/v1/admin/sync', headers: { cookie: jar.header } })).statusCode, 401, 'API read refused')
      const page = await jar.get('/admin/sync')
      t.equal(page.statusCode, 303)
      t.match(page.headers.location, /^\/admin\/login/)
      t.equal((await jar.get('/admin/contacts/1')).statusCode, 303)
      t.equal((await jar.submit('/admin/sync/start', {}, '/admin/login')).statusCode, 303, 'a sync cannot be started')
    }
    t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_job'), 0, 'no sync job')
    t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_admin_session'), 0, 'no session')
  })

  t.test('logout deletes the session: the copied cookie is refused afterwards (401)', async (t) => {
    const jar = new Jar(app)
    t.equal((await jar.login()).statusCode, 303)
    const copied = jar.cookies.get(ADMIN_COOKIE)!
    t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_admin_session'), 1, 'one session row')
    t.equal((await app.inject({ url: '/v1/admin/sync', headers: { cookie: `${ADMIN_COOKIE}=${copied}` } })).statusCode, 200, 'the copy works while the session is open')
    t.equal((await jar.submit('/admin/logout', {}, '/admin/sync')).statusCode, 303)
    t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_admin_session'), 0, 'the row is gone')
    t.equal((await app.inject({ url: '/v1/admin/sync', headers: { cookie: `${ADMIN_COOKIE}=${copied}` } })).statusCode, 401, 'replayed cookie: 401')
    const replay = new Jar(app)
    replay.cookies.set(ADMIN_COOKIE, copied)
    t.equal((await replay.get('/admin/sync')).statusCode, 303, 'replayed cookie: the login form')
    t.equal((await jar.submit('/admin/logout', {}, '/admin/login')).statusCode, 303, 'logging out without a session is harmless')
  })

  t.test('rotating the admin token ends every session, even with a BRIDGE_SESSION_SECRET of its own', async (t) => {
    const sessionSecret = 'session-secret-0123456789abcdef-0123456789'
    const before = await buildTestApp(t, db, { BRIDGE_SESSION_SECRET: sessionSecret })
    const jar = new Jar(before)
    t.equal((await jar.login()).statusCode, 303)
    t.equal((await jar.get('/admin/sync')).statusCode, 200)
    const rotated = await buildTestApp(t, db, { BRIDGE_SESSION_SECRET: sessionSecret, BRIDGE_ADMIN_TOKEN: 'the-new-admin-token-0123456789abcdef-012345' })
    t.equal((await rotated.inject({ url: '/v1/admin/sync', headers: { cookie: jar.header } })).statusCode, 401, 'the old token\'s session is refused')
    t.equal((await new Jar(rotated).login('the-new-admin-token-0123456789abcdef-012345')).statusCode, 303, 'the new token logs in')
    await db.sql.query('DELETE FROM civibridge_admin_session')
  })

  t.test('30 wrong admin tokens from one address: 401 then 429, and then even the right token is refused; another address is not', async (t) => {
    const locked = await buildTestApp(t, db)
    const attacker = new Jar(locked)
    const statuses: number[] = []
    for (let i = 0; i < 30; i++) statuses.push((await attacker.login(`wrong-${i}`)).statusCode)
    t.same(statuses.slice(0, 20), Array(20).fill(401), '20 failures are answered 401')
    t.same(statuses.slice(21), Array(9).fill(429), 'past the limit: 429')
    const right = await attacker.login()
    t.equal(right.statusCode, 429)
    t.match(right.body, 'Too many wrong attempts from your address')
    t.notOk(attacker.cookies.has(ADMIN_COOKIE))
    t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_admin_session'), 0, 'no session was opened')
    t.equal((await locked.inject({ url: '/v1/admin/sync', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).statusCode, 429, 'the admin API is locked for that address too')
    // The same from another address: served.
    const other = await locked.inject({ url: '/v1/admin/sync', remoteAddress: '192.0.2.50', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    t.equal(other.statusCode, 200)
    await db.sql.query('DELETE FROM civibridge_admin_session')
  })

  t.test('wrong admin API tokens and forged cookies count as failures too', async (t) => {
    const locked = await buildTestApp(t, db)
    for (let i = 0; i < 21; i++) await locked.inject({ url: '/v1/admin/sync', remoteAddress: '192.0.2.60', headers: { authorization: 'Bearer wrong' } })
    t.equal((await locked.inject({ url: '/v1/admin/sync', remoteAddress: '192.0.2.60', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).statusCode, 429)
    const forged = `${ADMIN_COOKIE}=${new Signer([cookieKey(SECRET)]).sign('A'.repeat(43))}`
    for (let i = 0; i < 21; i++) await locked.inject({ url: '/admin/sync', remoteAddress: '192.0.2.61', headers: { cookie: forged } })
    t.equal((await locked.inject({ url: '/admin/sync', remoteAddress: '192.0.2.61', headers: { cookie: forged } })).statusCode, 429, 'forged cookies on the pages')
  })
})

t.test('sites file: each site signs only for itself and touches only its own domain\'s links', async (t) => {
  const db = await testDatabase(t)
  await db.sql.query("INSERT INTO civicrm_domain (id, name, version, contact_id) VALUES (2, 'Second site', '5.81.0', 1)")
  const dir = mkdtempSync(join(tmpdir(), 'cbt13-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const A = { id: 'site-a', secret: 'secret-of-site-a-0123456789abcdef-0123456789', previous: 'previous-secret-of-site-a-0123456789abcdef' }
  const B = { id: 'site-b', secret: 'secret-of-site-b-0123456789abcdef-0123456789' }
  const file = join(dir, 'sites.json')
  writeFileSync(file, JSON.stringify({ sites: { [A.id]: { secret: A.secret, previousSecret: A.previous, domainId: 1 }, [B.id]: { secret: B.secret, domainId: 2 } } }))
  // No BRIDGE_SECRET: the sites file is enough.
  const app = await buildApp(loadConfig({ CIVICRM_DB_URL: db.url, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN, BRIDGE_SITES_FILE: file, LOG_LEVEL: 'silent' }))
  t.teardown(() => app.close())
  const links = () => db.rows('SELECT domain_id, uf_id, uf_name, contact_id FROM civicrm_uf_match ORDER BY domain_id, uf_id')
  const primary = (contactId: number) => db.rows('SELECT email FROM civicrm_email WHERE contact_id = ? AND is_primary = 1', [contactId])

  const annA = await insertContact(db, { first: 'Ann', emails: [{ email: 'ann@a.example', primary: true }] })
  const a = await sendEvent(app, { user: { id: 520, email: 'ann@a.example', name: 'Ann A' }, isNew: true }, { site: A.id, secret: A.secret })
  t.same(a.json, { action: 'linked-existing', contactId: annA, reason: null })
  const b = await sendEvent(app, { user: { id: 520, email: 'bob@b.example', name: 'Bob B' }, isNew: true }, { site: B.id, secret: B.secret })
  t.equal(b.status, 200)
  t.equal(b.json.action, 'created-contact')
  const bobB = b.json.contactId as number
  t.same(await links(), [
    { domain_id: 1, uf_id: 520, uf_name: 'ann@a.example', contact_id: annA },
    { domain_id: 2, uf_id: 520, uf_name: 'bob@b.example', contact_id: bobB },
  ], 'user 520 of each site has its own link, in its own domain')
  t.match(await db.rows('SELECT domain_id, uf_id, action FROM civibridge_audit ORDER BY id'), [{ domain_id: 1, uf_id: 520, action: 'linked-existing' }, { domain_id: 2, uf_id: 520, action: 'created-contact' }])

  t.test('site B cannot sign for site A: B\'s secret with iss A is 401 and changes nothing', async (t) => {
    const before = await snapshot(db)
    for (const event of ['onUserAfterSave', 'onUserAfterDelete']) {
      const forged = await sendEvent(app, { event, user: { id: 520, email: 'mallory@b.example' } }, { site: A.id, secret: B.secret })
      t.equal(forged.status, 401, event)
    }
    const unknown = await sendEvent(app, { user: { id: 520, email: 'mallory@b.example' } }, { site: 'site-c', secret: B.secret })
    t.equal(unknown.status, 401, 'a site the file does not name')
    t.equal(await snapshot(db), before, 'nothing changed')
    t.equal((await sendEvent(app, { event: 'onUserLogin', user: { id: 520, email: 'ann@a.example' } }, { site: A.id, secret: A.previous })).status, 200, 'A\'s previous secret still works for A')
  })

  t.test('site B\'s email change and delete of its user 520 leave site A\'s user 520 alone', async (t) => {
    const changed = await sendEvent(app, { user: { id: 520, email: 'bob.new@b.example' } }, { site: B.id, secret: B.secret })
    t.match(changed.json, { action: 'already-linked', contactId: bobB })
    t.same(await primary(annA), [{ email: 'ann@a.example' }], 'A\'s contact keeps its email')
    t.same(await primary(bobB), [{ email: 'bob.new@b.example' }])
    const deleted = await sendEvent(app, { event: 'onUserAfterDelete', user: { id: 520, email: 'bob.new@b.example' } }, { site: B.id, secret: B.secret })
    t.equal(deleted.status, 200)
    t.same(await links(), [{ domain_id: 1, uf_id: 520, uf_name: 'ann@a.example', contact_id: annA }], 'only B\'s link went')
    t.same(await db.rows('SELECT domain_id, uf_id FROM civibridge_user_tombstone'), [{ domain_id: 2, uf_id: 520 }], 'the tombstone is B\'s domain\'s')
    // A's user 520 logs in afterwards: still linked (B's delete is not A's).
    t.match((await sendEvent(app, { event: 'onUserLogin', user: { id: 520, email: 'ann@a.example' } }, { site: A.id, secret: A.secret })).json, { action: 'already-linked', contactId: annA })
  })

  t.test('a jti is unique per site: the same jti from two sites is two events; a retry within a site is the first answer', async (t) => {
    const jti = 'shared-jti-1'
    const fromA = await sendEvent(app, { event: 'onUserLogin', user: { id: 520, email: 'ann@a.example' } }, { site: A.id, secret: A.secret, jti })
    const bBody = eventBody({ user: { id: 521, email: 'cy@b.example' }, isNew: true })
    const fromB = await sendEvent(app, bBody, { site: B.id, secret: B.secret, jti })
    t.equal(fromA.json.action, 'already-linked')
    t.equal(fromB.json.action, 'created-contact', 'B\'s event is applied, not answered with A\'s result')
    const again = await sendEvent(app, bBody, { site: B.id, secret: B.secret, jti })
    t.same(again.json, fromB.json)
    await app.eventLog.flush()
    t.same(await db.rows('SELECT site, uf_id FROM civibridge_event WHERE jti = ? ORDER BY site', [jti]), [{ site: A.id, uf_id: 520 }, { site: B.id, uf_id: 521 }])
    t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_uf_match WHERE uf_id = 521'), 1)
  })

  t.test('page assertions: verified with their own site\'s key, linked in their site\'s domain, spent per site', async (t) => {
    const user = { id: 530, username: 'dee', email: 'dee@b.example', name: 'Dee B' }
    const before = await snapshot(db)
    const forged = await new CookieJar(app).arrive(`/civicrm/profile/edit?gid=1&assertion=${signAssertion(B.secret, A.id, user, 'profile')}`)
    t.equal(forged.statusCode, 401, 'B\'s key cannot make an assertion for A')
    t.equal(await snapshot(db), before)
    const jar = new CookieJar(app)
    const jti = 'page-jti-1'
    t.equal((await jar.arrive(`/civicrm/profile/edit?gid=1&assertion=${signAssertion(B.secret, B.id, user, 'profile', { jti })}`)).statusCode, 303)
    t.match(await db.rows('SELECT domain_id, uf_name FROM civicrm_uf_match WHERE uf_id = 530'), [{ domain_id: 2, uf_name: 'dee@b.example' }])
    const form = await jar.get('/civicrm/profile/edit?gid=1')
    t.equal(form.statusCode, 200, 'the session is B\'s domain\'s')
    t.match(form.body, 'value="dee@b.example"')
    // The same jti from site A is A's own assertion: not "already used".
    const fromA = await new CookieJar(app).arrive(`/civicrm/profile/edit?gid=1&assertion=${signAssertion(A.secret, A.id, { ...user, email: 'dee@a.example' }, 'profile', { jti })}`)
    t.equal(fromA.statusCode, 303)
    t.same(await db.rows('SELECT site, jti FROM civibridge_used_token ORDER BY site'), [{ site: A.id, jti }, { site: B.id, jti }])
    t.same(await db.rows('SELECT domain_id FROM civicrm_uf_match WHERE uf_id = 530 ORDER BY domain_id'), [{ domain_id: 1 }, { domain_id: 2 }])
    const replay = await new CookieJar(app).get(`/civicrm/profile/edit?gid=1&assertion=${signAssertion(B.secret, B.id, user, 'profile', { jti })}`)
    t.equal(replay.statusCode, 401, 'within a site, a jti is spent once')
    // A session of one domain is never served by another domain's service.
    const database = new Database(db.url)
    t.teardown(() => database.close())
    await t.rejects(new TransactionService(database, 2).saveProfile({ kind: 'session', domainId: 1, ufId: 530, contactId: 1 }, parseProfile({ gid: 1, fields: {} })), /actor of domain 1 given to domain 2/)
  })
})

t.test('a bad sites file or TRUST_PROXY is a one-line error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cbt13-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const write = (name: string, content: string) => {
    const path = join(dir, name)
    writeFileSync(path, content)
    return path
  }
  const strong = 'x'.repeat(32)
  const cases: Array<[string, string, RegExp]> = [
    ['json', '{"sites":', /is not valid JSON$/],
    ['shape', '{"site": {}}', /must hold \{"sites"/],
    ['array', '{"sites": []}', /must hold \{"sites"/],
    ['empty', '{"sites": {}}', /names no site$/],
    ['id', JSON.stringify({ sites: { 'a b': { secret: strong, domainId: 1 } } }), /site id "a b" must be 1-64 printable ASCII characters/],
    ['object', JSON.stringify({ sites: { a: 'secret' } }), /site a must be an object$/],
    ['unknown', JSON.stringify({ sites: { a: { secret: strong, domainId: 1, domain: 2 } } }), /site a: unknown setting domain$/],
    ['short', JSON.stringify({ sites: { a: { secret: 'short', domainId: 1 } } }), /site a: secret must be a string of at least 32 bytes$/],
    ['previous', JSON.stringify({ sites: { a: { secret: strong, previousSecret: 'short', domainId: 1 } } }), /site a: previousSecret must be/],
    ['domain', JSON.stringify({ sites: { a: { secret: strong, domainId: 0 } } }), /site a: domainId must be a positive integer$/],
    ['shared', JSON.stringify({ sites: { a: { secret: strong, domainId: 1 }, b: { secret: 'y'.repeat(32), previousSecret: strong, domainId: 2 } } }), /sites a and b share a secret/],
  ]
  for (const [name, content, message] of cases) {
    const path = write(`${name}.json`, content)
    t.throws(() => loadSitesFile(path), { name: 'ConfigError', message }, name)
    try { loadSitesFile(path) } catch (err) { t.notMatch((err as Error).message, '\n', `${name}: one line`); t.match((err as Error).message, `BRIDGE_SITES_FILE ${path}: `) }
  }
  t.throws(() => loadSitesFile(join(dir, 'missing.json')), { message: /cannot be read \(ENOENT\)$/ })
  const env = { CIVICRM_DB_URL: 'mysql://root@127.0.0.1:3306/x', BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN }
  t.throws(() => loadConfig(env), new ConfigError('invalid configuration: BRIDGE_SECRET is required (or BRIDGE_SITES_FILE)'))
  const two = write('two.json', JSON.stringify({ sites: { a: { secret: strong, previousSecret: strong, domainId: 3 }, b: { secret: 'y'.repeat(32), domainId: 1 } } }))
  const multi = loadConfig({ ...env, BRIDGE_SITES_FILE: two, BRIDGE_SECRET: SECRET, CIVICRM_DOMAIN_ID: '1' })
  t.match(multi, { secrets: [], sites: ['a', 'b'] }, 'with a sites file BRIDGE_SECRET is not used')
  t.same(configDomains(multi), [1, 3], 'every domain written to, once')
  t.same(siteOf(multi, 'a'), { secrets: [strong, strong], domainId: 3 })
  t.equal(siteOf(multi, 'c'), null)
  const single = loadConfig({ ...env, BRIDGE_SECRET: SECRET, BRIDGE_SITES: 'a, b' })
  t.match(single, { secrets: [SECRET], sites: ['a', 'b'], siteFile: null, trustProxy: false, metricsToken: null, sessionSecret: ADMIN_TOKEN }, 'the single-site settings as before')
  t.same(configDomains(single), [1])
  t.same(siteOf(single, 'a'), { secrets: [SECRET], domainId: 1 })
  t.equal(siteOf(single, 'c'), null)

  t.equal(parseTrustProxy(undefined), false)
  t.equal(parseTrustProxy('false'), false)
  t.equal(parseTrustProxy('true'), true)
  t.equal(parseTrustProxy('2'), 2)
  t.equal(parseTrustProxy('10.0.0.1, 10.1.0.0/16,::1,loopback'), '10.0.0.1,10.1.0.0/16,::1,loopback')
  t.throws(() => loadConfig({ ...env, BRIDGE_SECRET: SECRET, TRUST_PROXY: 'proxy.example' }), { message: /^invalid configuration: TRUST_PROXY must be true, a hop count, or comma-separated proxy addresses, not "proxy.example"$/ })
})

t.test('behind a TLS proxy (TRUST_PROXY): limits count per real client, cookies are Secure, HSTS and upgrade-insecure-requests over https only', async (t) => {
  const db = await testDatabase(t)
  const body = JSON.stringify({ event: 'onUserLogin', user: { id: 1, username: 'u', email: 'u@example.org', name: '', block: 0 }, occurredAt: new Date().toISOString() })
  const event = (app: FastifyInstance, client: string, token: string) => app.inject({
    method: 'POST',
    url: '/v1/joomla/events',
    remoteAddress: '127.0.0.1',
    payload: body,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-forwarded-for': client, 'x-forwarded-proto': 'https' },
  })

  for (const trust of ['127.0.0.1', '1']) {
    t.test(`TRUST_PROXY=${trust}: 21 bad requests from one client behind the proxy do not lock out another`, async (t) => {
      const app = await buildTestApp(t, db, { TRUST_PROXY: trust })
      for (let i = 0; i < 21; i++) await event(app, '203.0.113.5', 'forged.token.x')
      t.equal((await event(app, '203.0.113.5', signEvent(SECRET, SITE, body).token)).statusCode, 429, 'the bad client is locked out')
      t.equal((await event(app, '203.0.113.6', signEvent(SECRET, SITE, body).token)).statusCode, 200, 'another client behind the same proxy is served')
      t.equal((await app.inject({ url: '/v1/admin/sync', remoteAddress: '127.0.0.1', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-forwarded-for': '203.0.113.7' } })).statusCode, 200, 'and the admin')
    })
  }

  t.test('without TRUST_PROXY every client behind the proxy is one address (the reason for the setting), and X-Forwarded-* is ignored', async (t) => {
    const app = await buildTestApp(t, db)
    for (let i = 0; i < 21; i++) await event(app, '203.0.113.5', 'forged.token.x')
    t.equal((await event(app, '203.0.113.6', signEvent(SECRET, SITE, body).token)).statusCode, 429)
    const login = await app.inject({ url: '/admin/login', headers: { 'x-forwarded-proto': 'https' } })
    t.equal(login.headers['strict-transport-security'], undefined, 'a client cannot claim https')
    t.notOk(login.cookies.find((c) => c.name === '_csrf')!.secure)
  })

  t.test('over https through the trusted proxy: Secure cookies (admin, page session, CSRF), HSTS, upgrade-insecure-requests', async (t) => {
    const app = await buildTestApp(t, db, { TRUST_PROXY: '127.0.0.1' })
    const https = new Jar(app, { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' })
    const form = await https.get('/admin/login')
    t.equal(form.headers['strict-transport-security'], HSTS)
    t.match(form.headers['content-security-policy'], /;upgrade-insecure-requests$/)
    t.match(form.cookies.find((c) => c.name === '_csrf'), { secure: true })
    const login = await https.login()
    t.equal(login.statusCode, 303)
    t.match(login.cookies.find((c) => c.name === ADMIN_COOKIE), { secure: true, httpOnly: true })
    await insertContact(db, { first: 'Pat', emails: [{ email: 'pat@example.org', primary: true }] })
    const arrived = await https.arrive(`/civicrm/profile/edit?gid=1&assertion=${signAssertion(SECRET, SITE, { id: 77, username: 'pat', email: 'pat@example.org', name: 'Pat' }, 'profile')}`)
    t.equal(arrived.statusCode, 303)
    t.match(arrived.cookies.find((c) => c.name === SESSION_COOKIE), { secure: true, httpOnly: true })

    const plain = new Jar(app, { 'x-forwarded-proto': 'http', 'x-forwarded-for': '203.0.113.10' })
    const page = await plain.get('/admin/login')
    t.equal(page.headers['strict-transport-security'], undefined, 'no HSTS over http')
    t.notMatch(page.headers['content-security-policy'], 'upgrade-insecure-requests', 'forms keep posting over http')
    t.notOk(page.cookies.find((c) => c.name === '_csrf')!.secure)
    t.notOk((await plain.login()).cookies.find((c) => c.name === ADMIN_COOKIE)!.secure)
    await db.sql.query('DELETE FROM civibridge_admin_session')
  })
})

t.test('login CSRF: a sign-in link made by someone else does not sign the visitor in', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  const mallory = { id: 90, username: 'mallory', email: 'mallory@example.org', name: 'Mallory' }
  const link = () => `/civicrm/profile/edit?gid=1&assertion=${signAssertion(SECRET, SITE, mallory, 'profile')}`
  const field = (body: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(body)![1]

  t.test('opening the link (a navigation, an image, a frame) only shows whose account it is: no session, no link, the assertion unspent', async (t) => {
    const victim = new CookieJar(app)
    const before = await snapshot(db)
    const page = await victim.get(link())
    t.equal(page.statusCode, 200)
    t.match(page.body, 'You are about to continue as <strong>Mallory</strong> (mallory@example.org)')
    t.match(page.body, '<button type="submit">Continue as Mallory</button>')
    t.notOk(victim.cookies.has(SESSION_COOKIE), 'no session')
    t.equal(await snapshot(db), before, 'nothing written: no link, the assertion not spent')
    t.equal((await victim.get('/civicrm/profile/edit?gid=1')).statusCode, 401, 'the profile page is not Mallory\'s')
  })

  t.test('a form posted from another site is refused (Origin, Sec-Fetch-Site, CSRF token), changes nothing', async (t) => {
    const victim = new CookieJar(app)
    const page = await victim.get(link())
    const form = { _csrf: field(page.body, '_csrf'), assertion: field(page.body, 'assertion'), to: '/civicrm/profile/edit?gid=1' }
    const before = await snapshot(db)
    const crossSite: Array<Record<string, string>> = [
      { origin: 'https://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'cross-site', origin: 'http://localhost:80' },
    ]
    for (const headers of crossSite) {
      const res = await victim.post('/civicrm/session', form, headers)
      t.equal(res.statusCode, 403, JSON.stringify(headers))
      t.match(res.body, 'This form has expired')
    }
    // Mallory's own page and token, posted from the victim's browser (which lacks Mallory's CSRF cookie).
    const malloryJar = new CookieJar(app)
    const mallorysPage = await malloryJar.get(link())
    t.equal((await new CookieJar(app).post('/civicrm/session', { _csrf: field(mallorysPage.body, '_csrf'), assertion: field(mallorysPage.body, 'assertion'), to: '/civicrm/profile/edit?gid=1' })).statusCode, 403)
    t.equal(await snapshot(db), before, 'nothing changed')
    t.notOk(victim.cookies.has(SESSION_COOKIE))
    // The person's own click, from the page itself: signed in.
    const host = 'localhost:80'
    const ok = await victim.post('/civicrm/session', form, { origin: `http://${host}`, host, 'sec-fetch-site': 'same-origin' })
    t.equal(ok.statusCode, 303)
    t.equal(ok.headers.location, '/civicrm/profile/edit?gid=1')
    t.ok(victim.cookies.has(SESSION_COOKIE))
    t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_uf_match WHERE uf_id = 90'), 1)
    // An older browser without Sec-Fetch-Site: its Origin's host is the bridge's.
    const older = new CookieJar(app)
    const olderPage = await older.get(link())
    const sent = await older.post('/civicrm/session', { _csrf: field(olderPage.body, '_csrf'), assertion: field(olderPage.body, 'assertion'), to: '/civicrm/profile/edit?gid=1' }, { origin: `https://${host}`, host })
    t.equal(sent.statusCode, 303)
    t.ok(older.cookies.has(SESSION_COOKIE))
  })

  t.test('the POST leads only to the pages a link may lead to', async (t) => {
    const victim = new CookieJar(app)
    const page = await victim.get(link())
    const before = await snapshot(db)
    for (const to of ['https://evil.example/', '/admin/sync', '/civicrm/profile/edit?gid=1&x=1']) {
      const res = await victim.post('/civicrm/session', { _csrf: field(page.body, '_csrf'), assertion: field(page.body, 'assertion'), to })
      t.equal(res.statusCode, 400, to)
      t.match(res.body, 'The request could not be accepted')
    }
    t.equal(await snapshot(db), before)
  })
})

t.test('METRICS_TOKEN protects /metrics and /docs; without it they stay open', async (t) => {
  const db = await testDatabase(t)
  const token = 'metrics-token-0123456789abcdef-0123456789'
  const app = await buildTestApp(t, db, { METRICS_TOKEN: token })
  for (const url of ['/metrics', '/docs', '/docs/json']) {
    const refused = await app.inject({ url })
    t.equal(refused.statusCode, 401, url)
    t.match(refused.headers['www-authenticate'], /^Basic realm="civicrm-bridge"/, `${url}: a browser asks for it`)
    t.equal((await app.inject({ url, headers: { authorization: 'Bearer wrong' } })).statusCode, 401, `${url}: wrong token`)
    t.equal((await app.inject({ url, headers: { authorization: 'Basic !!!' } })).statusCode, 401, `${url}: malformed Basic`)
    t.equal((await app.inject({ url, headers: { authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` } })).statusCode, 401, `${url}: Basic without a password`)
    t.ok([200, 302].includes((await app.inject({ url, headers: { authorization: `Bearer ${token}` } })).statusCode), `${url}: bearer`)
    t.ok([200, 302].includes((await app.inject({ url, headers: { authorization: `Basic ${Buffer.from(`any:${token}`).toString('base64')}` } })).statusCode), `${url}: Basic`)
  }
  t.match((await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } })).body, 'civibridge_auth_failures_total')
  const open = await buildTestApp(t, db)
  t.equal((await open.inject({ url: '/metrics' })).statusCode, 200)
  t.equal((await open.inject({ url: '/docs/json' })).statusCode, 200)
})
