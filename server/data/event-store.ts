// The bridge's event log: one row per jti, holding the first result (idempotent retries).
import { and, desc, eq } from 'drizzle-orm'
import { bridgeAudit, bridgeEvent } from '../../drizzle/schema/bridge.js'
import { civicrmUfMatch } from '../../drizzle/schema/civicrm.js'
import type { LinkResult } from '../domain/link-user.js'
import type { Db, Tx } from './db.js'

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
 * Claims the jti: true when this call inserted it, false when it was already there (a
 * concurrent claim of the same jti waits here until the first one commits). Without a result
 * yet, a placeholder is stored and saveEventResult fills it in the same transaction.
 */
export async function claimEvent (tx: Tx, rec: EventRecord, result: LinkResult = { action: 'pending' as LinkResult['action'], contactId: null, reason: null }): Promise<boolean> {
  const [res] = await tx.insert(bridgeEvent).ignore().values({ ...rec, receivedAt: new Date(), result }) as unknown as [Header]
  return res.affectedRows === 1
}

export async function findEvent (tx: Tx, jti: string): Promise<{ bodySha256: string, result: LinkResult } | undefined> {
  const rows = await tx.select({ bodySha256: bridgeEvent.bodySha256, result: bridgeEvent.result }).from(bridgeEvent).where(eq(bridgeEvent.jti, jti))
  return rows[0] as { bodySha256: string, result: LinkResult } | undefined
}

export async function saveEventResult (tx: Tx, jti: string, result: LinkResult): Promise<void> {
  await tx.update(bridgeEvent).set({ result }).where(eq(bridgeEvent.jti, jti))
}

/** What admins see for one user: the current link and the latest decisions. */
export async function userLinkReport (db: Db, domainId: number, ufId: number, limit = 50) {
  const links = await db.select({ contactId: civicrmUfMatch.contactId, ufName: civicrmUfMatch.ufName })
    .from(civicrmUfMatch).where(and(eq(civicrmUfMatch.ufId, ufId), eq(civicrmUfMatch.domainId, domainId))).limit(1)
  const audit = await db.select({
    trigger: bridgeAudit.trigger, action: bridgeAudit.action, contactId: bridgeAudit.contactId, reason: bridgeAudit.reason, at: bridgeAudit.createdAt,
  }).from(bridgeAudit).where(and(eq(bridgeAudit.domainId, domainId), eq(bridgeAudit.ufId, ufId))).orderBy(desc(bridgeAudit.createdAt), desc(bridgeAudit.id)).limit(limit)
  return { userId: ufId, link: links[0] ?? null, audit: audit.map((a) => ({ ...a, at: a.at.toISOString() })) }
}
