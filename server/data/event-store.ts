// The bridge's event log: one row per site and jti, holding the first result (idempotent retries).
import { and, asc, desc, eq } from 'drizzle-orm'
import { bridgeAudit, bridgeEvent, bridgeUsedToken } from '../../drizzle/schema/bridge.js'
import { civicrmUfMatch } from '../../drizzle/schema/civicrm.js'
import type { LinkResult } from '../domain/link-user.js'
import { getTableConfig } from 'drizzle-orm/mysql-core'
import { errorCode } from '../errors.js'
import { IN_TRANSACTION, oneRowInTransaction, type Database, type Db, type Unit } from './db.js'

const EVENT_TABLE = getTableConfig(bridgeEvent).name
const AUDIT_TABLE = getTableConfig(bridgeAudit).name
const USED_TOKEN_TABLE = getTableConfig(bridgeUsedToken).name

// The column lists of an event row and an audit row, for one row (`(?, ...)`) or many (`?`).
const EVENT_COLUMNS = '(jti, site, body_sha256, event, uf_id, occurred_at, received_at, result)'
/** Event rows written behind (a jti already there is left as it is). */
export const INSERT_EVENT = `INSERT IGNORE INTO ${EVENT_TABLE} ${EVENT_COLUMNS} VALUES`
/**
 * An event row recorded by its unit of work: a jti already there is an error (ER_DUP_ENTRY),
 * which keeps the unit from committing. It follows the unit's queued writes in one query (Unit.later).
 */
const RECORD_EVENT = oneRowInTransaction(`INSERT INTO ${EVENT_TABLE} ${EVENT_COLUMNS} VALUES`, 8)
export const INSERT_AUDIT = `INSERT INTO ${AUDIT_TABLE} (domain_id, uf_id, \`trigger\`, action, contact_id, reason, created_at) VALUES`
/**
 * Many audit rows (the events' written behind), from one JSON array of auditRowJson's: fewer
 * bytes to build, send and parse than seven values a row. A no-op outside
 * its transaction: it follows other statements in one query, and on Galera the rest of a query
 * goes on in autocommit once the transaction is aborted (runBatch).
 */
export const INSERT_AUDIT_JSON = `INSERT INTO ${AUDIT_TABLE} (domain_id, uf_id, \`trigger\`, action, contact_id, reason, created_at)
  SELECT j.domain_id, j.uf_id, j.trg, j.action, j.contact_id, j.reason, j.at FROM JSON_TABLE(?, '$[*]' COLUMNS (
    domain_id INT UNSIGNED PATH '$[0]', uf_id INT UNSIGNED PATH '$[1]', trg VARCHAR(32) PATH '$[2]', action VARCHAR(32) PATH '$[3]',
    contact_id INT UNSIGNED PATH '$[4]', reason VARCHAR(255) CHARACTER SET utf8mb4 PATH '$[5]', at DATETIME(3) PATH '$[6]')) j
  WHERE ${IN_TRANSACTION}`

/** An audit row for INSERT_AUDIT_JSON; its time as UTC text (the session's time zone is UTC). */
export const auditRowJson = (
  domainId: number, ufId: number | null, trigger: string, action: string, contactId: number | null, reason: string | null, at: Date
) => [domainId, ufId, trigger, action, contactId, reason, at.toISOString().slice(0, 23).replace('T', ' ')]

/**
 * Many audit rows of one domain, trigger and time (a sync chunk's), from one JSON array of
 * [uf_id, action, contact_id, reason]: [domain, trigger, time, JSON]; a no-op outside its
 * transaction, as INSERT_AUDIT_JSON. Not INSERT_AUDIT_JSON itself: with the domain, trigger and
 * time in every row (a DATETIME read from each one) the sync took 1.19 × as long (1.05–1.21,
 * alternating, 5 repetitions).
 */
export const INSERT_SYNC_AUDIT = `INSERT INTO ${AUDIT_TABLE} (domain_id, uf_id, \`trigger\`, action, contact_id, reason, created_at)
  SELECT ?, j.uf_id, ?, j.action, j.contact_id, j.reason, ? FROM JSON_TABLE(?, '$[*]' COLUMNS (uf_id INT UNSIGNED PATH '$[0]',
    action VARCHAR(32) PATH '$[1]', contact_id INT UNSIGNED PATH '$[2]', reason VARCHAR(255) CHARACTER SET utf8mb4 PATH '$[3]')) j
  WHERE ${IN_TRANSACTION}`

export interface EventRecord {
  jti: string
  site: string
  bodySha256: string
  event: string
  ufId: number | null
  occurredAt: Date
}

type Header = { affectedRows: number }

/**
 * Records the event with its result, as the last statement of its unit of work, sent with the
 * unit's COMMIT (and the writes queued before it): true when this call inserted the site's jti,
 * false when another delivery of it already has (a delivery in flight holds the row: this waits
 * until it commits). On false the duplicate key stopped the statement before COMMIT: the caller
 * rolls its unit back and answers the first result, so a jti changes CiviCRM once.
 */
export async function recordEvent (unit: Pick<Unit, 'commitWith' | 'prepared'>, rec: EventRecord, result: LinkResult): Promise<boolean> {
  try {
    await unit.commitWith(RECORD_EVENT,
      [rec.jti, rec.site, rec.bodySha256, rec.event, rec.ufId, rec.occurredAt, new Date(), JSON.stringify(result)])
    return true
  } catch (err) {
    // The duplicate may be a queued write's (a link whose uf_name another user took meanwhile:
    // the unit is re-run), not the jti's: the unit is still open, and the jti's row is committed
    // by the time its duplicate is reported.
    if (errorCode(err) === 'ER_DUP_ENTRY' && (await unit.prepared(EVENT_EXISTS, [rec.site, rec.jti]) as unknown[]).length > 0) return false
    throw err
  }
}

const EVENT_EXISTS = `SELECT 1 FROM ${EVENT_TABLE} WHERE site = ? AND jti = ?`

export async function findEvent (
  tx: Pick<Db, 'select'>, site: string, jti: string
): Promise<{ bodySha256: string, result: LinkResult } | undefined> {
  const rows = await tx.select({ bodySha256: bridgeEvent.bodySha256, result: bridgeEvent.result }).from(bridgeEvent)
    .where(and(eq(bridgeEvent.site, site), eq(bridgeEvent.jti, jti)))
  return rows[0] as { bodySha256: string, result: LinkResult } | undefined
}

/** What admins see for one user: the current link and the latest decisions. */
export async function userLinkReport (db: Db, domainId: number, ufId: number, limit = 50) {
  const links = await db.select({ contactId: civicrmUfMatch.contactId, ufName: civicrmUfMatch.ufName })
    .from(civicrmUfMatch).where(and(eq(civicrmUfMatch.ufId, ufId), eq(civicrmUfMatch.domainId, domainId)))
    .orderBy(asc(civicrmUfMatch.id)).limit(1)
  const audit = await db.select({
    trigger: bridgeAudit.trigger,
    action: bridgeAudit.action,
    contactId: bridgeAudit.contactId,
    reason: bridgeAudit.reason,
    at: bridgeAudit.createdAt,
  }).from(bridgeAudit).where(and(eq(bridgeAudit.domainId, domainId), eq(bridgeAudit.ufId, ufId)))
    .orderBy(desc(bridgeAudit.createdAt), desc(bridgeAudit.id)).limit(limit)
  return { userId: ufId, link: links[0] ?? null, audit: audit.map((a) => ({ ...a, at: a.at.toISOString() })) }
}

/**
 * Deletes the event records received before `before`, and the used single-use tokens used
 * before it, in statements of at most `batch` rows (each its own short transaction: no long
 * lock on a table every event writes to). Returns how many of each went.
 */
export async function pruneBefore (
  database: Pick<Database, 'pool'>, before: Date, batch = 10_000
): Promise<{ events: number, tokens: number }> {
  const counts = { events: 0, tokens: 0 }
  const steps = [
    ['events', `DELETE FROM ${EVENT_TABLE} WHERE received_at < ? LIMIT ${batch}`],
    ['tokens', `DELETE FROM ${USED_TOKEN_TABLE} WHERE used_at < ? LIMIT ${batch}`],
  ] as const
  for (const [key, statement] of steps) {
    for (let deleted = batch; deleted === batch;) {
      deleted = ((await database.pool.query(statement, [before]))[0] as unknown as Header).affectedRows
      counts[key] += deleted
    }
  }
  return counts
}
