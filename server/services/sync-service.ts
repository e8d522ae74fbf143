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
  addClaims, addCounts, decideChunk, dryRunMessage, freesNoName, noClaims, readAheadHolds, syncMessage, withClaims, zeroCounts,
  type SyncCounts, type SyncDecision,
} from '../domain/sync.js'
import {
  JoomlaUsers, SyncClaim, SyncJobs, latestJobProgress, lastDoneJob, SYNC_HEARTBEAT_MS, advanceJob, doneChunksAfter, readChunkFacts,
  readFactsAhead, chunkCheckpoint, writeDecisions, type SyncJob,
} from '../data/sync-store.js'
import type { SiteSettings } from '../domain/contact.js'
import type { Collation } from '../data/collation.js'

export type { SyncJob }
import { rerunAsDeadlock, type Database, type Unit } from '../data/db.js'
import { SyncBusyError } from '../errors.js'

export const DEFAULT_BATCH_SIZE = 1000
export const MAX_BATCH_SIZE = 5000
/**
 * How long a chunk written ahead waits for the chunk before it: a chunk takes tens of
 * milliseconds, and a wait that lasts is most likely the chunk before waiting, in the database,
 * for a row this one wrote (InnoDB checks a unique key's neighbouring rows too: a uf_name given up
 * moments before, not yet purged, is enough), which neither would end.
 */
export const READ_AHEAD_WAIT_MS = 1000
/**
 * Attempts of a chunk's unit of work. A live event through another Galera node that touches one
 * of the chunk's stripes wins certification and the chunk is re-run (live events come first): a
 * background job keeps trying for longer than an event's unit (MAX_ATTEMPTS, about 2 s) before
 * the job fails, so that a busy site's steady saves do not stop it (backing off up to 1 s each
 * time, 40 attempts are about 20 s). Seen: a sync through one node while 666 users were saved
 * through another, on a loaded machine, failed its chunk after 10 attempts (test/galera.test.ts).
 */
export const SYNC_CHUNK_ATTEMPTS = 40

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
  /** Reads outside a unit of work (the dry run's, and the facts read ahead). */
  private readonly poolReads = { query: async (text: string, values: unknown[]) => (await this.database.pool.query(text, values))[0] }

  /**
   * Chunks written from facts read ahead (`used`), and chunks whose facts read ahead were
   * dropped, to be read again under their locks (`reread`): something else wrote under them
   * meanwhile, the chunk before was slow to end, or the attempt failed (a deadlock).
   */
  readonly readAhead = { used: 0, reread: 0 }

  /**
   * How long a chunk written from facts read ahead waits for the chunk before it to end, before
   * it gives up and is re-run (READ_AHEAD_WAIT_MS, at most half the lock wait: see writeChunk).
   */
  private readonly readAheadWaitMs: number

  /** How often the running sync renews its claim (SYNC_HEARTBEAT_MS; shorter in tests). */
  private readonly heartbeatMs: number

  constructor (
    private readonly database: Database,
    private readonly users: JoomlaUsers,
    private readonly domainId: number,
    opts: { heartbeatMs?: number, readAheadWaitMs?: number } = {}
  ) {
    this.heartbeatMs = opts.heartbeatMs ?? SYNC_HEARTBEAT_MS
    this.readAheadWaitMs = opts.readAheadWaitMs ?? Math.min(READ_AHEAD_WAIT_MS, database.lockTimeoutS * 500)
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
   * Chunk after chunk, each in its own unit of work, with its lock rows, its decisions and its
   * checkpoint. Joomla's users are read two chunks ahead; each chunk's facts are read and
   * decided while the chunk before it is written, and it writes its decisions then, checked
   * by its lock rows before it commits (writeChunk): two chunks are in flight at most.
   */
  private async loop (state: RunState, job: SyncJob, batchSize: number, signal?: AbortSignal): Promise<SyncResult> {
    const done = await doneChunksAfter(this.database.pool, job.id, job.lastUserId)
    // The chunk being written, and for the last of a pair, the users read up to (its pair is done when it is).
    let inFlight = null as InFlight | null
    const settle = async ({ chunk, readTo }: InFlight) => {
      // Progress counts each chunk as soon as it commits.
      state.advance(await chunk.done)
      if (readTo !== null) await advanceJob(this.database.pool, job.id, readTo)
    }
    try {
      // Joomla's users of the next pair are read while this pair is written. A read nobody
      // awaits (the run stopped or failed first) must not be an unhandled rejection; one that
      // is awaited still throws there.
      const prefetch = (from: number) => {
        const pair = this.nextPair(from, batchSize, done)
        pair.catch(() => {})
        return pair
      }
      let nextPair = prefetch(job.lastUserId)
      while (!signal?.aborted) {
        const { first, second } = await nextPair
        if (first === null) break
        nextPair = prefetch((second ?? first).readTo)
        const thenFirst = nextPair.then((p) => p.first?.users ?? null)
        thenFirst.catch(() => {})
        const chunks = second === null
          ? [{ users: first.users, nextUsers: thenFirst, readTo: first.readTo }]
          : [
              { users: first.users, nextUsers: Promise.resolve(second.users), readTo: null },
              { users: second.users, nextUsers: thenFirst, readTo: second.readTo },
            ]
        for (const c of chunks) {
          const before = inFlight
          inFlight = { chunk: this.writeChunk(job.id, c.users, c.nextUsers, before?.chunk ?? null), readTo: c.readTo }
          if (before !== null) await settle(before)
        }
      }
      const last = inFlight
      inFlight = null
      if (last !== null) await settle(last)
      if (signal?.aborted) return state.end('interrupted', [])
      const message = syncMessage(state.counts)
      await this.jobs.finish(job.id, message, new Date())
      return state.end('done', await this.jobs.skippedUsers(job.id))
    } catch (err) {
      // A chunk still in flight ends before the job is left: it fails, or commits and counts.
      const left = inFlight
      if (left !== null) await settle(left).catch(() => {})
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
   *
   * When the chunk before it (`previous`) read this chunk's facts ahead and decided them, this
   * chunk writes those decisions at once, while `previous` is written, and takes its lock rows
   * last, once previous has ended. It commits only if their counters show that nothing but
   * previous wrote under them since the facts were read (readAheadHolds), and previous committed
   * the decisions the facts were laid over; else it rolls back and is re-run. A re-run, or a
   * chunk without facts read ahead, waits for previous to end, takes its locks first, then reads
   * its facts under them.
   */
  private writeChunk (
    jobId: number, users: JoomlaUser[], nextUsers: Promise<JoomlaUser[] | null>, previous: ChunkInFlight | null
  ): ChunkInFlight {
    const decided: ChunkInFlight['decided'] = { current: null }
    let setNext!: (next: Promise<AheadChunk | null>) => void
    const next = new Promise<AheadChunk | null>((resolve) => { setNext = resolve })
    const run = async (): Promise<SyncCounts> => {
      // Read once per process (cached) or once a minute: the unit's first statement stays its lock rows.
      const site = await this.database.siteSettings(this.domainId)
      const collation = await this.database.collation()
      const early = previous === null ? null : await previous.next
      const keys = early?.keys ?? [...new Set(chunkLockKeys(users))]
      let attempts = 0
      let nextStarted = false
      return this.database.unit(async (unit) => {
        const ahead = attempts++ === 0 ? early : null
        let chunk: ReturnType<typeof decideChunk>
        if (ahead !== null) {
          chunk = ahead.decided
        } else {
          // In id order: the chunk before is written first.
          await previous?.done
          await unit.lock(keys)
          const known = await readChunkFacts(unit, collation, this.domainId, users.map((u) => u.id), chunkEmails(users))
          chunk = decideChunk(users, known, site)
        }
        const { decisions, counts } = chunk
        decided.current = decisions
        // The next chunk's facts, read while this one is written (the first attempt's: the next
        // chunk checks that the decisions laid over them are the ones committed).
        if (!nextStarted) {
          nextStarted = true
          setNext(this.readNextAhead(jobId, { users, keys, decisions }, previous?.done ?? null, nextUsers, site, collation)
            // A read ahead that failed is only a read under the locks more. (It fails only when
            // the database does, or Joomla's users fail to load: then so does the run.)
            /* c8 ignore next */
            .catch(() => null))
        }
        const now = new Date()
        const range = { first: users[0].id, last: users[users.length - 1].id }
        const checkpoint = chunkCheckpoint(jobId, range, counts, skipsOf(decisions), now)
        if (ahead === null) {
          // Under its locks already: the checkpoint goes in the decisions' batch.
          checkpoint.check(await writeDecisions(unit, this.domainId, chunk, now, site, checkpoint.statements))
          return counts
        }
        // Whatever ends this attempt (facts changed, the wait given up, a deadlock with a live
        // event) sends the chunk back to its facts under its locks.
        let locked: Awaited<ReturnType<Unit['lockAndCount']>>
        try {
          await writeDecisions(unit, this.domainId, chunk, now, site)
          // Locked only once previous has ended (committed or not), so that it commits first. The
          // wait is in Node, where the database cannot see it: one of previous's statements may
          // wait for a row this chunk wrote (READ_AHEAD_WAIT_MS), so the wait is given up, and
          // the chunk re-run, well before that statement's lock wait ends.
          if (!await endsWithin(previous!.done, this.readAheadWaitMs)) throw staleReadAhead()
          // The checkpoint in the locks' round trip, after them: the job's row is updated by
          // previous too, which must not wait for this chunk. Rolled back with the chunk when
          // the facts did not hold.
          locked = await unit.lockAndCount(keys, checkpoint.statements)
          const holds = readAheadHolds(ahead.counters, locked.counters, ahead.previous) &&
            previous!.decided.current === ahead.previous.decisions
          if (!holds) throw staleReadAhead()
        } catch (err) {
          this.readAhead.reread++
          throw err
        }
        this.readAhead.used++
        checkpoint.check(locked.then)
        return counts
      }, { attempts: SYNC_CHUNK_ATTEMPTS })
    }
    const done = run()
    // Whoever awaits the read ahead is not left waiting by a chunk that failed before deciding.
    done.catch(() => setNext(Promise.resolve(null)))
    return { decided, done, next }
  }

  /**
   * The next chunk's facts and decisions, read on another connection without locks while
   * `previous` is written, once the chunk before previous has ended (`before`): with previous's decisions
   * laid over them (whether or not the read saw its commit), and the lock rows' counters as the
   * read saw them, which the chunk checks under its locks (readAheadHolds). Null when there is
   * no next chunk, when previous gives up a uf_name, or when the chunk before previous failed.
   */
  private async readNextAhead (
    jobId: number, previous: { users: JoomlaUser[], keys: string[], decisions: SyncDecision[] }, before: Promise<unknown> | null,
    nextUsers: Promise<JoomlaUser[] | null>, site: SiteSettings, collation: Collation
  ): Promise<AheadChunk | null> {
    if (!freesNoName(previous.decisions)) return null
    const users = await nextUsers
    if (users === null) return null
    // Made while the chunk before previous is written: only the reads need it to have ended.
    const chunk = { ufIds: users.map((u) => u.id), emails: chunkEmails(users), keys: [...new Set(chunkLockKeys(users))] }
    // Only previous may be uncommitted when the facts are read.
    await before
    const { counters, previousCommitted, facts: read } =
      await readFactsAhead(this.poolReads, collation, this.domainId, chunk, jobId, previous.users[0].id)
    const facts = withClaims(read, chunk.emails, addClaims(noClaims(), previous.decisions))
    return {
      keys: chunk.keys,
      counters,
      previous: { keys: new Set(previous.keys), committed: previousCommitted, decisions: previous.decisions },
      decided: decideChunk(users, facts, site),
    }
  }

  /**
   * Reads only. Writes of earlier chunks are not there to be seen, so what they would have
   * taken is kept in memory (uf_names and contacts claimed): the counts are those of a real run.
   */
  private async dryRunLoop (state: RunState, batchSize: number, signal?: AbortSignal): Promise<SyncResult> {
    const claims = noClaims()
    const skipped: Array<{ id: number, reason: string }> = []
    let after = 0
    try {
      while (!signal?.aborted) {
        const users = await this.users.after(after, batchSize)
        if (users.length === 0) break
        const emails = chunkEmails(users)
        const read = await readChunkFacts(this.poolReads, await this.database.collation(), this.domainId, users.map((u) => u.id), emails)
        const { decisions, counts } = decideChunk(users, withClaims(read, emails, claims), await this.database.siteSettings(this.domainId))
        addClaims(claims, decisions)
        skipped.push(...skipsOf(decisions).map((s) => ({ id: s.ufId, reason: s.reason })))
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

/** A chunk's facts read ahead, and what they decide (SyncService.readNextAhead). */
interface AheadChunk {
  /** Its lock keys, each once. */
  keys: string[]
  /** The lock rows' counters when the facts were read. */
  counters: Map<string, number>
  /** The chunk written meanwhile: its lock keys, whether the read saw its commit, and the decisions laid over the facts. */
  previous: { keys: Set<string>, committed: boolean, decisions: SyncDecision[] }
  decided: ReturnType<typeof decideChunk>
}

/** A chunk being written (SyncService.writeChunk). */
interface ChunkInFlight {
  /** The decisions of its latest attempt. */
  decided: { current: SyncDecision[] | null }
  /** Its counts, once it committed. */
  done: Promise<SyncCounts>
  /** The next chunk's facts and decisions, read ahead while it is written. */
  next: Promise<AheadChunk | null>
}

interface InFlight { chunk: ChunkInFlight, readTo: number | null }

/** A chunk's facts read ahead that may not hold: its unit is re-run (as a deadlock is), under its locks. */
const staleReadAhead = () => rerunAsDeadlock('facts read ahead may have changed: re-run under the locks')

/** Whether `p` settles (either way) within `ms`. */
async function endsWithin (p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([p.then(() => true, () => true), late])
  } finally {
    clearTimeout(timer)
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
