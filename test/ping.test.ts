// POST /v1/ping: the plugin's "Test connection". Signed and checked like an event; records nothing.
import t from 'tap'
import { signEvent } from '../server/protocol/sign.js'
import { testDatabase, buildTestApp, snapshot, SECRET, SITE } from './helper.js'

t.test('ping', async (t) => {
  const db = await testDatabase(t)
  const app = await buildTestApp(t, db)
  let address = 0
  const ping = (body: string, token: string | null) => app.inject({
    method: 'POST',
    url: '/v1/ping',
    payload: body,
    remoteAddress: `10.9.0.${++address}`,
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
  })
  const body = '{"ping":true}'

  t.test('a ping signed with the site\'s secret is answered ok with the site, and nothing is written', async (t) => {
    const before = await snapshot(db)
    const signed = signEvent(SECRET, SITE, body, { jti: 'ping-1' })
    const r = await ping(body, signed.token)
    t.equal(r.statusCode, 200)
    t.same(r.json(), { ok: true, site: SITE })
    // The same jti again: a ping is not an event, its jti is not kept.
    t.equal((await ping(body, signed.token)).statusCode, 200)
    t.same(await snapshot(db), before, 'no table changed')
    t.same(await db.rows("SELECT jti FROM civibridge_event WHERE jti = 'ping-1'"), [])
  })

  t.test('a wrong secret, no token or a body the token did not sign: 401 with the reason', async (t) => {
    const wrong = await ping(body, signEvent('another-secret-0123456789abcdef-0123456789', SITE, body).token)
    t.equal(wrong.statusCode, 401)
    t.match(wrong.json(), { error: 'Unauthorized', message: /invalid token/ })
    const none = await ping(body, null)
    t.equal(none.statusCode, 401)
    t.match(none.json().message, /missing bearer token/)
    const swapped = await ping('{"ping":false}', signEvent(SECRET, SITE, body).token)
    t.equal(swapped.statusCode, 401)
    t.match(swapped.json().message, /body does not match/)
  })
})
