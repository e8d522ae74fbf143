// "Edit my details", the one transaction on the bridge's own pages: a logged-in user (a signed
// assertion, or the session it opened) is linked by the core's linkUser and edits the linked
// contact's names and email. One unit of work: the single-use assertion, the link, any new
// contact and the edit commit together or not at all. Contributions and memberships are
// CiviCRM's own pages (the plugin links the user before they run); the bridge records no money.
import { AssertionError, CannotLink, NotFound, assertionUser, type Act, type ProfileInput } from '../domain/transactions.js'
import { linkUser, type LinkAction } from '../domain/link-user.js'
import { SqlLinkStore, insertLogRows, setPrimaryEmail } from '../data/link-store.js'
import { greetingsOnSave, renderNames, type SiteSettings } from '../domain/contact.js'
import {
  claimToken, tokenUsed, contactProfile, linkedContactId, ufGroup, updateContactNames, type ContactProfile,
} from '../data/transaction-store.js'
import type { Database, Unit } from '../data/db.js'

/** Who does the transaction. */
export type Actor =
  | { kind: 'assertion', claims: Record<string, unknown>, domainId: number }
  | { kind: 'session', domainId: number, ufId: number, contactId: number }

export interface Resolved { ufId: number, contactId: number, action: LinkAction }

export interface ProfileResult extends Resolved { profile: ContactProfile }

export class TransactionService {
  constructor (
    private readonly database: Database,
    private readonly domainId: number,
    private readonly now: () => Date = () => new Date()
  ) {}

  /** The page's first step: verify-and-link only (the assertion is spent), for the session that follows. */
  async link (claims: Record<string, unknown>, act: Act, gid?: number): Promise<Resolved> {
    const site = await this.database.siteSettings(this.domainId)
    return this.database.unit(async (unit) => {
      if (gid !== undefined) await this.requireProfile(unit, gid)
      return this.resolve(unit, site, { kind: 'assertion', claims, domainId: this.domainId }, act)
    })
  }

  /** The site's assertion was spent already (a replayed link). */
  async assertionUsed (site: string, jti: string): Promise<boolean> {
    return tokenUsed(this.database.db, site, jti)
  }

  /** An active profile (civicrm_uf_group), or NotFound. */
  async profileGroup (gid: number): Promise<{ id: number, title: string }> {
    const group = await ufGroup(this.database.db, gid)
    if (!group || group.isActive !== 1) throw new NotFound(`no active profile ${gid}`)
    return group
  }

  async profile (contactId: number): Promise<ContactProfile | undefined> {
    return contactProfile(this.database.db, contactId)
  }

  /** The linked user's session is still theirs: the link it was opened for still exists. */
  async sessionContact (ufId: number, contactId: number): Promise<boolean> {
    return await linkedContactId(this.database.db, this.domainId, ufId) === contactId
  }

  /** Links (or checks the session of) a logged-in user and saves their profile fields on the linked contact. */
  async saveProfile (actor: Actor, input: ProfileInput): Promise<ProfileResult> {
    const site = await this.database.siteSettings(this.domainId)
    return this.database.unit(async (unit) => {
      await this.requireProfile(unit, input.gid)
      const linked = await this.resolve(unit, site, actor, 'profile')
      const current = (await contactProfile(unit.tx, linked.contactId))!
      const firstName = input.firstName === undefined ? current.firstName : input.firstName
      const lastName = input.lastName === undefined ? current.lastName : input.lastName
      const email = input.email ?? current.email ?? ''
      // As Contact::create on a profile save: the names rendered from the site's formats with
      // the contact's own prefix, suffix, middle name…; its greetings rendered again (a custom
      // greeting is left as it is); one civicrm_log row by the acting contact.
      const fields = { ...current, firstName, lastName, email }
      const greetings = greetingsOnSave(current.greetingIds, current.greetingCustom, fields, site)
      await updateContactNames(unit.tx, linked.contactId, { ...renderNames(fields, site), ...greetings })
      // The contact's primary email only: uf_name stays the Joomla account's email, which
      // Joomla owns (the core keeps it in step from the user's own save and login events).
      if (input.email !== null && input.email !== current.email) await setPrimaryEmail(unit, linked.contactId, input.email, site)
      const { contactId } = linked
      await insertLogRows(unit, [{ contactId, data: `civicrm_contact,${contactId}`, actorId: contactId, at: site.localTime(this.now()) }])
      return { ...linked, profile: (await contactProfile(unit.tx, linked.contactId))! }
    })
  }

  private async requireProfile (unit: Unit, gid: number): Promise<void> {
    const group = await ufGroup(unit.tx, gid)
    if (!group || group.isActive !== 1) throw new NotFound(`no active profile ${gid}`)
  }

  /** The contact of the transaction, inside the unit: the user's linked contact. */
  private async resolve (unit: Unit, site: SiteSettings, actor: Actor, act: Act): Promise<Resolved> {
    // A site's user is linked in its own domain only: the caller picks this domain's service.
    if (actor.domainId !== this.domainId) throw new Error(`actor of domain ${actor.domainId} given to domain ${this.domainId}`)
    if (actor.kind === 'assertion') {
      const user = assertionUser(actor.claims, act)
      if (!await claimToken(unit.tx, actor.claims.iss as string, actor.claims.jti as string, act, this.now())) {
        throw new AssertionError('this link was already used')
      }
      const result = await linkUser(new SqlLinkStore(unit, this.domainId, site, `Joomla ${act}`), user, act)
      if (result.contactId === null) throw new CannotLink(String(result.reason)) // linkUser gives a reason whenever it links nobody
      return { ufId: user.id, contactId: result.contactId, action: result.action }
    }
    if (await linkedContactId(unit.tx, this.domainId, actor.ufId) !== actor.contactId) {
      throw new AssertionError('your session has ended; open the page again from the site')
    }
    return { ufId: actor.ufId, contactId: actor.contactId, action: 'already-linked' }
  }
}
