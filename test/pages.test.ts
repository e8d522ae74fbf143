// "Edit my details" over HTTP (Fastify inject): assertion → link → session → clean URL, the form
// with CSRF, and an HTML error page for every failure, which changes nothing. The bridge's
// former contribution and membership pages are gone (test/lazy-link.test.ts).
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { signAssertion } from '../server/protocol/sign.js'
import { readSession, SESSION_COOKIE } from '../server/http/page-session.js'
import { escapeHtml } from '../server/http/views/pages.js'
import { createSigner } from 'fast-jwt'
import { testDatabase, buildTestApp, insertContact, snapshot, sendEvent, freePort, SECRET, SITE, type TestDb, cookieSigner } from './helper.js'
import { CookieJar } from './cookie-jar.js'

const ann = { id: 42, username: 'ann', email: 'ann@example.org', name: 'Ann Lee' }
const count = async (db: TestDb, table: string, where = '1') => Number((await db.rows<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`))[0].n)

t.test('the member pages name the Joomla site and link back to it', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db, { JOOMLA_SITE_NAME: 'Friends of <the> Park', JOOMLA_SITE_URL: 'https://friends.example.org/' })
  const page = await app.inject({ url: '/civicrm/profile/edit?gid=1' })
  t.equal(page.statusCode, 401)
  t.match(page.body, '<header class="site"><p><a href="https://friends.example.org/">Back to Friends of &lt;the&gt; Park</a></p></header>\n<main>')
  t.match(page.body, '<title>Please sign in first | Friends of &lt;the&gt; Park</title>')
  const urlOnly = await buildTestApp(t, db, { JOOMLA_SITE_URL: 'https://www.example.org/' })
  t.match((await urlOnly.inject({ url: '/civicrm/profile/edit?gid=1' })).body, '<a href="https://www.example.org/">Back to www.example.org</a>')
  const nameOnly = await buildTestApp(t, db, { JOOMLA_SITE_NAME: 'Example' })
  t.match((await nameOnly.inject({ url: '/civicrm/profile/edit?gid=1' })).body, '<header class="site"><p><strong>Example</strong></p></header>')
  const neither = await buildTestApp(t, db)
  const plain = (await neither.inject({ url: '/civicrm/profile/edit?gid=1' })).body
  t.notMatch(plain, '<header')
  t.notMatch(plain, '<!--site-->')
  t.match(plain, '<title>Please sign in first</title>')
})

t.test('pages', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  const assertion = (act: string, user = ann, opts: { ttlS?: number } = {}) => signAssertion(SECRET, SITE, user, act, opts)
  const unchanged = async (t: Tap.Test, fn: () => Promise<LightMyRequestResponse>, status: number, text: RegExp) => {
    const before = await snapshot(db)
    const res = await fn()
    t.equal(res.statusCode, status)
    t.match(res.headers['content-type'], /text\/html/)
    t.match(res.body, text)
    t.equal(await snapshot(db), before, 'nothing changed')
    return res
  }

  t.test('"Edit my details": the assertion links, sets the session and redirects to the clean URL', async (t) => {
    const contact = await insertContact(db, { first: 'Ann', last: 'Lee', emails: [{ email: 'ann@example.org', primary: true }] })
    const b = new CookieJar(app)
    const res = await b.arrive(`/civicrm/profile/edit?gid=1&assertion=${assertion('profile')}`)
    t.equal(res.statusCode, 303, res.body.replace(/[\s\S]*<main>/, ''))
    t.equal(res.headers.location, '/civicrm/profile/edit?gid=1')
    const cookie = res.cookies.find((c) => c.name === SESSION_COOKIE)!
    t.match(cookie, { httpOnly: true, sameSite: 'Lax', path: '/', maxAge: 1800 })
    t.notOk(cookie.secure, 'not Secure over plain http')
    t.same(await db.rows('SELECT uf_id, contact_id FROM civicrm_uf_match'), [{ uf_id: 42, contact_id: contact }])

    const form = await b.get('/civicrm/profile/edit?gid=1')
    t.equal(form.statusCode, 200)
    t.match(form.body, '<h1>Name and Address</h1>')
    t.match(form.body, 'id="first_name" name="first_name" type="text" value="Ann"')
    t.match(form.body, 'value="ann@example.org"')
    t.match(form.body, /<label for="email">/)
    t.match(form.headers['cache-control'], 'no-store')

    const saved = await b.submit('/civicrm/profile/edit?gid=1', { first_name: 'Annie', last_name: 'Lee-Smith', email: 'annie@example.org' })
    t.equal(saved.statusCode, 200)
    t.match(saved.body, 'Your details have been saved.')
    t.match(saved.body, 'Lee-Smith')
    t.match(await db.rows('SELECT first_name, last_name, display_name FROM civicrm_contact WHERE id = ?', [contact]), [{ first_name: 'Annie', last_name: 'Lee-Smith', display_name: 'Annie Lee-Smith' }])
    t.same(await db.rows('SELECT email FROM civicrm_email WHERE contact_id = ?', [contact]), [{ email: 'annie@example.org' }])

    const bad = await b.submit('/civicrm/profile/edit?gid=1', { first_name: 'A', last_name: '', email: 'not-an-email' })
    t.equal(bad.statusCode, 400)
    t.match(bad.body, 'role="alert"')
    t.match(bad.body, '<a href="#email">Email must be an email address</a>', 'the field named by its label')
    t.notMatch(bad.body, 'email: ')

    // The Email emptied: refused, naming the field; nothing changes (not the names either).
    const before = await snapshot(db)
    const emptied = await b.submit('/civicrm/profile/edit?gid=1', { first_name: 'Changed', last_name: 'Name', email: '' })
    t.equal(emptied.statusCode, 400)
    t.match(emptied.body, '<div class="error" role="alert" id="form-error"><p>Please correct this: <a href="#email">Email is required</a></p></div>')
    t.notMatch(emptied.body, 'Your details have been saved')
    t.equal(await snapshot(db), before, 'nothing changed')
    t.same(await db.rows('SELECT first_name, email FROM civicrm_contact c JOIN civicrm_email e ON e.contact_id = c.id WHERE c.id = ?', [contact]), [{ first_name: 'Annie', email: 'annie@example.org' }])
    t.match(bad.body, 'id="email" name="email" type="email" value="not-an-email" required autocomplete="email" aria-invalid="true"')

    const again = await b.arrive(`/civicrm/profile/edit?gid=1&assertion=${assertion('profile')}`)
    t.equal(again.statusCode, 303, 'a second visit is already linked')
    t.match(await db.rows('SELECT action FROM civibridge_audit WHERE uf_id = 42 ORDER BY id'), [{ action: 'linked-existing' }, { action: 'already-linked' }])
    t.equal(await count(db, 'civicrm_uf_match'), 1)
  })

  t.test('expired, replayed, forged or misdirected assertions get a clear error page and change nothing', async (t) => {
    const b = new CookieJar(app)
    const used = assertion('profile', { ...ann, id: 43, email: 'ann43@example.org' })
    t.equal((await b.arrive(`/civicrm/profile/edit?gid=1&assertion=${used}`)).statusCode, 303)
    const replay = await unchanged(t, () => new CookieJar(app).get(`/civicrm/profile/edit?gid=1&assertion=${used}`), 401, /expired or was already used/)
    t.match(replay.body, 'The sign-in link was already used: each link works once.')
    t.notOk(replay.cookies.find((c) => c.name === SESSION_COOKIE), 'no session')
    const iat = Math.floor(Date.now() / 1000) - 200
    const expired = createSigner({ key: SECRET, algorithm: 'HS256' })({ iss: SITE, aud: 'civicrm-bridge', iat, exp: iat + 60, jti: 'exp-1', act: 'profile', sub: '42', email: 'ann@example.org' })
    const old = await unchanged(t, () => b.get(`/civicrm/profile/edit?gid=1&assertion=${expired}`), 401, /expired/)
    t.match(old.body, 'The sign-in link has expired: each link works for one minute.')
    t.notMatch(old.body, /token|at \d{4}/i, 'plain words: no library text')
    await unchanged(t, () => b.get(`/civicrm/profile/edit?gid=1&assertion=${assertion('contribution')}`), 401, /sign-in link could not be accepted/)
    await unchanged(t, () => b.get('/civicrm/profile/edit?gid=1&assertion=abc.def.ghi'), 401, /expired or was already used/)
    await unchanged(t, () => b.get(`/civicrm/profile/edit?gid=99&assertion=${assertion('profile')}`), 404, /no active profile 99/)
    const malformed = await unchanged(t, () => b.get('/civicrm/profile/edit?gid=abc'), 400, /The link or the form is incomplete or not valid/)
    t.notMatch(malformed.body, /querystring|pattern/, 'plain words: no schema text')
    await sendEvent(app, { user: { id: 80, email: 'taken@example.org' } })
    await unchanged(t, () => b.arrive(`/civicrm/profile/edit?gid=1&assertion=${assertion('profile', { ...ann, id: 81, email: 'taken@example.org' })}`), 409, /cannot be linked/)
  })

  t.test('the profile page needs a live session; forms need their CSRF token', async (t) => {
    await unchanged(t, () => new CookieJar(app).get('/civicrm/profile/edit?gid=1'), 401, /Please sign in first/)
    const forged = new CookieJar(app)
    forged.cookies.set(SESSION_COOKIE, '42.2.99999999999')
    await unchanged(t, () => forged.get('/civicrm/profile/edit?gid=1'), 401, /Please sign in first/)
    const expired = new CookieJar(app)
    expired.cookies.set(SESSION_COOKIE, cookieSigner.sign(`1.42.2.${Math.floor(Date.now() / 1000) - 1}`))
    await unchanged(t, () => expired.get('/civicrm/profile/edit?gid=1'), 401, /Please sign in first/)

    const b = new CookieJar(app)
    const user = { id: 44, username: 'cy', email: 'cy@example.org', name: 'Cy Young' }
    await b.arrive(`/civicrm/profile/edit?gid=2&assertion=${assertion('profile', user)}`)
    t.match((await b.get('/civicrm/profile/edit?gid=2')).body, '<h1>New Individual</h1>')
    await unchanged(t, () => b.post('/civicrm/profile/edit?gid=2', { first_name: 'X', last_name: 'Y', email: 'cy@example.org' }), 403, /This form has expired/)
    await unchanged(t, () => b.post('/civicrm/profile/edit?gid=2', { _csrf: 'forged', first_name: 'X', last_name: 'Y', email: 'cy@example.org' }), 403, /This form has expired/)
    await unchanged(t, () => b.get('/civicrm/profile/edit?gid=99'), 404, /no active profile 99/)

    // The user is deleted in Joomla (the link goes): the session ends with it.
    const page = await b.get('/civicrm/profile/edit?gid=2')
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]
    await sendEvent(app, { event: 'onUserAfterDelete', user: { id: 44, email: 'cy@example.org' } })
    await unchanged(t, () => b.post('/civicrm/profile/edit?gid=2', { _csrf: csrf, first_name: 'X', last_name: 'Y', email: 'cy@example.org' }), 401, /Your session has ended/)
    await unchanged(t, () => b.get('/civicrm/profile/edit?gid=2'), 401, /Please sign in first/)
  })

  t.test('a malformed address is a 400 page', async (t) => {
    await unchanged(t, () => app.inject({ method: 'GET', url: '/civicrm/profile/edit?gid=abc' }), 400, /The link or the form is incomplete or not valid/)
  })

  t.test('a linked contact without name or email; database errors inside a form are error pages', async (t) => {
    const bare = await insertContact(db, { emails: [] })
    await db.sql.query('INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 47, ?, ?)', ['bare@example.org', bare])
    const b = new CookieJar(app)
    const user = { id: 47, username: 'bare', email: 'bare@example.org', name: '' }
    t.equal((await b.arrive(`/civicrm/profile/edit?gid=1&assertion=${assertion('profile', user)}`)).statusCode, 303)
    const form = await b.get('/civicrm/profile/edit?gid=1')
    t.match(form.body, 'id="first_name" name="first_name" type="text" value=""')
    t.match(form.body, 'id="email" name="email" type="email" value=""')

    // The table goes away between the form and its submission: a 500 page, nothing saved.
    const csrf = (page: LightMyRequestResponse) => /name="_csrf" value="([^"]+)"/.exec(page.body)![1]
    const token = csrf(form)
    await db.sql.query('RENAME TABLE civicrm_email TO civicrm_email_away')
    t.teardown(() => db.sql.query('RENAME TABLE civicrm_email_away TO civicrm_email').catch(() => {}))
    const r1 = await b.post('/civicrm/profile/edit?gid=1', { _csrf: token, first_name: 'B', last_name: '', email: 'bare@example.org' })
    t.equal(r1.statusCode, 500)
    t.match(r1.body, 'Something went wrong')
    await db.sql.query('RENAME TABLE civicrm_email_away TO civicrm_email')
    t.match(await db.rows('SELECT first_name FROM civicrm_contact WHERE id = ?', [bare]), [{ first_name: null }])
  })

  t.test('every page sends security headers: a CSP allowing only this site\'s scripts and form targets, no framing, no sniffing', async (t) => {
    for (const url of ['/civicrm/profile/edit?gid=1', '/admin/login']) {
      const res = await app.inject({ method: 'GET', url })
      t.match(res.headers['content-security-policy'], /script-src 'self'/, url)
      t.match(res.headers['content-security-policy'], /form-action 'self'/, url)
      t.match(res.headers['content-security-policy'], /frame-ancestors 'self'/, url)
      t.equal(res.headers['x-content-type-options'], 'nosniff', url)
      t.equal(res.headers['x-frame-options'], 'SAMEORIGIN', url)
    }
  })

  t.test('session cookies and escaping', async (t) => {
    const req = (value: string | undefined) => ({ cookies: value === undefined ? {} : { [SESSION_COOKIE]: value }, unsignCookie: (v: string) => cookieSigner.unsign(v) }) as never
    t.equal(readSession(req(undefined)), null)
    t.equal(readSession(req('garbage')), null)
    t.equal(readSession(req(cookieSigner.sign('1.2'))), null)
    t.equal(readSession(req(cookieSigner.sign('1.2.2000000000'))), null, 'no domain: an older cookie is no session')
    t.same(readSession(req(cookieSigner.sign('3.1.2.2000000000')), 1_000_000_000_000), { domainId: 3, ufId: 1, contactId: 2 })
    t.equal(readSession(req(cookieSigner.sign('3.1.2.2000000000')), 2_000_000_000_000), null)
    t.equal(escapeHtml('<a href="x">\'&\'</a>'), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;')
    t.equal(escapeHtml(null), '')
  })
})

t.test('an unreachable database is a 503 page with Retry-After', async (t) => {
  const port = await freePort()
  const app = await buildTestApp(t, { url: `mysql://root@127.0.0.1:${port}/nowhere` } as TestDb)
  const res = await app.inject({ method: 'GET', url: '/civicrm/profile/edit?gid=1' })
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '5')
  t.match(res.body, 'The contact database cannot be reached right now.')
})
