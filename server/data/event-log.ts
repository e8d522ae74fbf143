// Write-behind for the hot path: the event record and audit row of a decision that changed
// nothing in CiviCRM (a linked user logging in) are written in multi-row batches every few
// milliseconds instead of one transaction per login. Such a decision is safe to repeat, so a
// crash that loses the last batch loses only audit rows of decisions that had no effect; a
// retried jti is answered from the pending batch or, once written, from civibridge_event.
import type { LinkResult, LinkTrigger } from '../domain/link-user.js'
import { INSERT_AUDIT, INSERT_EVENT, type EventRecord } from './event-store.js'
import type { Database } from './db.js'


interface Pending { event: EventRecord, result: LinkResult, trigger: LinkTrigger, at: Date }

export class BufferedEventLog {
  private pending = new Map<string, Pending>()
  /** Taken by a write in progress; still answers retries. */
  private readonly inFlight = new Map<string, Pending>()
  private timer: NodeJS.Timeout | null = null
  private flushing: Promise<void> = Promise.resolve()
  private closed = false

  constructor (
    private readonly database: Database,
    private readonly domainId: number,
    private readonly opts: { flushMs: number, maxBatch: number, maxQueued?: number, onError: (err: unknown, rows: number) => void },
  ) {}

  /** The queued record of this jti, if it is not in the database yet. */
  find (jti: string): Pending | undefined {
    return this.pending.get(jti) ?? this.inFlight.get(jti)
  }

  /**
   * Queues a read-only decision. False when it was not queued, so the caller takes the
   * transactional path: the jti is already queued (a concurrent retry), or the queue is full
   * (the database is slow or down: back-pressure instead of unbounded memory).
   */
  add (event: EventRecord, result: LinkResult, trigger: LinkTrigger): boolean {
    if (this.find(event.jti) || this.size >= (this.opts.maxQueued ?? 50_000)) return false
    this.pending.set(event.jti, { event, result, trigger, at: new Date() })
    if (this.pending.size >= this.opts.maxBatch) void this.flush()
    else this.timer ??= setTimeout(() => { void this.flush() }, this.opts.flushMs)
    return true
  }

  /** Writes everything queued so far; resolves when it is in the database (or failed). */
  flush (): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = null }
    if (this.pending.size === 0) return this.flushing
    const batch = [...this.pending.values()]
    for (const p of batch) this.inFlight.set(p.event.jti, p)
    this.pending = new Map()
    this.flushing = this.flushing.then(() => this.write(batch))
    return this.flushing
  }

  private async write (batch: Pending[]): Promise<void> {
    try {
      await this.database.unit(async (unit) => {
        await unit.query(`${INSERT_EVENT} ?`,
          [batch.map((p) => [p.event.jti, p.event.site, p.event.bodySha256, p.event.event, p.event.ufId, p.event.occurredAt, p.at, JSON.stringify(p.result)])])
        await unit.query(`${INSERT_AUDIT} ?`,
          [batch.map((p) => [this.domainId, p.event.ufId, p.trigger, p.result.action, p.result.contactId, p.result.reason, p.at])])
      })
    } catch (err) {
      // Back in the queue for the next flush; the database may be back by then.
      for (const p of batch) if (!this.pending.has(p.event.jti)) this.pending.set(p.event.jti, p)
      this.opts.onError(err, batch.length)
      if (!this.closed) this.timer ??= setTimeout(() => { void this.flush() }, 1000)
    } finally {
      for (const p of batch) this.inFlight.delete(p.event.jti)
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
