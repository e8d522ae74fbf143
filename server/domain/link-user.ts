// The linking rules: which contact a Joomla user is linked to, and when a contact is created.
// Framework-free: all storage goes through the LinkStore port (server/data/link-store.ts).
import { newContact, type NewContact, type SiteSettings } from './contact.js'
import { emailProblem, normalizeEmail, typedEmail } from './email.js'

export type { NewContact } from './contact.js'

export interface JoomlaUser {
  id: number
  username: string
  email: string
  name: string
  block: boolean
}

export type LinkTrigger = 'save' | 'login' | 'sync' | 'profile' | 'contribution' | 'membership' | 'delete'

export type LinkAction = 'already-linked' | 'linked-existing' | 'created-contact' | 'skipped' | 'unlinked'

export interface LinkResult {
  action: LinkAction
  contactId: number | null
  reason: string | null
}

export interface ExistingLink {
  id: number
  ufName: string | null
  contactId: number | null
}

export interface Candidate {
  contactId: number
  /** uf_id of the user this contact is linked to in the domain, or null when free. */
  linkedUfId: number | null
}

/** The user holding an email as uf_name in the domain, if any, and the email's candidates. */
export interface EmailMatches {
  holder: number | null
  candidates: Candidate[]
}

/** A user's state read under their locks, and the matches of the email asked with them (null when none was). */
export type LockedState = UserState & { matches: EmailMatches | null }

/** What is known about a user: their link, their last delete, and an email change that waits. */
export interface UserState {
  link: ExistingLink | null
  deletedAt: Date | null
  /** The email the user changed to while another user held it as uf_name: theirs once it is freed. */
  wantedEmail: string | null
}

/** What linking needs from storage. One instance works inside one transaction. */
export interface LinkStore {
  /** The site's CiviCRM configuration for contacts. */
  siteSettings (): Promise<SiteSettings>
  /**
   * Serialises work on these keys across processes and nodes until the unit of work ends, and
   * reads the user's state (as userState) under them, in one round trip; with `email` (normalised),
   * that email's holder and candidates (as findHolderAndCandidates) too, in the same round trip.
   */
  lockAndRead (keys: string[], ufId: number, email?: string): Promise<LockedState>
  /** The user's link (lowest id if several) and last delete, in one read. */
  userState (ufId: number): Promise<UserState>
  /** The uf_id holding this uf_name in the domain, if any. */
  findUserByUfName (email: string): Promise<number | null>
  /**
   * findUserByUfName, and the non-deleted Individuals with this email on any email row (primary
   * first, then lowest id), in one read.
   */
  findHolderAndCandidates (email: string): Promise<EmailMatches>
  /** `ufName`: the email as typed (CiviCRM keeps it so). */
  insertLink (ufId: number, ufName: string, contactId: number): Promise<void>
  updateLinkEmail (linkId: number, ufName: string): Promise<void>
  /** Remembers the email a linked user waits for (null: none), keeping the time of the wait when it is the same email. */
  setWantedEmail (ufId: number, email: string | null): Promise<void>
  /** The users waiting for this email, the longest waiting first. */
  usersWaitingFor (email: string): Promise<number[]>
  /**
   * The email sync Joomla never had: the contact's primary email becomes `email` (given
   * lowercased: CiviCRM stores emails so), with a civicrm_log row civicrm_email,<id> by the contact itself.
   */
  setPrimaryEmail (contactId: number, email: string): Promise<void>
  /** Contact, primary email on the default location type and civicrm_log row; returns the contact id. */
  createIndividual (contact: NewContact): Promise<number>
  deleteLinks (ufId: number): Promise<number | null>
  recordDelete (ufId: number, at: Date): Promise<void>
  audit (ufId: number, trigger: LinkTrigger, result: LinkResult): Promise<void>
}

/**
 * Keys of the lock rows that serialise the work on one user or one email, across processes and
 * Galera nodes. They fall into LOCK_STRIPES stripes, so that a sync chunk covering thousands of
 * users writes at most that many rows (one row per key cost a chunk more than its own writes),
 * while two live events wait on each other only when their keys share a stripe, for the
 * milliseconds a unit of work lasts.
 */
export const LOCK_STRIPES = 256

/** FNV-1a: cheap, stable across processes and versions, and spreads similar keys. */
function stripeOf (key: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return `s:${(h >>> 0) % LOCK_STRIPES}`
}

export const lockKeys = {
  user: (ufId: number) => stripeOf(`u:${ufId}`),
  email: (email: string) => stripeOf(`e:${normalizeEmail(email)}`),
}

/** A login or a CiviCRM page is something a blocked user cannot do: only a save links them. */
const LINKS_ONLY_UNBLOCKED = new Set<LinkTrigger>(['login', 'profile', 'contribution', 'membership'])

const result = (action: LinkAction, contactId: number | null, reason: string | null = null): LinkResult => ({ action, contactId, reason })

/** The first candidate not linked to another user, or null when every one is taken. */
export function firstFreeCandidate (candidates: Candidate[], ufId: number): Candidate | null {
  return candidates.find((c) => c.linkedUfId === null || c.linkedUfId === ufId) ?? null
}

export interface LinkOptions {
  /** When the event happened on the site; a save or login older than a delete never relinks. */
  occurredAt?: Date
}

/**
 * Links a Joomla user to a CiviCRM contact, creating an Individual only when no free contact
 * has the user's email. Audits the decision. Call inside one transaction.
 */
export async function linkUser (store: LinkStore, user: JoomlaUser, trigger: LinkTrigger, opts: LinkOptions = {}): Promise<LinkResult> {
  const decided = await decideLink(store, user, trigger, opts)
  await store.audit(user.id, trigger, decided)
  return decided
}

/**
 * The decisions that write nothing to CiviCRM and need no lock (a login of a linked user with
 * an unchanged email, a blocked login, a bad email, a late retry): the hot path. Null when
 * the locked path must decide.
 */
export function decideWithoutLock (user: JoomlaUser, trigger: LinkTrigger, state: UserState, opts: LinkOptions = {}): LinkResult | null {
  if (opts.occurredAt && state.deletedAt && opts.occurredAt.getTime() <= state.deletedAt.getTime()) {
    return result('skipped', null, 'user-deleted')
  }
  if (user.block && LINKS_ONLY_UNBLOCKED.has(trigger)) return result('skipped', null, 'user-blocked')
  const email = normalizeEmail(user.email)
  const problem = emailProblem(email)
  if (state.link && state.wantedEmail === null && (problem || normalizeEmail(state.link.ufName) === email)) {
    return result('already-linked', state.link.contactId)
  }
  if (!state.link && problem) return result('skipped', null, problem)
  return null
}

async function decideLink (store: LinkStore, user: JoomlaUser, trigger: LinkTrigger, opts: LinkOptions): Promise<LinkResult> {
  const quickState = await store.userState(user.id)
  const quick = decideWithoutLock(user, trigger, quickState, opts)
  if (quick) return quick

  const email = normalizeEmail(user.email)
  // Under the locks, decide again on fresh state: a delete or a link may have just landed.
  // A user found unlinked will want the email's holder and candidates: read with the locks.
  const keys = [lockKeys.user(user.id), lockKeys.email(email), ...heldEmailKeys(quickState)]
  const state = await lockUser(store, user.id, keys, quickState.link ? undefined : email)
  const again = decideWithoutLock(user, trigger, state, opts)
  if (again) return again
  if (state.link) return syncEmail(store, user.id, state.link, typedEmail(user.email), trigger)

  const { holder, candidates } = state.matches ?? await store.findHolderAndCandidates(email)
  if (holder !== null) return result('skipped', null, `email-linked-to-user:${holder}`)

  const free = firstFreeCandidate(candidates, user.id)
  if (free) {
    await store.insertLink(user.id, typedEmail(user.email), free.contactId)
    return result('linked-existing', free.contactId)
  }
  const contactId = await store.createIndividual(newContact(user.name, user.email, await store.siteSettings()))
  await store.insertLink(user.id, typedEmail(user.email), contactId)
  return result('created-contact', contactId)
}

/** The lock of the email a user holds as uf_name: whoever frees an email holds its lock (see handOver). */
const heldEmailKeys = (state: UserState): string[] =>
  (state.link && emailProblem(state.link.ufName) === null ? [lockKeys.email(state.link.ufName!)] : [])

/**
 * Takes the locks `keys` (the user's among them) and the lock of the email the user holds, and
 * returns the user's state read under them (with `email`'s matches, read in the same round
 * trip: the matches' rows are locked by then). The held email is known for sure only under the
 * user's lock: when it is not the one expected, its lock is taken too and the state read again.
 * Called before the unit of work writes anything but lock rows: a circle of lock rows is a
 * deadlock InnoDB detects (the unit of work is re-run).
 */
async function lockUser (store: LinkStore, ufId: number, keys: string[], email?: string): Promise<LockedState> {
  const locked = new Set<string>()
  for (let next = keys; ;) {
    const state = await store.lockAndRead(next, ufId, email)
    for (const k of next) locked.add(k)
    next = heldEmailKeys(state).filter((k) => !locked.has(k))
    if (next.length === 0) return state
  }
}

/**
 * A linked user whose email changed: update uf_name and the contact's primary email, unless
 * another user holds that email as uf_name: then the change waits (setWantedEmail) until that
 * user frees it. The email this user frees goes to whoever waits for it (handOver).
 */
async function syncEmail (store: LinkStore, ufId: number, link: ExistingLink, email: string, trigger: LinkTrigger): Promise<LinkResult> {
  // Reached with an unchanged or unusable email only when a change was waiting: it no longer is.
  if (emailProblem(email) !== null || normalizeEmail(link.ufName) === normalizeEmail(email)) {
    await store.setWantedEmail(ufId, null)
    return result('already-linked', link.contactId)
  }
  const holder = await store.findUserByUfName(normalizeEmail(email))
  if (holder !== null && holder !== ufId) {
    await store.setWantedEmail(ufId, email)
    return result('already-linked', link.contactId, `email-linked-to-user:${holder}`)
  }
  const takers = await planHandOver(store, link.ufName, ufId)
  await store.setWantedEmail(ufId, null)
  await store.updateLinkEmail(link.id, email)
  const site = await store.siteSettings()
  if (link.contactId !== null && site.syncCmsEmail) await store.setPrimaryEmail(link.contactId, normalizeEmail(email))
  await handOver(store, takers, ufId, trigger, site)
  return result('already-linked', link.contactId, 'email-updated')
}

/** A user waiting for an email that is being freed, with their link: they take it. */
interface Taker { ufId: number, link: ExistingLink, email: string }

/**
 * User `by`, holding the lock of `email`, is about to free it (change away from it, or be
 * deleted): no one can start waiting for it meanwhile. The user waiting longest for it takes it,
 * and the email that user frees goes to whoever waits for it in turn, and so on. Only locks and
 * reads, before the unit writes (see lockUser): each taker's user and held email are locked.
 * No user takes twice, and `by` takes nothing, so the chain ends.
 */
async function planHandOver (store: LinkStore, email: string | null, by: number): Promise<Taker[]> {
  const takers: Taker[] = []
  const done = new Set([by])
  for (let freed = normalizeEmail(email); freed !== '';) {
    const taker = await nextTaker(store, freed, done)
    if (taker === null) break
    takers.push(taker)
    done.add(taker.ufId)
    freed = normalizeEmail(taker.link.ufName)
  }
  return takers
}

async function nextTaker (store: LinkStore, email: string, done: Set<number>): Promise<Taker | null> {
  for (const ufId of await store.usersWaitingFor(email)) {
    if (done.has(ufId)) continue
    const { link, wantedEmail } = await lockUser(store, ufId, [lockKeys.user(ufId)])
    // Under the user's lock: still linked and still waiting for this email (an event of theirs may have just changed it)?
    if (link !== null && normalizeEmail(wantedEmail) === email) return { ufId, link, email: typedEmail(wantedEmail) }
  }
  return null
}

/** The takers take their emails, in order (each frees the next one's), audited with who freed it. */
async function handOver (store: LinkStore, takers: Taker[], by: number, trigger: LinkTrigger, site: SiteSettings | null): Promise<void> {
  for (const taker of takers) {
    site ??= await store.siteSettings()
    await store.setWantedEmail(taker.ufId, null)
    await store.updateLinkEmail(taker.link.id, taker.email)
    if (taker.link.contactId !== null && site.syncCmsEmail) await store.setPrimaryEmail(taker.link.contactId, normalizeEmail(taker.email))
    await store.audit(taker.ufId, trigger, result('already-linked', taker.link.contactId, `email-freed-by-user:${by}`))
    by = taker.ufId
  }
}

/** Deletes the user's link only; the contact and its history stay. The email it held goes to whoever waits for it. */
export async function unlinkUser (store: LinkStore, ufId: number, opts: LinkOptions = {}): Promise<LinkResult> {
  const state = await lockUser(store, ufId, [lockKeys.user(ufId), ...heldEmailKeys(await store.userState(ufId))])
  const takers = await planHandOver(store, state.link?.ufName ?? null, ufId)
  const contactId = await store.deleteLinks(ufId)
  await store.setWantedEmail(ufId, null)
  await store.recordDelete(ufId, opts.occurredAt ?? new Date())
  const decided = result('unlinked', contactId, contactId === null ? 'not-linked' : null)
  await store.audit(ufId, 'delete', decided)
  await handOver(store, takers, ufId, 'delete', null)
  return decided
}
