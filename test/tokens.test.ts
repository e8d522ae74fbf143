// Hostile event tokens, on one app with a site list (BRIDGE_SITES) and its log captured at the
// most verbose level: every one is refused (401, or 409 for a jti replayed with another body),
// nothing is written, and no part of any token reaches a log line. test/events.test.ts checks
// the status of the common failures; this file adds the key-confusion attempts, the edges of
// the clock skew, a body changed after signing, and the logs.
import t from 'tap'
import { createHmac, createSign, generateKeyPairSync } from 'node:crypto'
import { Writable } from 'node:stream'
import { buildApp } from '../server/http/app.js'
import { sha256Hex, signEvent } from '../server/protocol/sign.js'
import { CLOCK_SKEW_S } from '../server/http/plugins/auth.js'
import { testDatabase, testConfig, eventBody, snapshot, SECRET, SITE } from './helper.js'

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)
const claimsFor = (body: string, extra: Record<string, unknown> = {}) => ({ iss: SITE, aud: 'civicrm-bridge', iat: now(), exp: now() + 60, jti: `tok-${Math.random().toString(36).slice(2)}`, body_sha256: sha256Hex(body), ...extra })

/** A token signed by hand: HMAC with `key` (null: no signature at all). */
function hmacToken (header: Record<string, unknown>, claims: Record<string, unknown>, key: string | Buffer | null, hash = 'sha256'): string {
  const unsigned = `${b64(header)}.${b64(claims)}`
  return key === null ? `${unsigned}.` : `${unsigned}.${createHmac(hash, key).update(unsigned).digest('base64url')}`
}

function rsaToken (header: Record<string, unknown>, claims: Record<string, unknown>, privateKey: Parameters<ReturnType<typeof createSign>['sign']>[0]): string {
  const unsigned = `${b64(header)}.${b64(claims)}`
  return `${unsigned}.${createSign('RSA-SHA256').update(unsigned).sign(privateKey).toString('base64url')}`
}

/** Substrings of the token that must never be logged: windows of 16 characters every 8 (so no 24 consecutive characters of it), and its claims' values (jti, body hash, padding). */
function tokenParts (token: string, withClaims = true): string[] {
  const parts = new Set<string>()
  for (const segment of token.split('.')) {
    if (segment.length === 0) continue
    if (segment.length <= 16) parts.add(segment)
    for (let i = 0; i + 16 <= segment.length; i += 8) parts.add(segment.slice(i, i + 16))
  }
  if (!withClaims) return [...parts]
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as Record<string, unknown>
    for (const key of ['jti', 'body_sha256', 'pad']) if (typeof claims[key] === 'string') parts.add(String(claims[key]).slice(0, 64))
  } catch { /* not JSON: the windows cover it */ }
  return [...parts]
}

t.test('hostile tokens: 401 (409 for a replayed jti), nothing written, nothing of the token logged', async (t) => {
  const db = await testDatabase(t)
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  const app = await buildApp(testConfig(db.url, { BRIDGE_SITES: `${SITE}, site-b` }), { logger: { level: 'trace', stream } })
  t.teardown(() => app.close())
  await app.ready()

  let address = 0
  const post = (body: string, token: string) => app.inject({
    method: 'POST',
    url: '/v1/joomla/events',
    payload: body,
    remoteAddress: `10.1.${Math.floor(++address / 250)}.${address % 250}`,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  })

  // The replay needs a first, accepted delivery of its jti: done before the "nothing written" snapshot.
  const firstBody = eventBody({ user: { id: 70, email: 'first@example.org', name: 'First Event' }, isNew: true })
  const first = signEvent(SECRET, SITE, firstBody, { jti: 'replayed-jti-1' })
  const accepted = await post(firstBody, first.token)
  t.equal(accepted.statusCode, 200, 'the first delivery of the jti is accepted')
  t.equal(accepted.json().action, 'created-contact')

  const body = eventBody({ user: { id: 71, email: 'victim@example.org', name: 'Victim User' }, isNew: true })
  const hs = { alg: 'HS256', typ: 'JWT' }
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const publicJwk = publicKey.export({ format: 'jwk' })
  const attackerSecret = 'attacker-secret-attacker-secret-attacker-1'
  const tamperedBody = body.replace('victim@example.org', 'attacker@example.org')
  const signedForBody = signEvent(SECRET, SITE, body).token
  const [sh, sp, ss] = signedForBody.split('.')
  const otherClaims = b64(claimsFor(body, { iss: 'site-b', jti: 'spliced-claims' }))

  const cases: Array<{ name: string, token: string, body?: string, status?: number }> = [
    { name: 'alg none', token: hmacToken({ alg: 'none', typ: 'JWT' }, claimsFor(body), null) },
    { name: 'alg None, with the HMAC as signature', token: hmacToken({ alg: 'None', typ: 'JWT' }, claimsFor(body), SECRET) },
    { name: 'alg missing', token: hmacToken({ typ: 'JWT' }, claimsFor(body), SECRET) },
    { name: 'HS512 with the secret', token: hmacToken({ alg: 'HS512', typ: 'JWT' }, claimsFor(body), SECRET, 'sha512') },
    { name: 'HS384 with the secret', token: hmacToken({ alg: 'HS384', typ: 'JWT' }, claimsFor(body), SECRET, 'sha384') },
    { name: 'RS256 signed with an RSA key', token: rsaToken({ alg: 'RS256', typ: 'JWT' }, claimsFor(body), privateKey) },
    { name: 'RS256 header, HMAC with the secret as the public key', token: hmacToken({ alg: 'RS256', typ: 'JWT' }, claimsFor(body), SECRET) },
    { name: 'key confusion: HS256 signed with a public key\'s PEM text as the secret', token: hmacToken(hs, claimsFor(body), publicPem) },
    { name: 'key confusion: RS256 with the verifying public key as a JWK in the header', token: rsaToken({ alg: 'RS256', typ: 'JWT', jwk: publicJwk }, claimsFor(body), privateKey) },
    { name: 'key confusion: HS256 with the attacker\'s key as a JWK in the header', token: hmacToken({ ...hs, jwk: { kty: 'oct', k: b64(attackerSecret) } }, claimsFor(body), attackerSecret) },
    { name: 'key confusion: a kid naming an empty file, HMAC with an empty key', token: hmacToken({ ...hs, kid: '../../../../dev/null' }, claimsFor(body), Buffer.alloc(0)) },
    { name: 'a jku header pointing elsewhere, signed by the attacker', token: hmacToken({ ...hs, jku: 'https://attacker.example/jwks.json' }, claimsFor(body), attackerSecret) },
    { name: 'expired long ago', token: hmacToken(hs, claimsFor(body, { iat: now() - 400, exp: now() - 200 }), SECRET) },
    { name: `expired just over the ${CLOCK_SKEW_S} s skew`, token: hmacToken(hs, claimsFor(body, { iat: now() - 100, exp: now() - CLOCK_SKEW_S - 5 }), SECRET) },
    { name: `not yet valid: nbf just over the ${CLOCK_SKEW_S} s skew`, token: hmacToken(hs, claimsFor(body, { nbf: now() + CLOCK_SKEW_S + 10 }), SECRET) },
    { name: 'not yet valid: nbf far ahead', token: hmacToken(hs, claimsFor(body, { nbf: now() + 3600 }), SECRET) },
    { name: 'wrong aud', token: hmacToken(hs, claimsFor(body, { aud: 'someone-else' }), SECRET) },
    { name: 'aud list without the bridge', token: hmacToken(hs, claimsFor(body, { aud: ['someone-else', 'civicrm-bridge-x'] }), SECRET) },
    { name: 'wrong iss: a site not in BRIDGE_SITES', token: hmacToken(hs, claimsFor(body, { iss: 'site-c' }), SECRET) },
    { name: 'wrong iss: a listed site with other case', token: hmacToken(hs, claimsFor(body, { iss: SITE.toUpperCase() }), SECRET) },
    { name: 'a tampered body: signed for one body, another sent', token: signEvent(SECRET, SITE, body).token, body: tamperedBody },
    { name: 'a tampered token: claims of another token with this signature', token: `${sh}.${otherClaims}.${ss}` },
    { name: 'a token without its signature', token: `${sh}.${sp}.` },
    { name: 'a 10 KB token', token: hmacToken(hs, claimsFor(body, { pad: 'p'.repeat(10_000) }), SECRET) },
    { name: 'a replayed jti with another body', token: signEvent(SECRET, SITE, body, { jti: 'replayed-jti-1' }).token, status: 409 },
  ]

  await app.eventLog.flush()
  const before = await snapshot(db)
  for (const c of cases) {
    const r = await post(c.body ?? body, c.token)
    t.equal(r.statusCode, c.status ?? 401, c.name)
    t.match(r.json(), { error: c.status === 409 ? 'Conflict' : 'Unauthorized', message: String }, c.name)
    t.notOk(r.body.includes(c.token.split('.')[2] || c.token), `${c.name}: the answer does not echo the token`)
  }
  await app.eventLog.flush()
  t.equal(await snapshot(db), before, 'nothing written by any of them')

  const log = lines.join('')
  t.ok(lines.filter((l) => JSON.parse(l).msg === 'request refused').length >= cases.length, 'every refusal is logged')
  // The replayed jti was first accepted, and an applied event's line names its jti by design:
  // claims are looked for in every other line, the token's characters in all of them.
  const notEventLines = lines.filter((l) => JSON.parse(l).msg !== 'event').join('')
  for (const c of cases) {
    const leaked = [...tokenParts(c.token, false).filter((part) => log.includes(part)), ...tokenParts(c.token).filter((part) => notEventLines.includes(part))]
    t.same(leaked, [], `${c.name}: no part of the token in the log`)
  }
  t.same(tokenParts(first.token, false).filter((part) => log.includes(part)), [], 'nor of the accepted token')

  // The harness is sound: the same app, a good token for the victim's body, is applied.
  const good = await post(body, signEvent(SECRET, 'site-b', body).token)
  t.equal(good.statusCode, 200, 'a good token from a listed site is accepted')
  t.equal(good.json().action, 'created-contact')
})
