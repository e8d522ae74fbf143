// Write-behind for the hot path: the event record and audit row of a decision that changed
// nothing in CiviCRM (a linked user logging in) are written in multi-row batches every few
// milliseconds instead of one transaction per login. Such a decision is safe to repeat, so a
// crash that loses the last batch loses only audit rows of decisions that had no effect; a
// retried jti is answered from the pending batch or, once written, from civibridge_event.
import type { LinkResult, LinkTrigger } from '../domain/link-user.js'
import { INSERT_AUDIT_JSON, INSERT_EVENT, auditRowJson, type EventRecord } from './event-store.js'
import type { Database } from './db.js'

interface Pending { event: EventRecord, domainId: number, result: LinkResult, trigger: LinkTrigger, at: Date }

/** A jti is unique per site. */
const keyOf = (site: string, jti: string) => `${site}\n${jti}`

/** A civibridge_event row, in INSERT_EVENT's column order. */
const eventRow = ({ event: e, at, result }: Pending) =>
  [e.jti, e.site, e.bodySha256, e.event, e.ufId, e.occurredAt, at, JSON.stringify(result)]

export class BufferedEventLog {
  private pending = new Map<string, Pending>()
  /** Taken by a write in progress; still answers retries. */
  private readonly inFlight = new Map<string, Pending>()
  private timer: NodeJS.Timeout | null = null
  private flushing: Promise<void> = Promise.resolve()
  private closed = false

  constructor (
    private readonly database: Database,
    private readonly opts: { flushMs: number, maxBatch: number, maxQueued?: number, onError: (err: unknown, rows: number) => void }
  ) {}

  /** The queued record of the site's jti, if it is not in the database yet. */
  find (site: string, jti: string): Pending | undefined {
    const key = keyOf(site, jti)
    return this.pending.get(key) ?? this.inFlight.get(key)
  }

  /**
   * Queues a read-only decision. False when it was not queued, so the caller takes the
   * transactional path: the jti is already queued (a concurrent retry), or the queue is full
   * (the database is slow or down: back-pressure instead of unbounded memory).
   */
  add (event: EventRecord, domainId: number, result: LinkResult, trigger: LinkTrigger): boolean {
    if (this.find(event.site, event.jti) || this.size >= (this.opts.maxQueued ?? 50_000)) return false
    this.pending.set(keyOf(event.site, event.jti), { event, domainId, result, trigger, at: new Date() })
    if (this.pending.size >= this.opts.maxBatch) void this.flush()
    else this.timer ??= setTimeout(() => { void this.flush() }, this.opts.flushMs)
    return true
  }

  /** Writes everything queued so far; resolves when it is in the database (or failed). */
  flush (): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = null }
    if (this.pending.size === 0) return this.flushing
    const batch = [...this.pending.values()]
    for (const p of batch) this.inFlight.set(keyOf(p.event.site, p.event.jti), p)
    this.pending = new Map()
    this.flushing = this.flushing.then(() => this.write(batch))
    return this.flushing
  }

  private async write (batch: Pending[]): Promise<void> {
    const auditRow = (p: Pending) =>
      auditRowJson(p.domainId, p.event.ufId, p.trigger, p.result.action, p.result.contactId, p.result.reason, p.at)
    try {
      // One round trip: BEGIN, both inserts and COMMIT.
      await this.database.unit((unit) => unit.commitWith(`${INSERT_EVENT} ?; ${INSERT_AUDIT_JSON}`,
        [batch.map(eventRow), JSON.stringify(batch.map(auditRow))]))
    } catch (err) {
      // Back in the queue for the next flush; the database may be back by then.
      for (const p of batch) {
        const key = keyOf(p.event.site, p.event.jti)
        if (!this.pending.has(key)) this.pending.set(key, p)
      }
      this.opts.onError(err, batch.length)
      if (!this.closed) this.timer ??= setTimeout(() => { void this.flush() }, 1000)
    } finally {
      for (const p of batch) this.inFlight.delete(keyOf(p.event.site, p.event.jti))
    }
  }

  /** A last flush, and no retry timer after it (the process is stopping). */
  async close (): Promise<void> {
    this.closed = true
    await this.flush()
  }

  get size (): number {
    return this.pending.size + this.inFlight.size
  }
}
