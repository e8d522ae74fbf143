// Applies one signed Joomla event: runs the linking rule its name calls for and records its jti
// with the result, in one unit of work. A retry of the same jti gets the first result.
// Decisions that change nothing (most logins) skip the unit: see BufferedEventLog.
import DataLoader from 'dataloader'
import { eventEffect, linkTrigger } from '../domain/events.js'
import { decideWithoutLock, linkUser, unlinkUser, type JoomlaUser, type LinkResult } from '../domain/link-user.js'
import { findEvent, recordEvent, type EventRecord } from '../data/event-store.js'
import { SqlLinkStore, readEventContexts, type EventContext } from '../data/link-store.js'
import type { BufferedEventLog } from '../data/event-log.js'
import type { Database } from '../data/db.js'

export interface JoomlaEvent {
  event: string
  user: { id: number, username: string, email: string, name: string, block: boolean | number }
  isNew?: boolean
  success?: boolean
  occurredAt: string
}

export type EventOutcome =
  | { kind: 'applied', result: EventResultBody, replay: boolean }
  | { kind: 'unknown-event' }
  | { kind: 'jti-reused' }

export type EventResultBody = Omit<LinkResult, 'action'> & { action: LinkResult['action'] | 'acknowledged' }

/**
 * How long the first event of a batch waits for others before the batch's read is sent. At
 * 2,000 logins/s, where a turn of the event loop rarely holds two, a millisecond took a sixth to
 * a fifth of the bridge's CPU and a fifth to a quarter of MariaDB's (the database CiviCRM shares)
 * off each login, for about a millisecond more per event (docs/benchmarks.md, Logins); under
 * heavier load the batches fill within a turn anyway.
 */
export const READ_WINDOW_MS = 1

/** Thrown inside a unit of work to roll it back: the jti was recorded by another delivery. */
class JtiTaken extends Error {}

export class EventService {
  /**
   * The events that arrive together (within READ_WINDOW_MS of the first) have their contexts
   * read in one statement: one round trip and one statement for many logins instead of one each.
   */
  private readonly contexts = new Map<number, DataLoader<{ ufId: number, jti: string, site: string }, EventContext>>()

  constructor (private readonly database: Database, private readonly log: BufferedEventLog) {}

  /** One loader per CiviCRM domain (a site's users live in its domain). */
  private contextsOf (domainId: number) {
    let loader = this.contexts.get(domainId)
    if (!loader) {
      loader = new DataLoader((keys) => readEventContexts(this.database.prepared, domainId, keys), {
        cache: false, // every read is fresh: a context is the database's state now, not a memo
        batchScheduleFn: (dispatch) => setTimeout(dispatch, READ_WINDOW_MS),
        maxBatchSize: 100,
      })
      this.contexts.set(domainId, loader)
    }
    return loader
  }

  /** Applies a site's event to the links of the site's domain; the jti is the site's. */
  async apply (site: string, domainId: number, jti: string, bodySha256: string, body: JoomlaEvent): Promise<EventOutcome> {
    const effect = eventEffect(body.event)
    if (effect === null) return { kind: 'unknown-event' }
    const occurredAt = new Date(body.occurredAt)
    const user: JoomlaUser = { ...body.user, block: Boolean(body.user.block) }
    const succeeded = body.success !== false
    const trigger = linkTrigger(body.event, effect)
    // A page event links like a login (a blocked user is never linked: Joomla logs them out).
    const links = (effect === 'link-on-save' && succeeded) || effect === 'link-on-login' || effect === 'link-on-page'
    const event: EventRecord = { jti, site, bodySha256, event: body.event, ufId: user.id, occurredAt }

    // Hot path: one read (link, last delete, an earlier delivery of this jti), shared with the
    // events that arrive with this one; a decision that writes nothing to CiviCRM is answered
    // at once and logged by the write-behind log.
    // The write-behind log is looked at before the read too: an earlier delivery of this jti
    // still queued then is in the database once it leaves the queue, so the read sees it there;
    // looked at after the read only, a batch written during the read was seen by neither.
    const queuedBefore = this.log.find(site, jti)
    const known = await this.contextsOf(domainId).load({ ufId: user.id, jti, site })
    const queued = queuedBefore ?? this.log.find(site, jti)
    const earlier = known.prior ?? (queued && { bodySha256: queued.event.bodySha256, result: queued.result })
    if (earlier) return this.answerRetry(earlier, bodySha256)
    if (links) {
      const quick = decideWithoutLock(user, trigger, known, { occurredAt })
      if (quick && this.log.add(event, domainId, quick, trigger)) return { kind: 'applied', result: quick, replay: false }
    }

    try {
      // Read before the unit takes its connection (cached: no query most of the time).
      const settings = await this.database.siteSettings(domainId)
      return await this.database.unit(async (unit) => {
        // The state read before the unit serves linkUser's first, lock-free look (re-read under the locks).
        const store = new SqlLinkStore(unit, domainId, settings, undefined, known)
        let result: EventResultBody
        if (links) result = await linkUser(store, user, trigger, { occurredAt })
        else if (effect === 'unlink' && succeeded) result = await unlinkUser(store, user.id, { occurredAt })
        else result = { action: 'acknowledged', contactId: null, reason: succeeded ? null : 'not-successful' }
        if (!await recordEvent(unit, event, result as LinkResult)) throw new JtiTaken()
        return { kind: 'applied', result, replay: false } as const
      })
    } catch (err) {
      // Another delivery of this jti was recorded first: this unit's work is rolled back.
      if (!(err instanceof JtiTaken)) throw err
      return this.answerRetry(await findEvent(this.database.db, site, jti), bodySha256)
    }
  }

  /** The jti is taken: the same body is a retry (the first answer again), anything else a reuse. */
  private answerRetry (first: { bodySha256: string, result: LinkResult } | undefined, bodySha256: string): EventOutcome {
    return first?.bodySha256 === bodySha256 ? { kind: 'applied', result: first.result, replay: true } : { kind: 'jti-reused' }
  }
}
