// Lazy linking on CiviCRM transactions, as CiviCRM does it on Joomla: a logged-in user (a
// signed assertion, or the session it opened) is linked by the core's linkUser when they edit
// their profile, contribute or sign up; an anonymous visitor is matched by email (or a contact
// is created) and never linked. Each call is one unit of work: the single-use assertion, the
// link, any new contact and the contribution or membership commit together or not at all.
import {
  AssertionError, CannotLink, CONTRIBUTION_COMPLETED, InvalidInput, NotFound, assertionUser, membershipDates, membershipFee,
  namesFromParts, newInvoiceId, type Act, type ContributionInput, type MembershipInput, type Person, type ProfileInput,
} from '../domain/transactions.js'
import { linkUser, lockKeys, type LinkAction } from '../domain/link-user.js'
import { SqlLinkStore, insertIndividuals } from '../data/link-store.js'
import {
  claimToken, contactProfile, financialType, findIndividualByEmail, insertContribution, insertMembership, linkedContactId,
  membershipStatusId, membershipType, ufGroup, updateContactNames, type ContactProfile, type MembershipTypeRow,
} from '../data/transaction-store.js'
import type { Database, Unit } from '../data/db.js'

/** Who does the transaction. */
export type Actor =
  | { kind: 'assertion', claims: Record<string, unknown> }
  | { kind: 'session', ufId: number, contactId: number }
  | { kind: 'anonymous' }

/** linkUser's actions for a logged-in user; for an anonymous visitor, whether the contact was found or made. */
export type TransactionAction = LinkAction | 'matched-contact' | 'created-contact'

export interface Resolved { ufId: number | null, contactId: number, action: TransactionAction }

export interface ContributionResult extends Resolved { contributionId: number }
export interface MembershipResult extends Resolved { membershipId: number, contributionId: number | null, endDate: string | null }
export interface ProfileResult extends Resolved { profile: ContactProfile }

export class TransactionService {
  constructor (private readonly database: Database, private readonly domainId: number, private readonly now: () => Date = () => new Date()) {}

  /** The page's first step: verify-and-link only (the assertion is spent), for the session that follows. */
  async link (claims: Record<string, unknown>, act: Act, gid?: number): Promise<Resolved> {
    return this.database.unit(async (unit) => {
      if (gid !== undefined) await this.requireProfile(unit, gid)
      return this.resolve(unit, { kind: 'assertion', claims }, act, null)
    })
  }

  /** An active profile (civicrm_uf_group), or NotFound. */
  async profileGroup (gid: number): Promise<{ id: number, title: string }> {
    const group = await ufGroup(this.database.db, gid)
    if (!group || group.isActive !== 1) throw new NotFound(`no active profile ${gid}`)
    return group
  }

  /** A contribution page's financial type (the page id is the financial type id), or NotFound. */
  async contributionType (id: number): Promise<{ id: number, name: string }> {
    const type = await financialType(this.database.db, id)
    if (!type || type.isActive !== 1) throw new NotFound(`no contribution page ${id}`)
    return type
  }

  /** An active membership type of the domain, or NotFound. */
  async membershipTypeInfo (id: number): Promise<MembershipTypeRow> {
    const type = await membershipType(this.database.db, this.domainId, id)
    if (!type || type.isActive !== 1) throw new NotFound(`no membership type ${id}`)
    return type
  }

  async profile (contactId: number): Promise<ContactProfile | undefined> {
    return contactProfile(this.database.db, contactId)
  }

  /** The linked user's session is still theirs: the link it was opened for still exists. */
  async sessionContact (ufId: number, contactId: number): Promise<boolean> {
    return await linkedContactId(this.database.db, this.domainId, ufId) === contactId
  }

  /** Links (or checks the session of) a logged-in user and saves their profile fields on the linked contact. */
  async saveProfile (actor: Exclude<Actor, { kind: 'anonymous' }>, input: ProfileInput): Promise<ProfileResult> {
    return this.database.unit(async (unit) => {
      await this.requireProfile(unit, input.gid)
      const who = await this.resolve(unit, actor, 'profile', null)
      const current = (await contactProfile(unit.tx, who.contactId))!
      const firstName = input.firstName === undefined ? current.firstName : input.firstName
      const lastName = input.lastName === undefined ? current.lastName : input.lastName
      const email = input.email ?? current.email ?? ''
      await updateContactNames(unit.tx, who.contactId, namesFromParts(firstName, lastName, email))
      // The contact's primary email only: uf_name stays the Joomla account's email, which
      // Joomla owns (the core keeps it in step from the user's own save and login events).
      if (input.email !== null && input.email !== current.email) await new SqlLinkStore(unit, this.domainId).setPrimaryEmail(who.contactId, input.email)
      return { ...who, profile: (await contactProfile(unit.tx, who.contactId))! }
    })
  }

  async contribute (actor: Actor, input: ContributionInput): Promise<ContributionResult> {
    return this.database.unit(async (unit) => {
      const type = await financialType(unit.tx, input.financialTypeId)
      if (!type || type.isActive !== 1) throw new InvalidInput('financial_type_id', 'no such active financial type')
      const who = await this.resolve(unit, actor, 'contribution', input.person)
      const contributionId = await insertContribution(unit.tx, {
        contactId: who.contactId, financialTypeId: type.id, amount: input.amount, currency: input.currency, source: input.source ?? `Online Contribution: ${type.name}`,
        statusId: CONTRIBUTION_COMPLETED, invoiceId: newInvoiceId(), receiveDate: this.now(),
      })
      return { ...who, contributionId }
    })
  }

  async signUp (actor: Actor, input: MembershipInput): Promise<MembershipResult> {
    return this.database.unit(async (unit) => {
      const type = await membershipType(unit.tx, this.domainId, input.membershipTypeId)
      if (!type || type.isActive !== 1) throw new InvalidInput('membership_type_id', 'no such active membership type')
      const now = this.now()
      const dates = membershipDates(type, now)
      const statusId = await membershipStatusId(unit.tx, 'New')
      if (statusId === null) throw new Error('CiviCRM has no active membership status named New')
      const who = await this.resolve(unit, actor, 'membership', input.person)
      const source = input.source ?? `Online Membership: ${type.name}`
      const membershipId = await insertMembership(unit.tx, { contactId: who.contactId, membershipTypeId: type.id, statusId, ...dates, source })
      const fee = membershipFee(type)
      const contributionId = fee === null
        ? null
        : await insertContribution(unit.tx, {
          contactId: who.contactId, financialTypeId: type.financialTypeId, amount: fee, currency: input.currency, source,
          statusId: CONTRIBUTION_COMPLETED, invoiceId: newInvoiceId(), receiveDate: now,
        })
      return { ...who, membershipId, contributionId, endDate: dates.endDate }
    })
  }

  private async requireProfile (unit: Unit, gid: number): Promise<void> {
    const group = await ufGroup(unit.tx, gid)
    if (!group || group.isActive !== 1) throw new NotFound(`no active profile ${gid}`)
  }

  /** The contact of the transaction, inside the unit: linked for a user, matched or created for a visitor. */
  private async resolve (unit: Unit, actor: Actor, act: Act, person: Person | null): Promise<Resolved> {
    if (actor.kind === 'assertion') {
      const user = assertionUser(actor.claims, act)
      if (!await claimToken(unit.tx, actor.claims.jti as string, act, this.now())) throw new AssertionError('this link was already used')
      const result = await linkUser(new SqlLinkStore(unit, this.domainId, `Joomla ${act}`), user, act)
      if (result.contactId === null) throw new CannotLink(String(result.reason)) // linkUser gives a reason whenever it links nobody
      return { ufId: user.id, contactId: result.contactId, action: result.action }
    }
    if (actor.kind === 'session') {
      if (await linkedContactId(unit.tx, this.domainId, actor.ufId) !== actor.contactId) throw new AssertionError('your session has ended; open the page again from the site')
      return { ufId: actor.ufId, contactId: actor.contactId, action: 'already-linked' }
    }
    // Anonymous: CiviCRM's unsupervised rule, never a link. The email lock makes two
    // concurrent payments with one new email create one contact.
    const p = person!
    await unit.lock([lockKeys.email(p.email)])
    const found = await findIndividualByEmail(unit.tx, p.email)
    if (found !== null) return { ufId: null, contactId: found, action: 'matched-contact' }
    const [contactId] = await insertIndividuals(unit, [{ ...namesFromParts(p.firstName, p.lastName, p.email), email: p.email }], `Anonymous ${act}`, this.now())
    return { ufId: null, contactId, action: 'created-contact' }
  }
}
