// The contacts an email can be linked to, by one rule wherever they are looked for (an event's
// linkUser, one email; the sync, a chunk's emails at once): the non-deleted Individuals having it
// on any email row, matched trimmed and case-insensitively and nothing else, each with the user
// it is linked to in the domain; primary email first, then the lowest contact id.
import { sql, type Placeholder } from 'drizzle-orm'
import type { AnyMySqlColumn } from 'drizzle-orm/mysql-core'
import type { Candidate } from '../domain/link-user.js'
import type { PreparedQuery } from './db.js'

/**
 * The exact identity of an email column with a normalised email (trimmed, lowercased): the
 * collation's equality (which uses the index) also takes accents, full-width forms and
 * ligatures for equal (gmäil = gmail, ß = ss under utf8mb4_unicode_ci); this compares the
 * bytes of the column trimmed and lowercased with those of the value, whatever the collations.
 */
export const exactEmailSql = (column: string, value: string) => `CAST(LOWER(TRIM(${column})) AS BINARY) = CAST(${value} AS BINARY)`
/** exactEmailSql for Drizzle. */
export const exactEmail = (column: AnyMySqlColumn, value: string | Placeholder) =>
  sql`CAST(LOWER(TRIM(${column})) AS BINARY) = CAST(${value} AS BINARY)`

/**
 * The two ways an email row `e` is found for key `k`, each by the email index: equal under the
 * collation, or (a row with leading spaces) equal once trimmed. Either one also needs
 * exactEmailSql: the collation's equality alone takes look-alikes for equal.
 */
const FOUND_BY = [(k: string) => `e.email = ${k}`, (k: string) => `e.email LIKE ' %' AND TRIM(e.email) = ${k}`] as const

/**
 * The candidates of the email rows `e` of `emailRows`: [`key`…, contact, is_primary, linked uf_id].
 * Its one parameter, the domain, comes after those of `emailRows`.
 */
const candidatesOf = (key: string, emailRows: string) => `SELECT ${key}c.id AS contact_id, e.is_primary, m.uf_id FROM ${emailRows}
  JOIN civicrm_contact c ON c.id = e.contact_id AND c.contact_type = 'Individual' AND c.is_deleted = 0
  LEFT JOIN civicrm_uf_match m ON m.contact_id = c.id AND m.domain_id = ?`

/** One email's: the two ways in one condition (the index is read for both ranges). Parameters: domain, email ×3. */
const ONE_EMAIL = `${candidatesOf('', 'civicrm_email e')}
  WHERE (${FOUND_BY[0]('?')} OR (${FOUND_BY[1]('?')})) AND ${exactEmailSql('e.email', '?')}`

/**
 * Many emails' at once, from the table `keys` (k: the email in CiviCRM's collation, x: exactly):
 * one branch per way (in a join, an OR would not use the index). Parameters: those of the
 * table and the domain, twice.
 */
const manyEmails = (keys: string) => FOUND_BY.map((foundBy) =>
  candidatesOf('q.x AS k, ', `${keys} q JOIN civicrm_email e ON ${foundBy('q.k')} AND ${exactEmailSql('e.email', 'q.x')}`))
  .join('\nUNION ALL\n')

type Row = Candidate & { primary: number }
type ManyRow = { k: string, contact_id: number, is_primary: number, uf_id: number | null }
type KeysTable = { text: string, values: unknown[] }

/** Primary email first, then the lowest contact id (sorted here, not by the database: cheaper, and the same for one email or many). */
function inOrder (rows: Row[]): Candidate[] {
  rows.sort((a, b) => b.primary - a.primary || a.contactId - b.contactId)
  return rows.map(({ contactId, linkedUfId }) => ({ contactId, linkedUfId }))
}

/** One email's candidates (a normalised email), by a server-side prepared statement: an event's hot path. */
export async function findCandidates (run: PreparedQuery, domainId: number, email: string): Promise<Candidate[]> {
  const rows = await run(ONE_EMAIL, [domainId, email, email, email]) as Array<[number, number, number | null]>
  return inOrder(rows.map(([contactId, primary, linkedUfId]) => ({ contactId, linkedUfId, primary })))
}

/**
 * The candidates of many emails, by their exact email (x): the statement, to be sent in a batch
 * (runBatch); candidatesByEmail reads its rows. `keys`: the emails as a table of columns k and
 * x, and its parameters.
 */
export const manyCandidates = (keys: KeysTable, domainId: number): readonly [string, unknown[]] =>
  [manyEmails(keys.text), [...keys.values, domainId, ...keys.values, domainId]]

/** manyCandidates's rows by email; an email without any candidate is left out. */
export function candidatesByEmail (rows: unknown): Map<string, Candidate[]> {
  const byEmail = new Map<string, Row[]>()
  for (const r of rows as ManyRow[]) {
    let list = byEmail.get(r.k)
    if (!list) byEmail.set(r.k, list = [])
    list.push({ contactId: r.contact_id, linkedUfId: r.uf_id, primary: r.is_primary })
  }
  return new Map([...byEmail].map(([k, list]) => [k, inOrder(list)]))
}
