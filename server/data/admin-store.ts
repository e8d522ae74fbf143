// SQL of the admin pages: the Change Log (contacts with civicrm_log rows in a window, as
// CiviCRM's Advanced Search → Change Log finds them) and one contact's details.
import type mysql from 'mysql2/promise'

type Queryable = Pick<mysql.Pool, 'query'>

/** Contacts per page of the Change Log. */
export const CHANGE_LOG_PAGE_SIZE = 100

export interface ChangeRow {
  id: number,
  displayName: string | null,
  contactType: string | null,
  change: 'Created' | 'Modified',
  firstAt: Date,
  lastAt: Date,
  changes: number,
  /** The contact's primary email (else its first). */
  email: string | null,
  /** The Joomla user linked to the contact in this domain, if any. */
  user: { ufId: number, ufName: string | null } | null,
}

export interface ContactDetails {
  id: number,
  contactType: string | null,
  displayName: string | null,
  sortName: string | null,
  firstName: string | null,
  middleName: string | null,
  lastName: string | null,
  source: string | null,
  isDeleted: boolean,
  createdDate: Date | null,
  emails: Array<{ email: string | null, isPrimary: boolean, location: string | null }>,
  users: Array<{ ufId: number, ufName: string | null }>,
  log: Array<{ modifiedDate: Date | null, data: string | null }>,
}

/**
 * Contacts with civicrm_log rows in [from, to), the last changed first: page `page` (from 1) of
 * CHANGE_LOG_PAGE_SIZE rows, with each one's email and linked user, and how many there are.
 */
export async function changeLog (
  pool: Queryable, domainId: number, from: Date, to: Date, page = 1
): Promise<{ rows: ChangeRow[], total: number }> {
  const [rows] = await pool.query(
    `SELECT p.*,
            (SELECT e.email FROM civicrm_email e WHERE e.contact_id = p.id ORDER BY e.is_primary DESC, e.id LIMIT 1) AS email,
            m.uf_id, m.uf_name
       FROM (SELECT c.id, c.display_name, c.contact_type, c.created_date,
                    MIN(l.modified_date) AS first_at, MAX(l.modified_date) AS last_at, COUNT(*) AS changes
               FROM civicrm_log l JOIN civicrm_contact c ON c.id = l.entity_id
              WHERE l.entity_table = 'civicrm_contact' AND l.modified_date >= ? AND l.modified_date < ?
              GROUP BY c.id ORDER BY last_at DESC, c.id DESC LIMIT ? OFFSET ?) p
       LEFT JOIN civicrm_uf_match m ON m.contact_id = p.id AND m.domain_id = ?
      ORDER BY p.last_at DESC, p.id DESC`, [from, to, CHANGE_LOG_PAGE_SIZE, (page - 1) * CHANGE_LOG_PAGE_SIZE, domainId])
  const [count] = await pool.query(
    `SELECT COUNT(DISTINCT l.entity_id) AS n FROM civicrm_log l JOIN civicrm_contact c ON c.id = l.entity_id
      WHERE l.entity_table = 'civicrm_contact' AND l.modified_date >= ? AND l.modified_date < ?`, [from, to])
  interface Row {
    id: number
    display_name: string | null
    contact_type: string | null
    created_date: Date | null
    first_at: Date
    last_at: Date
    changes: number
    email: string | null
    uf_id: number | null
    uf_name: string | null
  }
  return {
    rows: (rows as Row[]).map((r) => {
      // Created in the window when its creation date falls in it (without one: when its first log row does).
      const created = r.created_date ?? r.first_at
      return {
        id: r.id,
        displayName: r.display_name,
        contactType: r.contact_type,
        change: created >= from && created < to ? 'Created' : 'Modified',
        firstAt: r.first_at,
        lastAt: r.last_at,
        changes: Number(r.changes),
        email: r.email,
        user: r.uf_id === null ? null : { ufId: r.uf_id, ufName: r.uf_name },
      }
    }),
    total: Number((count as Array<{ n: number }>)[0].n),
  }
}

const SELECT_CONTACT = 'SELECT id, contact_type, display_name, sort_name, first_name, middle_name, last_name, source, is_deleted, ' +
  'created_date FROM civicrm_contact WHERE id = ?'
const SELECT_EMAILS = 'SELECT e.email, e.is_primary, t.display_name AS location ' +
  'FROM civicrm_email e LEFT JOIN civicrm_location_type t ON t.id = e.location_type_id ' +
  'WHERE e.contact_id = ? ORDER BY e.is_primary DESC, e.id'
const SELECT_USERS = 'SELECT uf_id, uf_name FROM civicrm_uf_match WHERE contact_id = ? AND domain_id = ? ORDER BY id'
const SELECT_LOG = 'SELECT modified_date, data FROM civicrm_log ' +
  "WHERE entity_table = 'civicrm_contact' AND entity_id = ? ORDER BY id DESC LIMIT 50"

/**
 * A contact with its emails, the Joomla users linked to it in this domain and its last 50 log
 * rows; null when there is none.
 */
export async function contactDetails (pool: Queryable, domainId: number, id: number): Promise<ContactDetails | null> {
  const [contacts] = await pool.query(SELECT_CONTACT, [id])
  const c = (contacts as Array<Record<string, unknown>>)[0]
  if (!c) return null
  const [emails] = await pool.query(SELECT_EMAILS, [id])
  const [users] = await pool.query(SELECT_USERS, [id, domainId])
  const [log] = await pool.query(SELECT_LOG, [id])
  return {
    id: c.id as number,
    contactType: c.contact_type as string | null,
    displayName: c.display_name as string | null,
    sortName: c.sort_name as string | null,
    firstName: c.first_name as string | null,
    middleName: c.middle_name as string | null,
    lastName: c.last_name as string | null,
    source: c.source as string | null,
    isDeleted: c.is_deleted === 1,
    createdDate: c.created_date as Date | null,
    emails: (emails as Array<{ email: string | null, is_primary: number, location: string | null }>)
      .map((e) => ({ email: e.email, isPrimary: e.is_primary === 1, location: e.location })),
    users: (users as Array<{ uf_id: number, uf_name: string | null }>).map((u) => ({ ufId: u.uf_id, ufName: u.uf_name })),
    log: (log as Array<{ modified_date: Date | null, data: string | null }>).map((l) => ({ modifiedDate: l.modified_date, data: l.data })),
  }
}
