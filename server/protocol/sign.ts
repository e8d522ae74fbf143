// The sending side of docs/protocol.md, for the demo, tests and benchmarks: what the Joomla
// plugin does in PHP.
import { createHash, randomUUID } from 'node:crypto'
import { createSigner } from 'fast-jwt'

export interface SignedRequest { body: string, token: string, jti: string }

export function sha256Hex (body: string | Buffer): string {
  return createHash('sha256').update(body).digest('hex')
}

/** Signs an exact body as an event: iss, aud, iat, exp, jti, body_sha256. */
export function signEvent (
  secret: string, site: string, body: string, opts: { jti?: string, ttlS?: number, now?: number } = {}
): SignedRequest {
  const jti = opts.jti ?? randomUUID()
  const iat = Math.floor((opts.now ?? Date.now()) / 1000)
  const sign = createSigner({ key: secret, algorithm: 'HS256' })
  const token = sign({ iss: site, aud: 'civicrm-bridge', iat, exp: iat + (opts.ttlS ?? 120), jti, body_sha256: sha256Hex(body) })
  return { body, token, jti }
}

/** A signed assertion of a logged-in Joomla user (lazy linking). */
export function signAssertion (
  secret: string, site: string, user: { id: number, username: string, email: string, name: string }, act: string,
  opts: { jti?: string, ttlS?: number } = {}
): string {
  const iat = Math.floor(Date.now() / 1000)
  const sign = createSigner({ key: secret, algorithm: 'HS256' })
  const { username, email, name } = user
  const [exp, jti] = [iat + (opts.ttlS ?? 60), opts.jti ?? randomUUID()]
  return sign({ iss: site, aud: 'civicrm-bridge', iat, exp, jti, act, sub: String(user.id), username, email, name })
}
