// Fault injection for test/faults.test.ts: a private MariaDB server that a test may stop and
// restart (never the shared one at 3306), the bridge as a child process that a test may kill,
// and a client that delivers events like the Joomla plugin's outbox (same jti and body on every
// retry, re-signed; anything but a 200 keeps the event for later).
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, open } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import mysql from 'mysql2/promise'
import { signEvent } from '../server/protocol/sign.js'
import { freePort, childEnv, eventually, SECRET, ADMIN_TOKEN, SITE } from './helper.js'

const run = promisify(execFile)
export const BIN = fileURLToPath(new URL('../bin/civicrm-bridge.js', import.meta.url))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Teardown { teardown (fn: () => unknown): void }

export interface PrivateMariaDb {
  /** mysql://root@127.0.0.1:<port>/test: a server URL for createFixtureDatabase. */
  serverUrl: string
  port: number
  running: boolean
  /** Stops the server with this signal and waits for the process to end. */
  stop (signal: 'SIGTERM' | 'SIGKILL'): Promise<void>
  /** SIGSTOP: the server keeps its connections open and stops answering (a hung database); resolves once it is stopped. */
  pause (): Promise<void>
  /** SIGCONT after pause(). */
  resume (): void
  /** Starts the server again on the same data directory and port; resolves once it answers. */
  start (): Promise<number>
  /** The server's error log, for failure messages. */
  log (): Promise<string>
}

/**
 * A MariaDB server of its own (mariadb-install-db + mariadbd, a few hundred ms each), on a free
 * port, its data in a temporary directory; killed and removed at teardown.
 */
export async function privateMariaDb (t: Teardown): Promise<PrivateMariaDb> {
  const dir = await mkdtemp(join(tmpdir(), 'cbt-mariadb-'))
  const datadir = join(dir, 'data')
  const user = userInfo().username
  let child: ChildProcess | null = null
  let exited: Promise<void> = Promise.resolve()
  t.teardown(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
    await rm(dir, { recursive: true, force: true })
  })
  const sizes = ['--innodb-buffer-pool-size=32M', '--innodb-log-file-size=8M']
  const installArgs = ['--no-defaults', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db']
  await run('mariadb-install-db', [...installArgs, `--user=${user}`, ...sizes], { timeout: 60_000 })
  const port = await freePort()
  const serverUrl = `mysql://root@127.0.0.1:${port}/test`
  const errLog = join(dir, 'error.log')

  const start = async (): Promise<number> => {
    const started = Date.now()
    const log = await open(errLog, 'a')
    child = spawn('mariadbd', [
      '--no-defaults', `--datadir=${datadir}`, `--port=${port}`, `--socket=${join(dir, 'sock')}`, `--pid-file=${join(dir, 'pid')}`,
      '--bind-address=127.0.0.1', `--user=${user}`, '--skip-log-bin', '--max-connections=300', ...sizes,
    ], { stdio: ['ignore', log.fd, log.fd] })
    const proc = child
    // If this process ends without its teardown (a timeout), the server must not outlive it.
    const orphan = () => proc.kill('SIGKILL')
    process.once('exit', orphan)
    exited = new Promise((resolve) => proc.once('exit', () => { process.off('exit', orphan); resolve() }))
    await log.close()
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`mariadbd exited at start: ${await api.log()}`)
      try {
        const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 1000 })
        await conn.end()
        api.running = true
        return Date.now() - started
      } catch (err) {
        if (Date.now() - started > 30_000) throw new Error(`mariadbd did not answer within 30 s: ${(err as Error).message}`)
        await sleep(50)
      }
    }
  }
  const api: PrivateMariaDb = {
    serverUrl,
    port,
    running: false,
    async stop (signal) {
      api.running = false
      child?.kill(signal)
      await exited
    },
    start,
    async pause () {
      child!.kill('SIGSTOP')
      // The signal takes effect when the kernel next runs the process: wait until it is stopped ('T').
      const { readFile } = await import('node:fs/promises')
      for (let i = 0; i < 500 && !/^\d+ \(.*\) T /.test(await readFile(`/proc/${child!.pid}/stat`, 'utf8')); i++) await sleep(10)
    },
    resume () { child?.kill('SIGCONT') },
    async log () {
      const { readFile } = await import('node:fs/promises')
      return readFile(errLog, 'utf8').catch(() => '')
    },
  }
  await start()
  return api
}

export interface BridgeProcess {
  url: string
  child: ChildProcess
  /** Resolves with the exit code and signal. */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** The last 20 kB of its log (stdout) and stderr. */
  stderr (): string
}

/** `civicrm-bridge serve` in a child process on a free port; resolves once /health answers; killed at teardown. */
export async function startBridge (t: Teardown, dbUrl: string, env: Record<string, string> = {}): Promise<BridgeProcess> {
  const port = await freePort()
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: childEnv({
      CIVICRM_DB_URL: dbUrl, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'error', PORT: String(port), ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // Its log lines (stdout) and errors, the last 20 kB, for failure messages.
  let stderr = ''
  const keep = (d: Buffer) => { stderr = (stderr + d.toString()).slice(-20_000) }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const url = `http://127.0.0.1:${port}`
  const started = await eventually('the bridge to answer /health',
    async () => child.exitCode !== null ? 'exited' : (await fetch(`${url}/health`)).ok && 'up', { everyMs: 50 })
    .catch((err: Error) => { throw new Error(`bridge did not start (${err.message}): ${stderr}`) })
  if (started === 'exited') throw new Error(`bridge exited at start (${child.exitCode}): ${stderr}`)
  return { url, child, exited, stderr: () => stderr }
}

export interface Attempt {
  jti: string
  /** HTTP status, or 0 for a network error (connection refused or reset). */
  status: number
  ms: number
  retryAfter: string | null
  error: string | null
  at: number
}

export interface Queued { jti: string, body: string, userId: number, attempts: number }
export interface Answer { action: string, contactId: number | null, reason: string | null }

/**
 * The Joomla plugin's outbox: an event stays queued until a 200, and every delivery of it sends
 * the same jti and the same body bytes under a freshly signed token.
 */
export class Outbox {
  readonly queue = new Map<string, Queued>()
  /** The 200 answer that took each event off the queue. */
  readonly answers = new Map<string, Answer>()
  readonly attempts: Attempt[] = []
  /** Every event ever queued, delivered or not. */
  readonly all = new Map<string, Queued>()

  add (body: string, userId: number): string {
    const { jti } = signEvent(SECRET, SITE, body)
    const q = { jti, body, userId, attempts: 0 }
    this.queue.set(jti, q)
    this.all.set(jti, q)
    return jti
  }

  async send (baseUrl: string, q: Queued, timeoutMs = 15_000): Promise<Attempt> {
    const signed = signEvent(SECRET, SITE, q.body, { jti: q.jti })
    q.attempts++
    const started = performance.now()
    const attempt: Attempt = { jti: q.jti, status: 0, ms: 0, retryAfter: null, error: null, at: Date.now() }
    try {
      const res = await fetch(`${baseUrl}/v1/joomla/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${signed.token}` },
        body: q.body,
        signal: AbortSignal.timeout(timeoutMs),
      })
      const text = await res.text()
      attempt.status = res.status
      attempt.retryAfter = res.headers.get('retry-after')
      if (res.status === 200) {
        this.answers.set(q.jti, JSON.parse(text) as Answer)
        this.queue.delete(q.jti)
      } else {
        attempt.error = text.slice(0, 200)
      }
    } catch (err) {
      attempt.error = String((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message)
    }
    attempt.ms = performance.now() - started
    this.attempts.push(attempt)
    return attempt
  }

  /**
   * One pass over what is queued now, `concurrency` requests at a time, each worker pausing
   * `paceMs` between requests; `onAttempt` sees every answer as it comes.
   */
  async pass (baseUrl: string, opts: { concurrency: number, paceMs?: number, onAttempt?: (a: Attempt) => void }): Promise<Attempt[]> {
    const todo = [...this.queue.values()]
    const done: Attempt[] = []
    let next = 0
    const worker = async () => {
      while (next < todo.length) {
        const q = todo[next++]
        const a = await this.send(baseUrl, q)
        done.push(a)
        opts.onAttempt?.(a)
        if (opts.paceMs) await sleep(opts.paceMs)
      }
    }
    await Promise.all(Array.from({ length: opts.concurrency }, worker))
    return done
  }

  /** Passes until the queue is empty (a short wait between passes); throws after `maxPasses`. */
  async drain (baseUrl: string, opts: { concurrency: number, maxPasses?: number, waitMs?: number } = { concurrency: 20 }): Promise<number> {
    let passes = 0
    while (this.queue.size > 0) {
      if (++passes > (opts.maxPasses ?? 20)) {
        const last = JSON.stringify(this.attempts.slice(-3))
        throw new Error(`outbox not drained after ${passes - 1} passes: ${this.queue.size} left, last answers ${last}`)
      }
      if (passes > 1) await sleep(opts.waitMs ?? 200)
      await this.pass(baseUrl, { concurrency: opts.concurrency })
    }
    return passes
  }

  /** Deliveries after the first, over all events. */
  get retries (): number {
    return [...this.all.values()].reduce((n, q) => n + Math.max(q.attempts - 1, 0), 0)
  }
}

/** Waits until `check` is true, polling every 10 ms (at most `timeoutMs`). */
export async function waitFor (check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}
