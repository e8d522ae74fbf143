// Synchronize Users to Contacts, decided in bulk: given a chunk of Joomla users and what the
// database says about them (their links, the contacts holding their emails, the users holding
// those emails as uf_name), the same decision linkUser (link-user.ts) takes for one user,
// for every user of the chunk at once. Framework-free and pure: server/data/sync-store.ts
// reads the facts and writes the decisions, server/services/sync-service.ts runs the chunks.
import { newContact, type SiteSettings } from './contact.js'
import { isEmailProblem, normalizeEmail, typedEmail } from './email.js'
import { decideWithoutLock, firstFreeCandidate, type Candidate, type ExistingLink, type JoomlaUser, type NewContact } from './link-user.js'

export type SyncDecision =
  /**
   * Linked before this chunk; `updateEmail` (as typed) when the user's email changed and may be
   * synced (as linkUser does: uf_name, and the contact's primary email when `syncContactEmail`),
   * `wantedEmail` when it changed to another user's: the change waits, as linkUser's.
   */
  | {
    kind: 'already-linked'
    ufId: number
    contactId: number | null
    linkId: number
    updateEmail: string | null
    syncContactEmail: boolean
    wantedEmail: string | null
    reason: string | null
  }
  | { kind: 'link-existing', ufId: number, email: string, contactId: number }
  | { kind: 'create', ufId: number, email: string, contact: NewContact }
  | { kind: 'skip', ufId: number, reason: string }

/** What the database says about one chunk. Email keys are normalizeEmail() of the users' emails. */
export interface ChunkFacts {
  /** Each user's link in the domain (the lowest id when there are several). */
  links: Map<number, ExistingLink>
  /** Non-deleted Individuals having the email on any email row: primary first, then lowest contact id. */
  candidates: Map<string, Candidate[]>
  /** The user holding the email as uf_name in the domain. */
  ufNameHolders: Map<string, number>
  /** The chunk's users with a waiting email change (civibridge_wanted_email). */
  waiting: Set<number>
}

export interface SyncCounts {
  /** Users read. */
  checked: number
  /** Users now linked to a contact that existed before (old or new link). */
  matched: number
  /** Contacts created. */
  created: number
  /** Users skipped, whatever the reason. */
  skipped: number
  /** Of the skipped: a missing, invalid or too long email. */
  skippedInvalid: number
  /** Of the skipped: their email is another user's (uf_name is unique per domain). */
  skippedTaken: number
}

export const zeroCounts = (): SyncCounts => ({ checked: 0, matched: 0, created: 0, skipped: 0, skippedInvalid: 0, skippedTaken: 0 })

export function addCounts (a: SyncCounts, b: SyncCounts): SyncCounts {
  return {
    checked: a.checked + b.checked,
    matched: a.matched + b.matched,
    created: a.created + b.created,
    skipped: a.skipped + b.skipped,
    skippedInvalid: a.skippedInvalid + b.skippedInvalid,
    skippedTaken: a.skippedTaken + b.skippedTaken,
  }
}

/** Reasons for which the user's email is the problem (emailProblem's values). */
export const isInvalidEmailReason = isEmailProblem

/**
 * A key under which two emails the database's _ci collation holds equal (case, accents) are
 * equal, so that two users of one chunk never both claim one uf_name.
 */
export const collationKey = (email: string): string => normalizeEmail(email).normalize('NFD').replace(/\p{M}/gu, '')

/**
 * Per user of the chunk (in id order), linkUser's decision for the 'sync' trigger: an existing
 * link stays; otherwise the first contact with the email that is not linked to another user
 * (nor claimed by an earlier user of this chunk); otherwise a new Individual. A user whose
 * email is already another user's uf_name, or an earlier user's of this chunk, is skipped.
 */
export function decideChunk (
  users: JoomlaUser[], facts: ChunkFacts, site: SiteSettings
): { decisions: SyncDecision[], counts: SyncCounts, waitsEnded: number[] } {
  const counts = zeroCounts()
  const decisions: SyncDecision[] = []
  // What earlier users of this chunk took: uf_names (by collation key) and contacts.
  const claimedEmails = new Map<string, Claim>()
  const claimedContacts = new Map<number, number>()
  for (const [email, ufId] of facts.ufNameHolders) claimedEmails.set(collationKey(email), { ufId, inChunk: false })

  for (const user of users) {
    counts.checked++
    const decision = decideOne(user, facts, claimedEmails, claimedContacts, site)
    decisions.push(decision)
    switch (decision.kind) {
      case 'already-linked':
      case 'link-existing':
        counts.matched++
        break
      case 'create':
        counts.created++
        break
      case 'skip':
        counts.skipped++
        if (isInvalidEmailReason(decision.reason)) counts.skippedInvalid++
        else counts.skippedTaken++
    }
  }
  // As linkUser keeps them: a user who waited and whose change is no longer blocked waits no more.
  const waitsEnded = decisions.filter((d) => facts.waiting.has(d.ufId) && (d.kind !== 'already-linked' || d.wantedEmail === null))
    .map((d) => d.ufId)
  return { decisions, counts, waitsEnded }
}

interface Claim { ufId: number, inChunk: boolean }

function decideOne (
  user: JoomlaUser, facts: ChunkFacts, claimedEmails: Map<string, Claim>, claimedContacts: Map<number, number>, site: SiteSettings
): SyncDecision {
  const link = facts.links.get(user.id) ?? null
  const email = normalizeEmail(user.email)
  const key = collationKey(email)
  const quick = decideWithoutLock(user, 'sync', { link, deletedAt: null, wantedEmail: null })
  if (quick?.action === 'skipped') return { kind: 'skip', ufId: user.id, reason: quick.reason! }
  if (link) {
    const linked = { kind: 'already-linked', ufId: user.id, contactId: link.contactId, linkId: link.id } as const
    if (quick) return { ...linked, updateEmail: null, syncContactEmail: false, wantedEmail: null, reason: null }
    // The email changed since the link was made: syncEmail's rule, unless another user holds it.
    const holder = claimedEmails.get(key)
    if (holder !== undefined && holder.ufId !== user.id) {
      const reason = `email-linked-to-user:${holder.ufId}`
      return { ...linked, updateEmail: null, syncContactEmail: false, wantedEmail: typedEmail(user.email), reason }
    }
    claimedEmails.set(key, { ufId: user.id, inChunk: true })
    const updateEmail = typedEmail(user.email)
    return { ...linked, updateEmail, syncContactEmail: site.syncCmsEmail, wantedEmail: null, reason: 'email-updated' }
  }
  const holder = claimedEmails.get(key)
  if (holder !== undefined) {
    return { kind: 'skip', ufId: user.id, reason: holder.inChunk ? 'duplicate-email' : `email-linked-to-user:${holder.ufId}` }
  }
  claimedEmails.set(key, { ufId: user.id, inChunk: true })
  const candidates = (facts.candidates.get(email) ?? []).map((c) => {
    const claimer = claimedContacts.get(c.contactId)
    return claimer === undefined ? c : { contactId: c.contactId, linkedUfId: claimer }
  })
  const free = firstFreeCandidate(candidates, user.id)
  if (free) {
    claimedContacts.set(free.contactId, user.id)
    return { kind: 'link-existing', ufId: user.id, email: typedEmail(user.email), contactId: free.contactId }
  }
  return { kind: 'create', ufId: user.id, email: typedEmail(user.email), contact: newContact(user.name, user.email, site) }
}

/**
 * What earlier chunks' decisions took, for a chunk that reads its facts before they are written
 * (the dry run's chunks, a chunk read ahead): uf_names by collation key, and contacts, each with
 * the user who took it.
 */
export interface ChunkClaims { names: Map<string, number>, contacts: Map<number, number> }

export const noClaims = (): ChunkClaims => ({ names: new Map(), contacts: new Map() })

/** Adds what these decisions take to `claims`. */
export function addClaims (claims: ChunkClaims, decisions: SyncDecision[]): ChunkClaims {
  for (const d of decisions) {
    if (d.kind === 'link-existing') claims.contacts.set(d.contactId, d.ufId)
    if (d.kind === 'link-existing' || d.kind === 'create') claims.names.set(collationKey(d.email), d.ufId)
    if (d.kind === 'already-linked' && d.updateEmail !== null) claims.names.set(collationKey(d.updateEmail), d.ufId)
  }
  return claims
}

/**
 * A chunk's facts as they will be once the claims are written: a contact claimed is linked, an
 * email claimed is held. Facts that already show a claim written are left as they are, so the
 * facts may be read before, during or after the claiming chunk's commit.
 */
export function withClaims (facts: ChunkFacts, emails: string[], claims: ChunkClaims): ChunkFacts {
  for (const [email, list] of facts.candidates) {
    facts.candidates.set(email, list.map((c) => {
      const claimer = c.linkedUfId === null ? claims.contacts.get(c.contactId) : undefined
      return claimer === undefined ? c : { contactId: c.contactId, linkedUfId: claimer }
    }))
  }
  for (const email of emails) {
    const claimer = claims.names.get(collationKey(email))
    if (claimer !== undefined && !facts.ufNameHolders.has(email)) facts.ufNameHolders.set(email, claimer)
  }
  return facts
}

/**
 * Whether the chunk after these decisions may read its facts before they are written. Not when
 * a linked user's email changes: its old uf_name is given up, which withClaims cannot show.
 */
export const freesNoName = (decisions: SyncDecision[]): boolean =>
  decisions.every((d) => d.kind !== 'already-linked' || d.updateEmail === null)

/**
 * Whether a chunk's facts, read before it took its locks (while the chunk before it was
 * written), are still what it would read under them. Every unit that writes about a user or
 * an email first adds one to the counter `n` of its lock rows, so between that read and this
 * chunk's locks each of its rows must have moved by exactly this chunk's own increment, plus
 * the chunk before's (`previous`: its lock keys, and whether its commit was seen by the read)
 * when the read did not see it. Any other move is another writer: the facts are read again.
 */
export function readAheadHolds (
  seen: Map<string, number>, locked: Map<string, number>, previous: { keys: Set<string>, committed: boolean }
): boolean {
  for (const [key, n] of locked) {
    const expected = (seen.get(key) ?? 0) + 1 + (!previous.committed && previous.keys.has(key) ? 1 : 0)
    if (n !== expected) return false
  }
  return true
}

const plural = (n: number, one: string, many: string): string => (n === 1 ? one : many.replace('#', String(n)))

/**
 * CiviCRM's status message, counted truthfully, plus a sentence per kind of skip:
 * "Synchronize Users to Contacts completed. Checked 5 user records. Found 3 matching contact
 * records. Created 2 new contact records."
 */
export function syncMessage (c: SyncCounts): string {
  const parts = [
    'Synchronize Users to Contacts completed.',
    plural(c.checked, 'Checked one user record.', 'Checked # user records.'),
    // CiviCRM leaves the sentence out when nothing matched (CRM_Admin_Form_CMSUser).
    ...(c.matched > 0 ? [plural(c.matched, 'Found one matching contact record.', 'Found # matching contact records.')] : []),
    plural(c.created, 'Created one new contact record.', 'Created # new contact records.'),
  ]
  if (c.skippedInvalid > 0) {
    parts.push(plural(c.skippedInvalid, 'Skipped one user record without a valid email.', 'Skipped # user records without a valid email.'))
  }
  if (c.skippedTaken > 0) {
    parts.push(plural(c.skippedTaken,
      'Skipped one user record whose email belongs to another user.', 'Skipped # user records whose email belongs to another user.'))
  }
  return parts.join(' ')
}

/** The dry-run message: what a synchronization would do now, and that nothing was written. */
export function dryRunMessage (c: SyncCounts): string {
  const parts = [
    'Dry run of Synchronize Users to Contacts: nothing was written.',
    plural(c.checked, 'Checked one user record.', 'Checked # user records.'),
    // Left out when nothing matches, as in the real run's message.
    ...(c.matched > 0
      ? [plural(c.matched, 'Would link one user to a matching contact record.', 'Would link # users to matching contact records.')]
      : []),
    plural(c.created, 'Would create one new contact record.', 'Would create # new contact records.'),
  ]
  if (c.skippedInvalid > 0) {
    parts.push(plural(c.skippedInvalid,
      'Would skip one user record without a valid email.', 'Would skip # user records without a valid email.'))
  }
  if (c.skippedTaken > 0) {
    parts.push(plural(c.skippedTaken,
      'Would skip one user record whose email belongs to another user.', 'Would skip # user records whose email belongs to another user.'))
  }
  return parts.join(' ')
}
