// Joomla users and the CiviCRM contacts some of them match, in bulk, for the sync benchmark and
// the sync soak: users 1..N; a matched user's contact has id = user id + 1 (id 1 is the
// domain's organization) and the user's email, sometimes on a non-primary row; some users'
// emails are mixed-case, some missing.
import { randomBytes } from 'node:crypto'
import mysql from 'mysql2/promise'

export interface UserMix {
  /** Has a contact to match. */
  matched: (i: number) => boolean
  /** The contact has the email on a non-primary row (its primary is a work email). */
  byNonPrimary: (i: number) => boolean
  /** The Joomla email is mixed-case. */
  mixedCase: (i: number) => boolean
  /** The Joomla user has no email. */
  noEmail?: (i: number) => boolean
}

const INSERT_CONTACTS =
  'INSERT INTO civicrm_contact (id, contact_type, first_name, last_name, display_name, sort_name, hash, source) VALUES ?'
const INSERT_EMAILS = 'INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) VALUES ?'
const INSERT_USERS = 'INSERT INTO jos_users (id, name, username, email, password, params, registerDate) VALUES ?'

export async function seedUsers (url: string, n: number, mix: UserMix, label: string): Promise<void> {
  const conn = await mysql.createConnection({ uri: url })
  // The seed is consistent by construction: skip the checks a bulk load does not need.
  await conn.query('SET unique_checks = 0, foreign_key_checks = 0')
  try {
    for (let start = 1; start <= n; start += 5000) {
      const ids = Array.from({ length: Math.min(5000, n - start + 1) }, (_, k) => start + k)
      const matched = ids.filter(mix.matched)
      if (matched.length > 0) {
        const contact = (i: number) =>
          [i + 1, 'Individual', 'Member', `N${i}`, `Member N${i}`, `N${i}, Member`, randomBytes(16).toString('hex'), label]
        await conn.query(INSERT_CONTACTS, [matched.map(contact)])
        await conn.query(INSERT_EMAILS, [matched.flatMap((i) => mix.byNonPrimary(i)
          ? [[i + 1, 2, `work${i}@example.net`, 1], [i + 1, 1, `user${i}@example.org`, 0]]
          : [[i + 1, 1, `user${i}@example.org`, 1]])])
      }
      const email = (i: number) => mix.noEmail?.(i) ? '' : mix.mixedCase(i) ? `User${i}@Example.ORG` : `user${i}@example.org`
      await conn.query(INSERT_USERS, [ids.map((i) => [i, `Joomla User ${i}`, `u${i}`, email(i), '', '', new Date()])])
    }
  } finally {
    await conn.end()
  }
}
