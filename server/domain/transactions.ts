// The rules of the one transaction done on the bridge's own pages, "Edit my details" (names and
// email only): input validation and who the assertion names. Contributions and memberships are
// CiviCRM's own pages: the plugin links the user before they run (event onCivicrmContribution…,
// server/domain/events.ts); the bridge records no money. Framework-free: the route and the form
// both validate through these functions.
import { emailProblem, normalizeEmail } from './email.js'
import type { JoomlaUser } from './link-user.js'
import { InvalidInput, NotFound, AssertionError, CannotLink } from '../errors.js'

/** The purpose claim `act` of a signed assertion: only "Edit my details" is the bridge's own page. */
export type Act = 'profile'

/** A signed assertion is valid for at most this long (exp − iat). */
export const ASSERTION_TTL_S = 60

export { InvalidInput, NotFound, AssertionError, CannotLink }

// ---------------------------------------------------------------------------------------------
// Field parsers: each takes what JSON or a form sent (unknown) and returns a clean value or
// throws InvalidInput naming the field.

const NAME_MAX = 64 // civicrm_contact.first_name / last_name

const present = (v: unknown): boolean => v !== undefined && v !== null && v !== ''

export function parseId (field: string, v: unknown): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 4294967295) return v
  if (typeof v === 'string' && /^[1-9][0-9]{0,9}$/.test(v) && Number(v) <= 4294967295) return Number(v)
  throw new InvalidInput(field, present(v) ? 'must be a positive integer id' : 'is required')
}

export function parseEmail (field: string, v: unknown, required: boolean): string | null {
  // Blank is no email at all (a form field left with spaces).
  if (!present(v) || (typeof v === 'string' && v.trim() === '')) {
    if (required) throw new InvalidInput(field, 'is required')
    return null
  }
  if (typeof v !== 'string' || v.length > 320) throw new InvalidInput(field, 'must be an email address')
  const problem = emailProblem(v)
  if (problem === 'email-too-long') throw new InvalidInput(field, 'must be at most 128 characters')
  if (problem) throw new InvalidInput(field, 'must be an email address')
  return normalizeEmail(v)
}

export function parseName (field: string, v: unknown): string | null {
  if (!present(v)) return null
  if (typeof v !== 'string') throw new InvalidInput(field, 'must be text')
  const s = v.normalize('NFC').trim().replace(/\s+/gu, ' ')
  if ([...s].length > NAME_MAX) throw new InvalidInput(field, `must be at most ${NAME_MAX} characters`)
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f<>]/u.test(s)) throw new InvalidInput(field, 'must not contain control characters or < >')
  return s === '' ? null : s
}

const asRecord = (body: unknown): Record<string, unknown> => {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidInput('body', 'must be an object')
  return body as Record<string, unknown>
}

function refuseUnknown (obj: Record<string, unknown>, allowed: readonly string[], prefix = ''): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw new InvalidInput(prefix + key, 'is not a known field')
  }
}

// ---------------------------------------------------------------------------------------------
// The profile's input.

export interface ProfileInput {
  gid: number
  /** Undefined: left as it is; null: cleared. */
  firstName?: string | null
  lastName?: string | null
  /** Null: the contact's email is left as it is (a contact keeps its email). */
  email: string | null
}

const PROFILE_FIELDS = ['email', 'first_name', 'last_name'] as const

export function parseProfile (body: unknown): ProfileInput {
  const b = asRecord(body)
  refuseUnknown(b, ['gid', 'fields'])
  const gid = parseId('gid', b.gid)
  if (!present(b.fields)) throw new InvalidInput('fields', 'is required')
  const f = asRecordNamed('fields', b.fields)
  refuseUnknown(f, PROFILE_FIELDS, 'fields.')
  return {
    gid,
    firstName: 'first_name' in f ? parseName('fields.first_name', f.first_name) : undefined,
    lastName: 'last_name' in f ? parseName('fields.last_name', f.last_name) : undefined,
    // Left out: the email is kept. Sent empty: refused (a contact keeps an email; an emptied
    // field must not be taken for "no change").
    email: 'email' in f ? parseEmail('fields.email', f.email, true) : null,
  }
}

function asRecordNamed (field: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidInput(field, 'must be an object')
  return v as Record<string, unknown>
}

// ---------------------------------------------------------------------------------------------
// The assertion: who the logged-in Joomla user is.

/**
 * The user a verified assertion names (signature, aud, iss, exp and jti are checked by the
 * HTTP layer). `act` must be `profile`; extra claims are ignored.
 */
export function assertionUser (claims: Record<string, unknown>, act: Act): JoomlaUser {
  if (claims.act !== act) {
    const purpose = typeof claims.act === 'string' ? JSON.stringify(claims.act.slice(0, 32)) : 'no purpose'
    throw new AssertionError(`assertion is for ${purpose}, not ${act}`)
  }
  const { sub, username, email, name } = claims
  if (typeof sub !== 'string' || !/^[1-9][0-9]{0,9}$/.test(sub) || Number(sub) > 4294967295) {
    throw new AssertionError('assertion sub must be the Joomla user id')
  }
  if (typeof email !== 'string') throw new AssertionError('assertion email missing')
  return {
    id: Number(sub),
    username: typeof username === 'string' ? username : '',
    email,
    name: typeof name === 'string' ? name : '',
    // Only a logged-in user gets an assertion: Joomla refuses blocked users at login.
    block: false,
  }
}
