// The contacts an email can be linked to, by one rule wherever they are looked for (an event's
// linkUser, one email; the sync, a chunk's emails at once): the non-deleted Individuals having it
// on any email row, matched trimmed and case-insensitively and nothing else, each with the user
// it is linked to in the domain; primary email first, then the lowest contact id.
import { sql, type Placeholder } from 'drizzle-orm'
import type { AnyMySqlColumn } from 'drizzle-orm/mysql-core'
import type { Candidate, EmailMatches } from '../domain/link-user.js'
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

/** CiviCRM's index on civicrm_email.email (since CiviCRM 1.5): the start-up check requires it. */
export const EMAIL_INDEX = { table: 'civicrm_email', name: 'UI_email', column: 'email' } as const

/**
 * Many emails' at once, from the table `keys` (k: the email in CiviCRM's collation, x: exactly):
 * one branch per way (in a join, an OR would not use the index). Parameters: those of the
 * table and the domain, twice. The email index is forced: joined to a column, its cost comes
 * from the table's statistics, and statistics taking it for unselective made MariaDB compare
 * every email row with every key instead (6.4 s for one chunk of 1,000 at 140,000 email rows).
 */
const manyEmails = (keys: string) => FOUND_BY.map((foundBy) => candidatesOf('q.x AS k, ',
  `${keys} q JOIN civicrm_email e FORCE INDEX (${EMAIL_INDEX.name}) ON ${foundBy('q.k')} AND ${exactEmailSql('e.email', 'q.x')}`))
  .join('\nUNION ALL\n')

type Row = Candidate & { primary: number }
type ManyRow = { k: string, contact_id: number, is_primary: number, uf_id: number | null }
type KeysTable = { text: string, values: unknown[] }

/** Primary email first, then the lowest contact id (sorted here, not by the database: cheaper, and the same for one email or many). */
function inOrder (rows: Row[]): Candidate[] {
  rows.sort((a, b) => b.primary - a.primary || a.contactId - b.contactId)
  return rows.map(({ contactId, linkedUfId }) => ({ contactId, linkedUfId }))
}

/**
 * The user holding an email as uf_name in the domain: compared under the collation, not exactly,
 * as CiviCRM's unique key on (uf_name, domain_id) compares (a look-alike of a held uf_name,
 * gmäil for gmail, cannot be stored as another user's either). Parameters: email, domain.
 */
export const UF_NAME_HOLDER = 'SELECT uf_id FROM civicrm_uf_match WHERE uf_name = ? AND domain_id = ? LIMIT 1'

/**
 * UF_NAME_HOLDER's uf_id beside each of ONE_EMAIL's rows, or alone (candidate columns NULL) when
 * there is none. Its columns are named for the text protocol's rows (objects).
 */
const HOLDER_AND_CANDIDATES = `SELECT h.uf_id AS holder, x.contact_id, x.is_primary, x.uf_id AS linked_uf_id
  FROM (SELECT (${UF_NAME_HOLDER}) AS uf_id) h LEFT JOIN (${ONE_EMAIL}) x ON 1`

/** HOLDER_AND_CANDIDATES for a normalised email, as a statement to send with others (the lock rows': SqlLinkStore.lockAndRead). */
export const holderAndCandidatesRead = (domainId: number, email: string): [string, [string, number, number, string, string, string]] =>
  [HOLDER_AND_CANDIDATES, [email, domainId, domainId, email, email, email]]

type HolderRow = [holder: number | null, contactId: number | null, primary: number, linkedUfId: number | null]
interface TextHolderRow { holder: number | null, contact_id: number | null, is_primary: number, linked_uf_id: number | null }

/** HOLDER_AND_CANDIDATES's rows (arrays, as a prepared statement answers) as the holder and the candidates. */
function holderAndCandidatesOf (rows: HolderRow[]): EmailMatches {
  const candidates = rows.filter(([, contactId]) => contactId !== null)
    .map(([, contactId, primary, linkedUfId]) => ({ contactId: contactId!, linkedUfId, primary }))
  return { holder: rows[0][0], candidates: inOrder(candidates) }
}

/** HOLDER_AND_CANDIDATES's rows by the text protocol (objects). */
export const holderAndCandidatesOfText = (rows: TextHolderRow[]): EmailMatches =>
  holderAndCandidatesOf(rows.map((r) => [r.holder, r.contact_id, r.is_primary, r.linked_uf_id]))

/**
 * The user holding a normalised email as uf_name (UF_NAME_HOLDER) and the email's candidates,
 * in one round trip, by a server-side prepared statement.
 */
export async function findHolderAndCandidates (run: PreparedQuery, domainId: number, email: string): Promise<EmailMatches> {
  return holderAndCandidatesOf(await run(...holderAndCandidatesRead(domainId, email)) as HolderRow[])
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
