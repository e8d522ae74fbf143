// Email rules. CiviCRM accepts an email when PHP's filter_var(FILTER_VALIDATE_EMAIL) does
// (CRM_Utils_Rule::email); it matches emails case-insensitively; its email rows are stored
// lowercased (CRM_Core_BAO_Email::add) while uf_name keeps the email as typed
// (CRM_Core_BAO_UFMatch::synchronizeUFMatch). uf_name is varchar(128): a longer email cannot be linked.

export const UF_NAME_MAX = 128

/** The key emails are matched by: trimmed and lowercased. */
export function normalizeEmail (email: string | null | undefined): string {
  return (email ?? '').trim().toLowerCase()
}

/** The email as typed, trimmed: what uf_name and a new contact's fallback display name keep. */
export function typedEmail (email: string | null | undefined): string {
  return (email ?? '').trim()
}

/**
 * The regular expression of PHP's FILTER_VALIDATE_EMAIL (ext/filter/logical_filters.c,
 * without FILTER_FLAG_EMAIL_UNICODE; flags /iD), the same in JavaScript's syntax. PHP matches
 * bytes: every character class is ASCII, so a non-ASCII character anywhere fails, which
 * isPhpValidEmail checks first (then characters and bytes count alike).
 */
// The regex in parts, each a group of PHP's as it is written there (String.raw keeps every
// backslash), joined into exactly PHP's pattern.
const ATOM = String.raw`(?:[\x21\x23-\x27\x2A\x2B\x2D\x2F-\x39\x3D\x3F\x5E-\x7E]+)`
const QUOTED = String.raw`(?:\x22(?:[\x01-\x08\x0B\x0C\x0E-\x1F\x21\x23-\x5B\x5D-\x7F]|(?:\x5C[\x00-\x7F]))*\x22)`
/** One character of the local part as the length look-aheads count them. */
const LOCAL_CHAR = String.raw`(?:(?:\x22?\x5C[\x00-\x7E]\x22?)|(?:\x22?[^\x5C\x22]\x22?))`
const LOCAL_PART = String.raw`(?:${ATOM}|${QUOTED})(?:\.(?:${ATOM}|${QUOTED}))*`
const HOST_NAME = String.raw`(?:(?!.*[^.]{64,})(?:(?:(?:xn--)?[a-z0-9]+(?:-+[a-z0-9]+)*\.){1,126}){1,}` +
  String.raw`(?:(?:[a-z][a-z0-9]*)|(?:(?:xn--)[a-z0-9]+))(?:-+[a-z0-9]+)*)`
const OCTET = String.raw`(?:(?:25[0-5])|(?:2[0-4][0-9])|(?:1[0-9]{2})|(?:[1-9]?[0-9]))`
const IPV6 = String.raw`(?:IPv6:(?:(?:[a-f0-9]{1,4}(?::[a-f0-9]{1,4}){7})|` +
  String.raw`(?:(?!(?:.*[a-f0-9][:\]]){7,})(?:[a-f0-9]{1,4}(?::[a-f0-9]{1,4}){0,5})?::(?:[a-f0-9]{1,4}(?::[a-f0-9]{1,4}){0,5})?)))`
const IPV4_PREFIX = String.raw`(?:IPv6:(?:(?:[a-f0-9]{1,4}(?::[a-f0-9]{1,4}){5}:)|` +
  String.raw`(?:(?!(?:.*[a-f0-9]:){5,})(?:[a-f0-9]{1,4}(?::[a-f0-9]{1,4}){0,3})?::(?:[a-f0-9]{1,4}(?::[a-f0-9]{1,4}){0,3}:)?)))`
const ADDRESS_LITERAL = String.raw`(?:\[(?:${IPV6}|(?:${IPV4_PREFIX}?${OCTET}(?:\.${OCTET}){3}))\])`
const PHP_EMAIL_RE = new RegExp(
  String.raw`^(?!${LOCAL_CHAR}{255,})(?!${LOCAL_CHAR}{65,}@)${LOCAL_PART}@(?:${HOST_NAME}|${ADDRESS_LITERAL})$`,
  'i'
)

/** filter_var($email, FILTER_VALIDATE_EMAIL) !== false, as PHP decides it (at most 320 bytes). */
export function isPhpValidEmail (email: string): boolean {
  // PCRE's `.` stops at \n only; JavaScript's at \r too: no valid email holds either.
  // eslint-disable-next-line no-control-regex
  return email.length <= 320 && !/[^\x00-\x7F]/.test(email) && PHP_EMAIL_RE.test(email)
}

/** Every reason an email cannot be linked: one list for the rules, the sync's counts and its SQL. */
export const EMAIL_PROBLEMS = ['missing-email', 'invalid-email', 'email-too-long'] as const

export type EmailProblem = typeof EMAIL_PROBLEMS[number]

export const isEmailProblem = (reason: string): reason is EmailProblem => (EMAIL_PROBLEMS as readonly string[]).includes(reason)

/** Why an email cannot be linked, or null when it can: CiviCRM's validity, then uf_name's size. */
export function emailProblem (email: string | null | undefined): EmailProblem | null {
  const e = typedEmail(email)
  let problem = problems.get(e)
  if (problem === undefined) {
    problem = e === '' ? 'missing-email' : !isPhpValidEmail(e) ? 'invalid-email' : [...e].length > UF_NAME_MAX ? 'email-too-long' : null
    if (problems.size >= PROBLEMS_KEPT) problems.clear()
    problems.set(e, problem)
  }
  return problem
}
/**
 * emailProblem's answers, remembered: the sync asks about each user's email three times (its lock
 * keys, its facts, its decision), and PHP's pattern was 3 % of the sync's CPU. Bounded: cleared
 * when full (at most PROBLEMS_KEPT emails of up to 320 characters).
 */
const problems = new Map<string, EmailProblem | null>()
export const PROBLEMS_KEPT = 10_000

/** For logs at info level: never a full email. */
export function maskEmail (email: string | null | undefined): string {
  const e = normalizeEmail(email)
  const at = e.lastIndexOf('@')
  if (at < 1) return e === '' ? '' : '***'
  return `${e[0]}***@${e.slice(at + 1)}`
}
