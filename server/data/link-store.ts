// LinkStore on CiviCRM's tables (and the bridge's tombstone and audit tables), in one unit of work.
import { randomBytes } from 'node:crypto'
import { and, asc, eq, sql } from 'drizzle-orm'
import { civicrmUfMatch } from '../../drizzle/schema/civicrm.js'
import { bridgeUserTombstone, bridgeWantedEmail } from '../../drizzle/schema/bridge.js'
import type { EmailMatches, LinkResult, LinkStore, LinkTrigger, LockedState, NewContact, UserState } from '../domain/link-user.js'
import type { SiteSettings } from '../domain/contact.js'
import { IN_TRANSACTION, oneRowInTransaction, type PreparedQuery, type Statement, type Tx, type Unit } from './db.js'
import { INSERT_AUDIT } from './event-store.js'
import { UF_NAME_HOLDER, exactEmail, findHolderAndCandidates, holderAndCandidatesOfText, holderAndCandidatesRead } from './candidates.js'

/**
 * n CiviCRM contact hashes (32 hex characters each) from one read of random bytes (one read per
 * contact cost the sync ~0.1 s per 40,000 contacts).
 */
export function newContactHashes (n: number): string[] {
  const hex = randomBytes(16 * n).toString('hex')
  return Array.from({ length: n }, (_, i) => hex.slice(32 * i, 32 * (i + 1)))
}

type RawQuery = Pick<Unit, 'query'>

/**
 * A link (civicrm_uf_match row) as an event writes it, [domain_id, uf_id, uf_name, contact_id]
 * (ONE_LINK_ROW; the sync's many: INSERT_LINKS in sync-store.ts).
 */
const INSERT_LINK = 'INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES'

/** A link's uf_name becomes the user's new email: [uf_name, link id]. */
export const UPDATE_LINK_NAME = 'UPDATE civicrm_uf_match SET uf_name = ? WHERE id = ?'

/**
 * A user's waiting email change, [domain_id, uf_id, email, created_at], from `rows`: one row
 * (`VALUES (?, ?, ?, ?)`, prepared), many (`VALUES ?`), or a SELECT of those four columns.
 * created_at is kept while the email stays byte for byte the same, set again when it changes
 * (compared first: the row's email is replaced after).
 */
export const upsertWantedEmails = (rows: string) =>
  `INSERT INTO civibridge_wanted_email (domain_id, uf_id, email, created_at) ${rows}
  ON DUPLICATE KEY UPDATE created_at = IF(CAST(email AS BINARY) = CAST(VALUES(email) AS BINARY), created_at, VALUES(created_at)),
    email = VALUES(email)`

/** The users' waiting email changes are gone: [domain_id, uf_ids] (one id, prepared, or a list). */
export const DELETE_WANTED_EMAILS = 'DELETE FROM civibridge_wanted_email WHERE domain_id = ? AND uf_id IN (?)'

/**
 * A civicrm_log row as CRM_Core_BAO_Log::register writes it: about contact `contactId`, `data`
 * naming the row changed, by `actorId`, at the site's local time.
 */
export interface LogRow { contactId: number, data: string, actorId: number, at: string }

/** A civicrm_log row, [entity_table, entity_id, data, modified_id, modified_date]: one row (`(?, ?, ?, ?, ?)`, prepared) or many (`?`). */
const INSERT_LOG = 'INSERT INTO civicrm_log (entity_table, entity_id, data, modified_id, modified_date) VALUES'
const logRow = (r: LogRow) => ['civicrm_contact', r.contactId, r.data, r.actorId, r.at]

export async function insertLogRows (unit: RawQuery, rows: LogRow[]): Promise<void> {
  if (rows.length === 0) return
  await unit.query(`${INSERT_LOG} ?`, [rows.map(logRow)])
}

const UPDATE_PRIMARY_EMAIL = 'UPDATE civicrm_email SET email = ?, id = LAST_INSERT_ID(id) WHERE contact_id = ? AND is_primary = 1'

/**
 * The contact's primary email becomes `email`; a contact without one gets a primary email on
 * the site's default location type. Returns the email row's id (LAST_INSERT_ID(id) hands the
 * updated row's id back in the same round trip).
 */
export async function setPrimaryEmail (unit: RawQuery, contactId: number, email: string, site: SiteSettings): Promise<number> {
  const res = await unit.query(UPDATE_PRIMARY_EMAIL, [email, contactId]) as { affectedRows: number, insertId: number }
  if (res.affectedRows > 0) return res.insertId
  const added = await unit.query(`${INSERT_EMAIL} (?, ?, ?, 1)`, [contactId, site.locationTypeId, email]) as { insertId: number }
  return added.insertId
}

/**
 * Inserts contacts, with everything Contact::create gives a new Individual (language,
 * communication style, greetings and their display texts): the same statement whatever the
 * number of contacts (the sync writes hundreds at once; Drizzle's builder cost more than the
 * statements). Answers their ids and the statements of their primary emails (on the site's
 * default location type) and civicrm_log rows, for the caller to send in one batch with its
 * own statements that need the ids (runBatch).
 */
export async function insertContacts (
  unit: RawQuery, contacts: NewContact[], source: string, now: Date, site: SiteSettings
): Promise<{ ids: number[], rows: Statement[] }> {
  if (contacts.length === 0) return { ids: [], rows: [] }
  const hashes = newContactHashes(contacts.length)
  // The lock mode is asked in the insert's query: one round trip for both.
  const [res, mode] = await unit.query(`${INSERT_CONTACT} ?; ${AUTOINC_MODE}`,
    [contacts.map((c, i) => contactRow(c, hashes[i], source))]) as [{ insertId: number }, AutoincMode[]]
  // (One contact alone is an event's: insertIndividual.)
  const ids = await insertedIds(unit, res.insertId, hashes, mode[0])
  return {
    ids,
    rows: [
      [INSERT_PRIMARY_EMAILS, [site.locationTypeId, JSON.stringify(contacts.map((c, i) => [ids[i], c.email]))]],
      [INSERT_CONTACT_LOGS, [site.localTime(now), JSON.stringify(ids)]],
    ],
  }
}

// The rows of new contacts, from JSON arrays (a few bytes a row to build, send and parse instead
// of a value list), each a no-op outside its transaction (they follow the contacts in a batch).
/** Their primary emails: [location type, JSON of [contact_id, email]]. */
const INSERT_PRIMARY_EMAILS = `INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary)
  SELECT j.contact_id, ?, j.email, 1 FROM JSON_TABLE(?, '$[*]' COLUMNS (contact_id INT UNSIGNED PATH '$[0]',
    email VARCHAR(255) CHARACTER SET utf8mb4 PATH '$[1]')) j WHERE ${IN_TRANSACTION}`
/** Their civicrm_log rows (about themselves, by themselves): [local time, JSON of ids]. */
const INSERT_CONTACT_LOGS = `INSERT INTO civicrm_log (entity_table, entity_id, data, modified_id, modified_date)
  SELECT 'civicrm_contact', j.id, CONCAT('civicrm_contact,', j.id), j.id, ? FROM JSON_TABLE(?, '$[*]' COLUMNS (id INT UNSIGNED PATH '$')) j
  WHERE ${IN_TRANSACTION}`

/**
 * insertContacts for one contact (an event's): the contact by a prepared statement (parsed once
 * per connection), its primary email and civicrm_log row queued for the unit's next round trip.
 */
export async function insertIndividual (
  unit: Pick<Unit, 'prepared' | 'later'>, contact: NewContact, source: string, now: Date, site: SiteSettings
): Promise<number> {
  const [hash] = newContactHashes(1)
  const placeholders = Array(CONTACT_COLUMNS).fill('?').join(', ')
  const inserted = await unit.prepared(`${INSERT_CONTACT} (${placeholders})`, contactRow(contact, hash, source)) as { insertId: number }
  const id = inserted.insertId
  unit.later([ONE_EMAIL_ROW, [id, site.locationTypeId, contact.email, 1]])
  unit.later([ONE_LOG_ROW, logRow({ contactId: id, data: `civicrm_contact,${id}`, actorId: id, at: site.localTime(now) })])
  return id
}

/** A new Individual as Contact::create writes it: one row (`(?, …)`, CONTACT_COLUMNS of them, prepared) or many (`?`). */
const INSERT_CONTACT = `INSERT INTO civicrm_contact (contact_type, first_name, middle_name, last_name, display_name, sort_name, hash,
       source, preferred_language, communication_style_id,
       email_greeting_id, email_greeting_display, postal_greeting_id, postal_greeting_display, addressee_id, addressee_display) VALUES`
const CONTACT_COLUMNS = 16
const contactRow = (c: NewContact, hash: string, source: string) => [
  'Individual', c.firstName, c.middleName, c.lastName, c.displayName, c.sortName, hash, source, c.preferredLanguage, c.communicationStyleId,
  c.emailGreetingId, c.emailGreetingDisplay, c.postalGreetingId, c.postalGreetingDisplay, c.addresseeId, c.addresseeDisplay,
]
/** A contact's email row, [contact_id, location_type_id, email, is_primary]. */
const INSERT_EMAIL = 'INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) VALUES'
// An event's email, log and link rows: each may follow another statement in one query.
const ONE_EMAIL_ROW = oneRowInTransaction(INSERT_EMAIL, 4)
const ONE_LOG_ROW = oneRowInTransaction(INSERT_LOG, 5)
const ONE_LINK_ROW = oneRowInTransaction(INSERT_LINK, 4)
const ONE_AUDIT_ROW = oneRowInTransaction(INSERT_AUDIT, 7)

/**
 * The ids of a multi-row insert: consecutive from LAST_INSERT_ID() (stepping by
 * auto_increment_increment) unless InnoDB interleaves them (lock mode 2, as on Galera); then
 * read back by their random hashes (civicrm_contact has an index on hash).
 */
const AUTOINC_MODE = 'SELECT @@innodb_autoinc_lock_mode AS lockMode, @@auto_increment_increment AS step'
interface AutoincMode { lockMode: number, step: number }

async function insertedIds (unit: RawQuery, firstId: number, hashes: string[], mode: AutoincMode): Promise<number[]> {
  if (Number(mode.lockMode) !== 2) return hashes.map((_, i) => firstId + i * Number(mode.step))
  const rows = await unit.query('SELECT id, hash FROM civicrm_contact WHERE hash IN (?)', [hashes]) as Array<{ id: number, hash: string }>
  const byHash = new Map(rows.map((r) => [r.hash, r.id]))
  // Every hash was inserted by this transaction, which reads its own writes.
  return hashes.map((h) => byHash.get(h)!)
}

/**
 * The event context of many users at once: one row per [uf_id, jti] pair of the JSON array
 * parameter, in its order (column i). One statement whatever the number of pairs, so it is
 * prepared once per connection. No temporary table, which cost MariaDB more CPU than all the
 * rest of a login: JSON_TABLE is read row by row, the domain row comes from its primary key
 * (no row at all when the domain is gone), and the link (uf_id is not unique in
 * civicrm_uf_match: the user's link is the one with the lowest id) by MIN(id) in a subquery
 * (ORDER BY id LIMIT 1 sorted the join in a table on disk, because of the JSON result column).
 * The jti and site columns have the event table's binary collation: its primary key (site,
 * jti) is used, and both compare exactly.
 */
const EVENT_CONTEXTS = `SELECT k.i, m.id, m.uf_name, m.contact_id, t.deleted_at, w.email, e.body_sha256, e.result
FROM civicrm_domain d
JOIN JSON_TABLE(?, '$[*]' COLUMNS (i FOR ORDINALITY, uf_id INT UNSIGNED PATH '$[0]',
  jti VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin PATH '$[1]',
  site VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin PATH '$[2]')) AS k
LEFT JOIN civicrm_uf_match m ON m.id = (SELECT MIN(f.id) FROM civicrm_uf_match f WHERE f.uf_id = k.uf_id AND f.domain_id = d.id)
LEFT JOIN civibridge_user_tombstone t ON t.domain_id = d.id AND t.uf_id = k.uf_id
LEFT JOIN civibridge_wanted_email w FORCE INDEX (PRIMARY) ON w.domain_id = d.id AND w.uf_id = k.uf_id
LEFT JOIN civibridge_event e ON e.site = k.site AND e.jti = k.jti
WHERE d.id = ?`

// mysql2 hands a JSON column over parsed in the binary protocol (MariaDB marks it as JSON).
type ContextRow = [number, number | null, string | null, number | null, Date | null, string | null, string | null, LinkResult | null]
/** A row of EVENT_CONTEXTS by the text protocol (columns by name), without the earlier delivery's. */
interface TextContextRow {
  i: number, id: number | null, uf_name: string | null, contact_id: number | null, deleted_at: Date | null, email: string | null
}

export type EventContext = UserState & { prior: { bodySha256: string, result: LinkResult } | undefined }

type ContextKeys = ReadonlyArray<{ ufId: number, jti: string, site: string }>

/** The read of readEventContexts, as a statement to send with others (SqlLinkStore.lockAndRead). */
const eventContextsRead = (domainId: number, keys: ContextKeys): [string, [string, number]] =>
  [EVENT_CONTEXTS, [JSON.stringify(keys.map((k) => [k.ufId, k.jti, k.site])), domainId]]

/** The contexts of `n` keys from EVENT_CONTEXTS' rows. */
function eventContextsOf (rows: ContextRow[], n: number, domainId: number): EventContext[] {
  // The start-up check saw the domain; it can only have been deleted since.
  if (rows.length === 0) throw new Error(`CiviCRM domain ${domainId} does not exist`)
  const contexts: EventContext[] = new Array(n)
  for (const [i, linkId, ufName, contactId, deletedAt, wantedEmail, priorHash, priorResult] of rows) {
    contexts[i - 1] = {
      link: linkId === null ? null : { id: linkId, ufName, contactId },
      deletedAt,
      wantedEmail,
      prior: priorHash === null ? undefined : { bodySha256: priorHash, result: priorResult! },
    }
  }
  return contexts
}

/**
 * The hot path of every event: the users' state (link, last delete, waiting email change) and
 * an earlier delivery of each jti ('' for none), in one round trip for all the pairs. A
 * server-side prepared statement: MariaDB parses it once per connection, not once per event.
 */
export async function readEventContexts (run: PreparedQuery, domainId: number, keys: ContextKeys): Promise<EventContext[]> {
  return eventContextsOf(await run(...eventContextsRead(domainId, keys)) as ContextRow[], keys.length, domainId)
}

/** readEventContexts for one user. */
export async function readEventContext (run: PreparedQuery, domainId: number, ufId: number, jti: string, site = ''): Promise<EventContext> {
  return (await readEventContexts(run, domainId, [{ ufId, jti, site }]))[0]
}

export class SqlLinkStore implements LinkStore {
  private readonly tx: Tx
  /**
   * `known`: the user's state as read just before this unit of work began, which serves the
   * first userState() (linkUser's lock-free look; everything it decides on is read again under
   * the locks).
   */
  constructor (
    private readonly unit: Unit,
    private readonly domainId: number,
    private readonly site: SiteSettings,
    private readonly source = 'Joomla user',
    private known: UserState | null = null
  ) {
    this.tx = unit.tx
  }

  /** Read by the caller before the unit took its connection: a read inside would wait for a second one. */
  async siteSettings (): Promise<SiteSettings> {
    return this.site
  }

  /**
   * The lock rows and the reads under them in one query (text protocol: rows as objects, the
   * columns of EVENT_CONTEXTS). No jti is asked, so no earlier delivery comes back.
   */
  async lockAndRead (keys: string[], ufId: number, email?: string): Promise<LockedState> {
    this.known = null
    const reads: Statement[] = [eventContextsRead(this.domainId, [{ ufId, jti: '', site: '' }])]
    if (email !== undefined) reads.push(holderAndCandidatesRead(this.domainId, email))
    const [rows, matches] = await this.unit.lock(keys, reads) as [TextContextRow[], Parameters<typeof holderAndCandidatesOfText>[0]?]
    const asColumns = rows.map((r): ContextRow => [r.i, r.id, r.uf_name, r.contact_id, r.deleted_at, r.email, null, null])
    return { ...eventContextsOf(asColumns, 1, this.domainId)[0], matches: matches ? holderAndCandidatesOfText(matches) : null }
  }

  async userState (ufId: number): Promise<UserState> {
    const known = this.known
    this.known = null
    return known ?? readEventContext(this.unit.prepared, this.domainId, ufId, '')
  }

  async findHolderAndCandidates (email: string): Promise<EmailMatches> {
    return findHolderAndCandidates(this.unit.prepared, this.domainId, email)
  }

  async findUserByUfName (email: string): Promise<number | null> {
    const rows = await this.unit.prepared(UF_NAME_HOLDER, [email, this.domainId]) as Array<[number]>
    return rows[0]?.[0] ?? null
  }

  /**
   * Queued: it goes with the unit's next statement or its COMMIT (an event's: the event record's).
   * A uf_name another user took meanwhile stops the unit there with a duplicate key, which
   * re-runs it (recordEvent tells it from a jti delivered twice).
   */
  async insertLink (ufId: number, email: string, contactId: number): Promise<void> {
    this.unit.later([ONE_LINK_ROW, [this.domainId, ufId, email, contactId]])
  }

  async updateLinkEmail (linkId: number, email: string): Promise<void> {
    await this.unit.prepared(UPDATE_LINK_NAME, [email, linkId])
  }

  async setWantedEmail (ufId: number, email: string | null): Promise<void> {
    if (email === null) await this.unit.prepared(DELETE_WANTED_EMAILS, [this.domainId, ufId])
    else await this.unit.prepared(upsertWantedEmails('VALUES (?, ?, ?, ?)'), [this.domainId, ufId, email, new Date()])
  }

  async usersWaitingFor (email: string): Promise<number[]> {
    const rows = await this.tx.select({ ufId: bridgeWantedEmail.ufId }).from(bridgeWantedEmail)
      .where(and(
        eq(bridgeWantedEmail.domainId, this.domainId), eq(bridgeWantedEmail.email, email), exactEmail(bridgeWantedEmail.email, email)
      ))
      .orderBy(asc(bridgeWantedEmail.createdAt), asc(bridgeWantedEmail.ufId))
    return rows.map((r) => r.ufId)
  }

  async setPrimaryEmail (contactId: number, email: string): Promise<void> {
    const site = this.site
    const emailId = await setPrimaryEmail(this.unit, contactId, email, site)
    await insertLogRows(this.unit, [{ contactId, data: `civicrm_email,${emailId}`, actorId: contactId, at: site.localTime(new Date()) }])
  }

  async createIndividual (contact: NewContact): Promise<number> {
    return insertIndividual(this.unit, contact, this.source, new Date(), this.site)
  }

  async deleteLinks (ufId: number): Promise<number | null> {
    const { link } = await this.userState(ufId)
    if (!link) return null
    await this.tx.delete(civicrmUfMatch).where(and(eq(civicrmUfMatch.ufId, ufId), eq(civicrmUfMatch.domainId, this.domainId)))
    return link.contactId
  }

  async recordDelete (ufId: number, at: Date): Promise<void> {
    await this.tx.insert(bridgeUserTombstone).values({ domainId: this.domainId, ufId, deletedAt: at })
      .onDuplicateKeyUpdate({
        set: { deletedAt: sql`GREATEST(${bridgeUserTombstone.deletedAt}, VALUES(${bridgeUserTombstone.deletedAt}))` },
      })
  }

  /** Queued: it goes with the unit's next statement or its COMMIT. */
  async audit (ufId: number, trigger: LinkTrigger, result: LinkResult): Promise<void> {
    this.unit.later([ONE_AUDIT_ROW, [this.domainId, ufId, trigger, result.action, result.contactId, result.reason, new Date()]])
  }
}
