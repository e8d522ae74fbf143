// The rules of CiviCRM transactions done through the bridge (profile edit, contribution,
// membership signup): input validation, who the assertion names, membership dates, invoice ids.
// Framework-free: the routes and the forms both validate through these functions.
import { randomBytes } from 'node:crypto'
import { emailProblem, normalizeEmail } from './email.js'
import type { JoomlaUser } from './link-user.js'
import type { ContactNames } from './names.js'

/** The purpose claim `act` of a signed assertion. */
export type Act = 'profile' | 'contribution' | 'membership'
export const ACTS: readonly Act[] = ['profile', 'contribution', 'membership']

/** A signed assertion is valid for at most this long (exp − iat). */
export const ASSERTION_TTL_S = 60

/** An input the bridge refuses: the field it names and why. Nothing is written. */
export class InvalidInput extends Error {
  override name = 'InvalidInput'
  readonly statusCode = 400
  constructor (readonly field: string, readonly reason: string) {
    super(`${field}: ${reason}`)
  }
}

/** A request that is well-formed but refers to something that is not there (an unknown profile). */
export class NotFound extends Error {
  override name = 'NotFound'
  readonly statusCode = 404
}

/** The assertion is missing, expired, forged, used before or for another purpose. */
export class AssertionError extends Error {
  override name = 'AssertionError'
  readonly statusCode = 401
}

/** The user cannot be linked (no usable email, or the email belongs to another user's link). */
export class CannotLink extends Error {
  override name = 'CannotLink'
  readonly statusCode = 409
  constructor (readonly reason: string) {
    super(`this account cannot be linked to a CiviCRM contact (${reason})`)
  }
}

// ---------------------------------------------------------------------------------------------
// ISO 4217: current codes of currencies a payment can be made in (no fund, metal, test or
// unit-of-account codes; withdrawn ones such as HRK, SLL, ZWL, ANG and BGN are gone).
const ISO_4217 = new Set(`AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ
GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG`.split(/\s+/))

export const CURRENCIES: readonly string[] = [...ISO_4217].sort()
/** CiviCRM's default currency when a form or request names none. */
export const DEFAULT_CURRENCY = 'USD'

export const isCurrency = (code: string): boolean => ISO_4217.has(code)

// ---------------------------------------------------------------------------------------------
// Field parsers: each takes what JSON or a form sent (unknown) and returns a clean value or
// throws InvalidInput naming the field.

const NAME_MAX = 64 // civicrm_contact.first_name / last_name
const DISPLAY_MAX = 128

const present = (v: unknown): boolean => v !== undefined && v !== null && v !== ''

export function parseId (field: string, v: unknown): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 4294967295) return v
  if (typeof v === 'string' && /^[1-9][0-9]{0,9}$/.test(v) && Number(v) <= 4294967295) return Number(v)
  throw new InvalidInput(field, present(v) ? 'must be a positive integer id' : 'is required')
}

/** A positive amount with at most 2 decimals, as the decimal string stored in decimal(20,2). */
export function parseAmount (field: string, v: unknown): string {
  let s: string
  if (typeof v === 'number' && Number.isFinite(v)) s = String(v)
  else if (typeof v === 'string') s = v.trim()
  else throw new InvalidInput(field, present(v) ? 'must be a number' : 'is required')
  if (s === '') throw new InvalidInput(field, 'is required')
  const m = /^([0-9]{1,15})(?:\.([0-9]{1,2}))?$/.exec(s)
  if (!m) throw new InvalidInput(field, 'must be a positive amount with at most 2 decimals')
  const amount = `${BigInt(m[1])}.${(m[2] ?? '').padEnd(2, '0')}`
  if (/^0\.00$/.test(amount)) throw new InvalidInput(field, 'must be positive')
  return amount
}

export function parseCurrency (field: string, v: unknown): string {
  if (!present(v)) return DEFAULT_CURRENCY
  if (typeof v !== 'string' || !isCurrency(v.trim().toUpperCase())) throw new InvalidInput(field, 'must be an ISO 4217 currency code')
  return v.trim().toUpperCase()
}

export function parseEmail (field: string, v: unknown, required: boolean): string | null {
  if (!present(v)) {
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

export function parseSource (field: string, v: unknown, max: number): string | null {
  if (!present(v)) return null
  if (typeof v !== 'string') throw new InvalidInput(field, 'must be text')
  const s = v.trim()
  if ([...s].length > max) throw new InvalidInput(field, `must be at most ${max} characters`)
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
// The three transactions' inputs.

/** Who pays or signs up when nobody is logged in. Email is required then; names are optional. */
export interface Person { email: string, firstName: string | null, lastName: string | null }

export interface ContributionInput {
  /** Null when a logged-in user contributes: their linked contact is used. */
  person: Person | null
  amount: string
  currency: string
  financialTypeId: number
  source: string | null
}

export interface MembershipInput {
  person: Person | null
  membershipTypeId: number
  currency: string
  source: string | null
}

export interface ProfileInput {
  gid: number
  /** Undefined: left as it is; null: cleared. */
  firstName?: string | null
  lastName?: string | null
  /** Null: the contact's email is left as it is (a contact keeps its email). */
  email: string | null
}

const PERSON_FIELDS = ['email', 'first_name', 'last_name'] as const

function parsePerson (b: Record<string, unknown>, anonymous: boolean): Person | null {
  const email = parseEmail('email', b.email, anonymous)
  const firstName = parseName('first_name', b.first_name)
  const lastName = parseName('last_name', b.last_name)
  // A logged-in user pays as their linked contact; the fields, when sent, are only checked.
  return anonymous ? { email: email!, firstName, lastName } : null
}

export function parseContribution (body: unknown, anonymous: boolean): ContributionInput {
  const b = asRecord(body)
  refuseUnknown(b, [...PERSON_FIELDS, 'amount', 'currency', 'financial_type_id', 'source'])
  return {
    amount: parseAmount('amount', b.amount),
    currency: parseCurrency('currency', b.currency),
    financialTypeId: parseId('financial_type_id', b.financial_type_id),
    source: parseSource('source', b.source, 255),
    person: parsePerson(b, anonymous),
  }
}

export function parseMembership (body: unknown, anonymous: boolean): MembershipInput {
  const b = asRecord(body)
  refuseUnknown(b, [...PERSON_FIELDS, 'membership_type_id', 'currency', 'source'])
  return {
    membershipTypeId: parseId('membership_type_id', b.membership_type_id),
    currency: parseCurrency('currency', b.currency),
    source: parseSource('source', b.source, 128),
    person: parsePerson(b, anonymous),
  }
}

export function parseProfile (body: unknown): ProfileInput {
  const b = asRecord(body)
  refuseUnknown(b, ['gid', 'fields'])
  const gid = parseId('gid', b.gid)
  if (!present(b.fields)) throw new InvalidInput('fields', 'is required')
  const f = asRecordNamed('fields', b.fields)
  refuseUnknown(f, PERSON_FIELDS, 'fields.')
  return {
    gid,
    firstName: 'first_name' in f ? parseName('fields.first_name', f.first_name) : undefined,
    lastName: 'last_name' in f ? parseName('fields.last_name', f.last_name) : undefined,
    email: parseEmail('fields.email', f.email, false),
  }
}

function asRecordNamed (field: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidInput(field, 'must be an object')
  return v as Record<string, unknown>
}

/** display_name 'First Last' and sort_name 'Last, First' (CiviCRM's default formats); the email when there is no name. */
export function namesFromParts (firstName: string | null, lastName: string | null, email: string): ContactNames {
  const display = [firstName, lastName].filter(Boolean).join(' ')
  const sort = [lastName, firstName].filter(Boolean).join(', ')
  const cut = (s: string) => [...s].slice(0, DISPLAY_MAX).join('')
  return { firstName, middleName: null, lastName, displayName: cut(display || email), sortName: cut(sort || email) }
}

// ---------------------------------------------------------------------------------------------
// The assertion: who the logged-in Joomla user is.

/**
 * The user a verified assertion names (signature, aud, iss, exp and jti are checked by the
 * HTTP layer). `act` must be the purpose of the page or endpoint; extra claims are ignored.
 */
export function assertionUser (claims: Record<string, unknown>, act: Act): JoomlaUser {
  if (claims.act !== act) throw new AssertionError(`assertion is for ${typeof claims.act === 'string' ? JSON.stringify(claims.act.slice(0, 32)) : 'no purpose'}, not ${act}`)
  const { sub, username, email, name } = claims
  if (typeof sub !== 'string' || !/^[1-9][0-9]{0,9}$/.test(sub) || Number(sub) > 4294967295) throw new AssertionError('assertion sub must be the Joomla user id')
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

// ---------------------------------------------------------------------------------------------
// Memberships.

export interface MembershipTypeRule {
  durationUnit: string
  durationInterval: number | null
  periodType: string
  minimumFee: string | null
}

export interface MembershipDates { joinDate: string, startDate: string, endDate: string | null }

const ymd = (d: Date): string => d.toISOString().slice(0, 10)

/**
 * CiviCRM's rolling rule: join = start = today (UTC); end = start + interval × unit − 1 day,
 * with PHP mktime's overflow (Jan 31 + 1 month − 1 day = Mar 2 or 3), which Date.UTC shares;
 * lifetime: no end date. Fixed-period types are refused (their anniversaries are not modelled).
 */
export function membershipDates (type: MembershipTypeRule, today: Date): MembershipDates {
  const y = today.getUTCFullYear()
  const m = today.getUTCMonth()
  const d = today.getUTCDate()
  const start = ymd(new Date(Date.UTC(y, m, d)))
  if (type.durationUnit === 'lifetime') return { joinDate: start, startDate: start, endDate: null }
  if (type.periodType !== 'rolling') throw new InvalidInput('membership_type_id', 'fixed-period membership types are not supported by the bridge')
  const n = type.durationInterval ?? 1
  const end = type.durationUnit === 'year'
    ? Date.UTC(y + n, m, d - 1)
    : type.durationUnit === 'month'
      ? Date.UTC(y, m + n, d - 1)
      : type.durationUnit === 'day'
        ? Date.UTC(y, m, d + n - 1)
        : null
  if (end === null) throw new InvalidInput('membership_type_id', `unknown duration unit ${JSON.stringify(type.durationUnit)}`)
  return { joinDate: start, startDate: start, endDate: ymd(new Date(end)) }
}

/** The membership's fee as a contribution amount, or null when the type is free. */
export function membershipFee (type: MembershipTypeRule): string | null {
  if (type.minimumFee === null) return null
  const cents = Math.round(Number(type.minimumFee) * 100)
  if (!(cents > 0)) return null
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`
}

/** A unique invoice id: 32 hex characters, as CiviCRM's md5 of a unique id. */
export const newInvoiceId = (): string => randomBytes(16).toString('hex')

/** civicrm_contribution.contribution_status_id of a completed payment. */
export const CONTRIBUTION_COMPLETED = 1
