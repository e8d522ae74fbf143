// SQL of "Edit my details": single-use assertions and profile reads/updates on CiviCRM's
// contact tables. No financial table is read or written here (nor anywhere in the bridge).
import { and, asc, desc, eq, sql } from 'drizzle-orm'
import { civicrmContact, civicrmEmail, civicrmUfGroup, civicrmUfMatch } from '../../drizzle/schema/civicrm.js'
import { bridgeUsedToken } from '../../drizzle/schema/bridge.js'
import type { Db, Tx } from './db.js'
import type { ContactNames, GreetingDisplays, GreetingType } from '../domain/contact.js'

type Header = { affectedRows: number, insertId: number }
// mysql2 answers a write with [ResultSetHeader, fields].
const header = (res: unknown): Header => (res as [Header])[0]

/** Records a single-use token; false when its jti was used before (a concurrent use waits for the first to commit). */
export async function claimToken (tx: Tx, site: string, jti: string, purpose: string, at: Date): Promise<boolean> {
  const res = header(await tx.insert(bridgeUsedToken).ignore().values({ site, jti, purpose, usedAt: at }))
  return res.affectedRows === 1
}

/** The site's single-use token was spent already. */
export async function tokenUsed (db: Tx | Db, site: string, jti: string): Promise<boolean> {
  const rows = await db.select({ jti: bridgeUsedToken.jti }).from(bridgeUsedToken)
    .where(and(eq(bridgeUsedToken.site, site), eq(bridgeUsedToken.jti, jti)))
  return rows.length === 1
}

/** The contact a user is linked to in the domain (lowest link id), or null. */
export async function linkedContactId (tx: Tx | Db, domainId: number, ufId: number): Promise<number | null> {
  const rows = await tx.select({ contactId: civicrmUfMatch.contactId }).from(civicrmUfMatch)
    .where(and(eq(civicrmUfMatch.ufId, ufId), eq(civicrmUfMatch.domainId, domainId))).orderBy(asc(civicrmUfMatch.id)).limit(1)
  return rows[0]?.contactId ?? null
}

export async function ufGroup (db: Tx | Db, id: number): Promise<{ id: number, title: string, isActive: number } | undefined> {
  const rows = await db.select({ id: civicrmUfGroup.id, title: civicrmUfGroup.title, isActive: civicrmUfGroup.isActive })
    .from(civicrmUfGroup).where(eq(civicrmUfGroup.id, id))
  return rows[0]
}

export interface ContactProfile {
  id: number
  firstName: string | null
  middleName: string | null
  lastName: string | null
  displayName: string | null
  email: string | null
  prefixId: number | null
  suffixId: number | null
  formalTitle: string | null
  nickName: string | null
  /** The contact's greetings: their option values and custom texts (a custom text is kept as it is). */
  greetingIds: Record<GreetingType, number | null>
  greetingCustom: Record<GreetingType, string | null>
}

/** A contact's names, greetings and primary email (or its first email when none is primary). */
export async function contactProfile (db: Tx | Db, contactId: number): Promise<ContactProfile | undefined> {
  const c = civicrmContact
  const rows = await db.select({
    id: c.id,
    firstName: c.firstName,
    middleName: c.middleName,
    lastName: c.lastName,
    displayName: c.displayName,
    email: civicrmEmail.email,
    prefixId: c.prefixId,
    suffixId: c.suffixId,
    formalTitle: c.formalTitle,
    nickName: c.nickName,
    emailGreetingId: c.emailGreetingId,
    emailGreetingCustom: c.emailGreetingCustom,
    postalGreetingId: c.postalGreetingId,
    postalGreetingCustom: c.postalGreetingCustom,
    addresseeId: c.addresseeId,
    addresseeCustom: c.addresseeCustom,
  }).from(c)
    .leftJoin(civicrmEmail, eq(civicrmEmail.contactId, c.id))
    .where(eq(c.id, contactId))
    .orderBy(desc(sql`COALESCE(${civicrmEmail.isPrimary}, 0)`), asc(civicrmEmail.id)).limit(1)
  return rows.map((r) => ({
    id: r.id,
    firstName: r.firstName,
    middleName: r.middleName,
    lastName: r.lastName,
    displayName: r.displayName,
    email: r.email,
    prefixId: r.prefixId,
    suffixId: r.suffixId,
    formalTitle: r.formalTitle,
    nickName: r.nickName,
    greetingIds: { email_greeting: r.emailGreetingId, postal_greeting: r.postalGreetingId, addressee: r.addresseeId },
    greetingCustom: { email_greeting: r.emailGreetingCustom, postal_greeting: r.postalGreetingCustom, addressee: r.addresseeCustom },
  }))[0]
}

/** The profile's fields and what CiviCRM derives from them on save (names, greeting texts). */
export async function updateContactNames (tx: Tx, contactId: number, n: ContactNames & GreetingDisplays): Promise<void> {
  await tx.update(civicrmContact).set({
    firstName: n.firstName,
    lastName: n.lastName,
    displayName: n.displayName,
    sortName: n.sortName,
    emailGreetingDisplay: n.emailGreetingDisplay,
    postalGreetingDisplay: n.postalGreetingDisplay,
    addresseeDisplay: n.addresseeDisplay,
  }).where(eq(civicrmContact.id, contactId))
}
