// Synchronize Users to Contacts as a job: one at a time per database (a claim row set by
// check-and-set on a dedicated connection, renewed while the job runs, void when its connection
// is gone or it stops being renewed), chunks of users in id order, each locked, decided in bulk
// and written in one transaction with its checkpoint, so that a job killed at any point resumes
// after the chunks that committed.
// Used by the CLI (server/sync-cli.ts) and the admin routes (server/http/routes/admin/jobs.ts).
import { randomUUID } from 'node:crypto'
import type mysql from 'mysql2/promise'
import { emailProblem, normalizeEmail } from '../domain/email.js'
import { lockKeys, type JoomlaUser } from '../domain/link-user.js'
import {
  addCounts, collationKey, decideChunk, dryRunMessage, syncMessage, zeroCounts, type ChunkFacts, type SyncCounts, type SyncDecision,
} from '../domain/sync.js'
import {
  JoomlaUsers, SyncClaim, SyncJobs, latestJobProgress, lastDoneJob, SYNC_HEARTBEAT_MS, advanceJob, doneChunksAfter, readChunkFacts,
  saveChunk, writeDecisions, type SyncJob,
} from '../data/sync-store.js'

export type { SyncJob }
import type { Database } from '../data/db.js'
import { SyncBusyError } from '../errors.js'

export const DEFAULT_BATCH_SIZE = 1000
export const MAX_BATCH_SIZE = 5000

export { SyncBusyError }

export interface SyncProgress {
  jobId: number | null
  dryRun: boolean
  status: 'running' | 'done' | 'interrupted' | 'failed'
  /** Users checked so far in the whole job (a resumed job counts what was done before). */
  done: number
  /** Users in the table when the job (re)started. */
  total: number
  counts: SyncCounts
  startedAt: Date
  /** Users per second in this process. */
  rate: number
  /** Seconds left at this rate, null while unknown. */
  etaS: number | null
  message: string | null
  error: string | null
}

export interface SyncResult {
  jobId: number | null
  dryRun: boolean
  status: 'done' | 'interrupted'
  resumed: boolean
  counts: SyncCounts
  message: string
  skippedUsers: Array<{ id: number, reason: string }>
  durationMs: number
}

export interface SyncOptions {
  dryRun?: boolean
  batchSize?: number
  /** Stops between chunks; the job stays resumable. */
  signal?: AbortSignal
  onProgress?: (p: SyncProgress) => void
}

export interface SyncRun {
  jobId: number | null
  dryRun: boolean
  resumed: boolean
  progress (): SyncProgress
  /** Resolves when the job ends or is interrupted; rejects when a chunk fails (the job stays resumable). */
  done: Promise<SyncResult>
}

export class SyncService {
  readonly jobs: SyncJobs
  private readonly claim: SyncClaim
  /** Reads outside a unit of work (the dry run's). */
  private readonly poolQuery = async (text: string, values: unknown[]) => (await this.database.pool.query(text, values))[0]

  /** How often the running sync renews its claim (SYNC_HEARTBEAT_MS; shorter in tests). */
  private readonly heartbeatMs: number

  constructor (
    private readonly database: Database,
    private readonly users: JoomlaUsers,
    private readonly domainId: number,
    opts: { heartbeatMs?: number } = {}
  ) {
    this.heartbeatMs = opts.heartbeatMs ?? SYNC_HEARTBEAT_MS
    this.jobs = new SyncJobs(database.pool, domainId)
    this.claim = new SyncClaim(domainId)
  }

  /** The latest job's users checked and in all, dry runs included (/metrics). */
  latestProgress () { return latestJobProgress(this.database.db, this.domainId) }

  /** The last finished job's figures (/metrics). */
  lastDone () { return lastDoneJob(this.database.db, this.domainId) }

  /** Runs a sync to its end. */
  async run (opts: SyncOptions = {}): Promise<SyncResult> {
    return (await this.start(opts)).done
  }

  /** Takes the sync claim (a real run), creates or resumes the job, and runs it in the background. */
  async start (opts: SyncOptions = {}): Promise<SyncRun> {
    const batchSize = Math.min(Math.max(Math.trunc(opts.batchSize ?? DEFAULT_BATCH_SIZE), 1), MAX_BATCH_SIZE)
    if (opts.dryRun) {
      const total = await this.users.count()
      const state = new RunState(null, true, false, total, zeroCounts(), opts.onProgress)
      return state.runFor(this.dryRunLoop(state, batchSize, opts.signal))
    }
    const { conn, holder, beating } = await this.takeSyncClaim()
    try {
      const unfinished = await this.jobs.unfinished()
      const total = await this.users.count()
      const now = new Date()
      let job: SyncJob
      if (unfinished) {
        await this.jobs.resume(unfinished.id, batchSize, total, now)
        job = unfinished
      } else {
        job = await this.jobs.create(batchSize, total, now)
      }
      const state = new RunState(job.id, false, unfinished !== null, total, job.counts, opts.onProgress)
      const loop = this.loop(state, job, batchSize, opts.signal)
      return state.runFor(loop.finally(() => this.releaseSyncClaim(conn, holder, beating)))
    } catch (err) {
      await this.releaseSyncClaim(conn, holder, beating)
      throw err
    }
  }

  /** Stops renewing the claim, gives it back, then its connection (destroyed if it cannot: the claim is then void). */
  private async releaseSyncClaim (conn: mysql.PoolConnection, holder: string, beating: NodeJS.Timeout): Promise<void> {
    clearInterval(beating)
    await this.claim.release(conn, holder).then(() => conn.release(), () => conn.destroy())
  }

  /** Whether a synchronization runs now, here or in another process, through any node: someone holds the sync claim. */
  async syncClaimed (): Promise<boolean> {
    return this.claim.held(this.database.pool)
  }

  /** A dedicated connection holding the sync claim, renewed every few seconds, or SyncBusyError naming the running job. */
  private async takeSyncClaim (): Promise<{ conn: mysql.PoolConnection, holder: string, beating: NodeJS.Timeout }> {
    const conn = await this.database.pool.getConnection()
    const holder = randomUUID()
    let got = false
    try {
      got = await this.claim.take(conn, holder)
    } catch (err) {
      conn.release()
      throw err
    }
    if (got) {
      // A failed renewal is retried at the next beat; the claim stays valid for SYNC_STALE_S.
      const beating = setInterval(() => { this.claim.beat(conn, holder).catch(() => {}) }, this.heartbeatMs)
      beating.unref()
      return { conn, holder, beating }
    }
    conn.release()
    // The holder may not have created its job yet (two starts at the same moment): a moment for it to appear.
    let running = await this.jobs.unfinished()
    for (let i = 0; running === null && i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      running = await this.jobs.unfinished()
    }
    throw new SyncBusyError(running
      ? `A synchronization is already running (job ${running.id}, started ${running.startedAt.toISOString()}).`
      : 'A synchronization is already running.', running)
  }

  /**
   * Chunk after chunk, each in its own unit of work: the lock rows live events take for its
   * users and emails first, then its facts read under them, its decisions and its checkpoint.
   * Joomla's users are read two chunks ahead.
   */
  private async loop (state: RunState, job: SyncJob, batchSize: number, signal?: AbortSignal): Promise<SyncResult> {
    let after = job.lastUserId
    const done = await doneChunksAfter(this.database.pool, job.id, after)
    try {
      // Joomla's users of the next pair are read while this pair is written. A read nobody
      // awaits (the run stopped or failed first) must not be an unhandled rejection; one that
      // is awaited still throws there.
      const prefetch = (from: number) => {
        const pair = this.nextPair(from, batchSize, done)
        pair.catch(() => {})
        return pair
      }
      let nextPair = prefetch(after)
      while (!signal?.aborted) {
        const { first, second } = await nextPair
        if (first === null) break
        nextPair = prefetch((second ?? first).readTo)
        // Progress counts each chunk as soon as it commits.
        for (const users of second === null ? [first.users] : [first.users, second.users]) {
          state.advance(await this.writeChunk(job.id, users))
        }
        after = (second ?? first).readTo
        await advanceJob(this.database.pool, job.id, after)
      }
      if (signal?.aborted) return state.end('interrupted', [])
      const message = syncMessage(state.counts)
      await this.jobs.finish(job.id, message, new Date())
      return state.end('done', await this.jobs.skippedUsers(job.id))
    } catch (err) {
      state.fail(err)
      // The job stays 'running' so that the next start resumes it; the error is kept for the admin page.
      await this.jobs.recordError(job.id, String((err as Error).message)).catch(() => {})
      throw err
    }
  }

  private async nextPair (after: number, batchSize: number, done: Array<{ first: number, last: number }>) {
    const first = await this.nextChunk(after, batchSize, done)
    return { first, second: first === null ? null : await this.nextChunk(first.readTo, batchSize, done) }
  }

  /**
   * The next users after `after`, without those of chunks already done (a resumed job's), and
   * the last id read; null at the end of the table.
   */
  private async nextChunk (
    after: number, batchSize: number, done: Array<{ first: number, last: number }>
  ): Promise<{ users: JoomlaUser[], readTo: number } | null> {
    for (;;) {
      const read = await this.users.after(after, batchSize)
      if (read.length === 0) return null
      after = read[read.length - 1].id
      const users = read.filter((u) => !done.some((d) => u.id >= d.first && u.id <= d.last))
      if (users.length > 0) return { users, readTo: after }
    }
  }

  /**
   * One chunk, locked, decided and written with its checkpoint in one unit of work: on Galera,
   * a live event through another node that touches one of its stripes conflicts with it at
   * certification, and one of the two is re-run.
   */
  private async writeChunk (jobId: number, users: JoomlaUser[]): Promise<SyncCounts> {
    // Read once per process (cached) or once a minute: the unit's first statement stays its lock rows.
    const site = await this.database.siteSettings(this.domainId)
    const collation = await this.database.collation()
    return this.database.unit(async (unit) => {
      await unit.lock(chunkLockKeys(users))
      const known = await readChunkFacts(unit.query, collation, this.domainId, users.map((u) => u.id), chunkEmails(users))
      const { decisions, counts } = decideChunk(users, known, site)
      const now = new Date()
      // The checkpoint's statements queue behind the decisions' (none needs another's answer).
      await Promise.all([
        writeDecisions(unit, this.domainId, decisions, now, site),
        saveChunk(unit, jobId, { first: users[0].id, last: users[users.length - 1].id }, counts, skipsOf(decisions), now),
      ])
      return counts
    })
  }

  /**
   * Reads only. Writes of earlier chunks are not there to be seen, so what they would have
   * taken is kept in memory (uf_names and contacts claimed): the counts are those of a real run.
   */
  private async dryRunLoop (state: RunState, batchSize: number, signal?: AbortSignal): Promise<SyncResult> {
    const claimedNames = new Map<string, number>()
    const claimedContacts = new Map<number, number>()
    const skipped: Array<{ id: number, reason: string }> = []
    let after = 0
    try {
      while (!signal?.aborted) {
        const users = await this.users.after(after, batchSize)
        if (users.length === 0) break
        const emails = chunkEmails(users)
        const read = await readChunkFacts(this.poolQuery, await this.database.collation(), this.domainId, users.map((u) => u.id), emails)
        const facts = overlay(read, emails, claimedNames, claimedContacts)
        const { decisions, counts } = decideChunk(users, facts, await this.database.siteSettings(this.domainId))
        for (const d of decisions) {
          if (d.kind === 'skip') skipped.push({ id: d.ufId, reason: d.reason })
          if (d.kind === 'link-existing') claimedContacts.set(d.contactId, d.ufId)
          if (d.kind === 'link-existing' || d.kind === 'create') claimedNames.set(collationKey(d.email), d.ufId)
          if (d.kind === 'already-linked' && d.updateEmail !== null) claimedNames.set(collationKey(d.updateEmail), d.ufId)
        }
        after = users[users.length - 1].id
        state.advance(counts)
      }
      return state.end(signal?.aborted ? 'interrupted' : 'done', skipped)
    } catch (err) {
      state.fail(err)
      throw err
    }
  }
}

/** The lock keys live events take for these users: the user, and the email when it can be linked. */
export function chunkLockKeys (users: JoomlaUser[]): string[] {
  return users.flatMap((u) => [lockKeys.user(u.id), ...(emailProblem(u.email) === null ? [lockKeys.email(u.email)] : [])])
}

function chunkEmails (users: JoomlaUser[]): string[] {
  return [...new Set(users.filter((u) => emailProblem(u.email) === null).map((u) => normalizeEmail(u.email)))]
}

function skipsOf (decisions: SyncDecision[]): Array<{ ufId: number, reason: string }> {
  return decisions.flatMap((d) => (d.kind === 'skip' ? [{ ufId: d.ufId, reason: d.reason }] : []))
}

/** A dry run's view of the database: what its earlier chunks would have written, added. */
function overlay (
  facts: ChunkFacts, emails: string[], claimedNames: Map<string, number>, claimedContacts: Map<number, number>
): ChunkFacts {
  for (const [email, list] of facts.candidates) {
    facts.candidates.set(email, list.map((c) => {
      const claimer = c.linkedUfId === null ? claimedContacts.get(c.contactId) : undefined
      return claimer === undefined ? c : { contactId: c.contactId, linkedUfId: claimer }
    }))
  }
  for (const email of emails) {
    const claimer = claimedNames.get(collationKey(email))
    if (claimer !== undefined && !facts.ufNameHolders.has(email)) facts.ufNameHolders.set(email, claimer)
  }
  return facts
}

/** Counts and progress of one run, shared by the loop and whoever watches it. */
class RunState {
  counts: SyncCounts
  private status: SyncProgress['status'] = 'running'
  private message: string | null = null
  private error: string | null = null
  private readonly startedAt = new Date()
  private readonly doneAtStart: number

  constructor (
    readonly jobId: number | null,
    readonly dryRun: boolean,
    readonly resumed: boolean,
    private total: number,
    counts: SyncCounts,
    private readonly onProgress?: (p: SyncProgress) => void
  ) {
    this.counts = counts
    this.doneAtStart = counts.checked
  }

  runFor (done: Promise<SyncResult>): SyncRun {
    // Watchers read progress; a rejection is theirs to handle through `done`.
    done.catch(() => {})
    this.emit()
    return { jobId: this.jobId, dryRun: this.dryRun, resumed: this.resumed, progress: () => this.progress(), done }
  }

  advance (chunk: SyncCounts): void {
    this.counts = addCounts(this.counts, chunk)
    if (this.counts.checked > this.total) this.total = this.counts.checked
    this.emit()
  }

  end (status: 'done' | 'interrupted', skippedUsers: Array<{ id: number, reason: string }>): SyncResult {
    this.status = status
    this.total = this.counts.checked > this.total || status === 'done' ? this.counts.checked : this.total
    this.message = status === 'done'
      ? (this.dryRun ? dryRunMessage(this.counts) : syncMessage(this.counts))
      : 'Synchronization interrupted; run it again to resume.'
    this.emit()
    return {
      jobId: this.jobId,
      dryRun: this.dryRun,
      status,
      resumed: this.resumed,
      counts: this.counts,
      message: this.message,
      skippedUsers,
      durationMs: Date.now() - this.startedAt.getTime(),
    }
  }

  fail (err: unknown): void {
    this.status = 'failed'
    // Errors of the driver and of JoomlaUsers: always Error objects.
    this.error = (err as Error).message
    this.emit()
  }

  progress (): SyncProgress {
    const elapsedS = (Date.now() - this.startedAt.getTime()) / 1000
    const doneHere = this.counts.checked - this.doneAtStart
    const rate = elapsedS > 0 ? doneHere / elapsedS : 0
    const left = Math.max(this.total - this.counts.checked, 0)
    return {
      jobId: this.jobId,
      dryRun: this.dryRun,
      status: this.status,
      done: this.counts.checked,
      total: this.total,
      counts: { ...this.counts },
      startedAt: this.startedAt,
      rate,
      etaS: rate > 0 ? left / rate : null,
      message: this.message,
      error: this.error,
    }
  }

  private emit (): void {
    this.onProgress?.(this.progress())
  }
}
