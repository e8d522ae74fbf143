// SQL of the lazy-linking transactions: single-use assertions, the anonymous contact lookup,
// contributions, memberships and profile reads/updates on CiviCRM's tables.
import { and, asc, desc, eq, sql } from 'drizzle-orm'
import {
  civicrmContact, civicrmContribution, civicrmEmail, civicrmFinancialType, civicrmMembership, civicrmMembershipStatus,
  civicrmMembershipType, civicrmUfGroup, civicrmUfMatch,
} from '../../drizzle/schema/civicrm.js'
import { bridgeUsedToken } from '../../drizzle/schema/bridge.js'
import { emailMatches } from './link-store.js'
import type { Db, Tx } from './db.js'

type Header = { affectedRows: number, insertId: number }
// mysql2 answers a write with [ResultSetHeader, fields].
const header = (res: unknown): Header => (res as [Header])[0]

/** Records a single-use token; false when its jti was used before (a concurrent use waits for the first to commit). */
export async function claimToken (tx: Tx, jti: string, purpose: string, at: Date): Promise<boolean> {
  const res = header(await tx.insert(bridgeUsedToken).ignore().values({ jti, purpose, usedAt: at }))
  return res.affectedRows === 1
}

/** CiviCRM's unsupervised match: a non-deleted Individual with this email on any email row; primary first, lowest id. */
export async function findIndividualByEmail (tx: Tx | Db, email: string): Promise<number | null> {
  const rows = await tx.select({ id: civicrmContact.id }).from(civicrmEmail)
    .innerJoin(civicrmContact, and(eq(civicrmContact.id, civicrmEmail.contactId), eq(civicrmContact.contactType, 'Individual'), eq(civicrmContact.isDeleted, 0)))
    .where(emailMatches(email))
    .orderBy(desc(civicrmEmail.isPrimary), asc(civicrmContact.id)).limit(1)
  return rows[0]?.id ?? null
}

/** The contact a user is linked to in the domain (lowest link id), or null. */
export async function linkedContactId (tx: Tx | Db, domainId: number, ufId: number): Promise<number | null> {
  const rows = await tx.select({ contactId: civicrmUfMatch.contactId }).from(civicrmUfMatch)
    .where(and(eq(civicrmUfMatch.ufId, ufId), eq(civicrmUfMatch.domainId, domainId))).orderBy(asc(civicrmUfMatch.id)).limit(1)
  return rows[0]?.contactId ?? null
}

export async function financialType (db: Tx | Db, id: number): Promise<{ id: number, name: string, isActive: number } | undefined> {
  const rows = await db.select({ id: civicrmFinancialType.id, name: civicrmFinancialType.name, isActive: civicrmFinancialType.isActive })
    .from(civicrmFinancialType).where(eq(civicrmFinancialType.id, id))
  return rows[0]
}

export interface MembershipTypeRow {
  id: number
  name: string
  financialTypeId: number
  minimumFee: string | null
  durationUnit: string
  durationInterval: number | null
  periodType: string
  isActive: number
}

export async function membershipType (db: Tx | Db, domainId: number, id: number): Promise<MembershipTypeRow | undefined> {
  const rows = await db.select({
    id: civicrmMembershipType.id,
    name: civicrmMembershipType.name,
    financialTypeId: civicrmMembershipType.financialTypeId,
    minimumFee: civicrmMembershipType.minimumFee,
    durationUnit: civicrmMembershipType.durationUnit,
    durationInterval: civicrmMembershipType.durationInterval,
    periodType: civicrmMembershipType.periodType,
    isActive: civicrmMembershipType.isActive,
  }).from(civicrmMembershipType).where(and(eq(civicrmMembershipType.id, id), eq(civicrmMembershipType.domainId, domainId)))
  return rows[0]
}

export async function membershipStatusId (tx: Tx, name: string): Promise<number | null> {
  const rows = await tx.select({ id: civicrmMembershipStatus.id }).from(civicrmMembershipStatus)
    .where(and(eq(civicrmMembershipStatus.name, name), eq(civicrmMembershipStatus.isActive, 1))).orderBy(asc(civicrmMembershipStatus.id)).limit(1)
  return rows[0]?.id ?? null
}

export async function ufGroup (db: Tx | Db, id: number): Promise<{ id: number, title: string, isActive: number } | undefined> {
  const rows = await db.select({ id: civicrmUfGroup.id, title: civicrmUfGroup.title, isActive: civicrmUfGroup.isActive })
    .from(civicrmUfGroup).where(eq(civicrmUfGroup.id, id))
  return rows[0]
}

export interface NewContribution {
  contactId: number
  financialTypeId: number
  amount: string
  currency: string
  source: string | null
  statusId: number
  invoiceId: string
  receiveDate: Date
}

export async function insertContribution (tx: Tx, c: NewContribution): Promise<number> {
  const res = header(await tx.insert(civicrmContribution).values({
    contactId: c.contactId,
    financialTypeId: c.financialTypeId,
    receiveDate: c.receiveDate,
    totalAmount: c.amount,
    invoiceId: c.invoiceId,
    currency: c.currency,
    source: c.source,
    isTest: 0,
    isPayLater: 0,
    contributionStatusId: c.statusId,
  }))
  return res.insertId
}

export interface NewMembership {
  contactId: number
  membershipTypeId: number
  statusId: number
  joinDate: string
  startDate: string
  endDate: string | null
  source: string | null
}

export async function insertMembership (tx: Tx, m: NewMembership): Promise<number> {
  const res = header(await tx.insert(civicrmMembership).values({ ...m, isTest: 0, isPayLater: 0 }))
  return res.insertId
}

export interface ContactProfile {
  id: number
  firstName: string | null
  lastName: string | null
  displayName: string | null
  email: string | null
}

/** A contact's names and primary email (or its first email when none is primary). */
export async function contactProfile (db: Tx | Db, contactId: number): Promise<ContactProfile | undefined> {
  const rows = await db.select({
    id: civicrmContact.id, firstName: civicrmContact.firstName, lastName: civicrmContact.lastName, displayName: civicrmContact.displayName, email: civicrmEmail.email,
  }).from(civicrmContact)
    .leftJoin(civicrmEmail, eq(civicrmEmail.contactId, civicrmContact.id))
    .where(eq(civicrmContact.id, contactId))
    .orderBy(desc(sql`COALESCE(${civicrmEmail.isPrimary}, 0)`), asc(civicrmEmail.id)).limit(1)
  return rows[0]
}

export async function updateContactNames (tx: Tx, contactId: number, n: { firstName: string | null, lastName: string | null, displayName: string, sortName: string }): Promise<void> {
  await tx.update(civicrmContact).set({ firstName: n.firstName, lastName: n.lastName, displayName: n.displayName, sortName: n.sortName })
    .where(eq(civicrmContact.id, contactId))
}
