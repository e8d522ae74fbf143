// Email rules: CiviCRM compares emails trimmed and case-insensitively, and stores a new
// contact's email lowercased. uf_name is varchar(128), so a longer email cannot be linked.

export const UF_NAME_MAX = 128

export function normalizeEmail (email: string | null | undefined): string {
  return (email ?? '').trim().toLowerCase()
}

// One @, a dotted domain, no spaces or control characters: what a mail server would accept.
const EMAIL_RE = /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+\.[^\s@\p{Cc}.]+$/u

export type EmailProblem = 'missing-email' | 'invalid-email' | 'email-too-long'

/** Why an email cannot be linked, or null when it can. */
export function emailProblem (email: string | null | undefined): EmailProblem | null {
  const e = normalizeEmail(email)
  if (e === '') return 'missing-email'
  if (!EMAIL_RE.test(e) || e.includes('..')) return 'invalid-email'
  if ([...e].length > UF_NAME_MAX) return 'email-too-long'
  return null
}

/** For logs at info level: never a full email. */
export function maskEmail (email: string | null | undefined): string {
  const e = normalizeEmail(email)
  const at = e.lastIndexOf('@')
  if (at < 1) return e === '' ? '' : '***'
  return `${e[0]}***@${e.slice(at + 1)}`
}
