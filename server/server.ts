// Starts the bridge: checks the schema, listens, and closes gracefully on SIGTERM/SIGINT
// (in-flight requests finish, new ones get 503, exit within 10 s).
import { setFlagsFromString } from 'node:v8'
import closeWithGrace from 'close-with-grace'
import { buildApp } from './http/app.js'
import { CliError } from './cli-args.js'
import { configDomains, type Config } from './config.js'

/**
 * How far V8 lets the old generation grow past what the last full collection kept before the
 * next one starts: 1 + this / 100 times, V8's own upper bound (its default picks about 1.5 for
 * the server). Each full collection marks the whole live heap, about 35 MB, for 30–50 ms on
 * both cores, and the events that arrive meanwhile wait: at 2,000 logins/s, one came every
 * 3.5–7.5 s and left 30–100 logins over 10 ms each time. At 4 ×, one comes every 40 s or so at
 * that rate, the heap reaching about 140 MB in between (docs/benchmarks.md, Logins).
 */
export const HEAP_GROWING_PERCENT = 300

/** The growing flag the server sets: the operator's own from node's command line, if given, wins. */
export function heapGrowingFlag (execArgv: readonly string[]): string {
  return execArgv.find((arg) => /^--heap[-_]growing[-_]percent=/.test(arg)) ?? `--heap-growing-percent=${HEAP_GROWING_PERCENT}`
}

/**
 * V8's garbage collector as the server wants it. Allocation-site pretenuring off: once most
 * objects of an allocation site have outlived a scavenge (as a burst of events makes a request's
 * objects do), V8 allocates that site's objects in the old generation, where each request's keep
 * the young objects they point to alive until a full collection. Off, at 2,000 logins/s:
 * scavenges of 2.6–3.2 against 4.1–5.1 ms, a fifth to a half of the promotions, and 10–13 % less
 * CPU per login at saturation. And full collections less often (HEAP_GROWING_PERCENT).
 */
function tuneGarbageCollector (): void {
  setFlagsFromString('--no-allocation-site-pretenuring')
  setFlagsFromString(heapGrowingFlag(process.execArgv))
}

export async function startServer (config: Config) {
  tuneGarbageCollector()
  const app = await buildApp(config)
  const problem = await app.services.health.schemaProblem(configDomains(config))
    .catch((err: Error) => `cannot reach the database: ${err.message}`)
  if (problem) {
    await app.close()
    throw new CliError(problem)
  }
  // Runs on SIGTERM/SIGINT: tested in a child process (test/cli.test.ts), whose coverage tap
  // does not merge.
  /* c8 ignore start */
  const grace = closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    app.log.info({ signal, err }, 'closing')
    await app.close()
  })
  /* c8 ignore stop */
  app.addHook('onClose', async () => grace.uninstall())
  // Answers sent once closing has begun say `Connection: close`: the server closes only the
  // connections idle when it starts closing, so the keep-alive connection of a request in
  // flight would otherwise stay open for keepAliveTimeout (72 s) and hold the exit until the
  // 10 s deadline forces it (exit code 1).
  let closing = false
  app.addHook('preClose', (done) => { closing = true; done() })
  app.addHook('onSend', (request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
  try {
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    // Nothing may keep the process alive after a failed start: a process manager restarts it.
    await app.close()
    throw new CliError(listenProblem(err as NodeJS.ErrnoException, config))
  }
  return app
}

/** Why the bridge could not listen, in one line. */
export function listenProblem (err: NodeJS.ErrnoException, config: Pick<Config, 'host' | 'port'>): string {
  const where = `${config.host}:${config.port}`
  if (err.code === 'EADDRINUSE') return `cannot listen on ${where}: the port is already in use (stop the other process or set PORT)`
  if (err.code === 'EACCES') return `cannot listen on ${where}: permission denied (use a port above 1023 or set PORT)`
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') {
    return `cannot listen on ${where}: no such address on this machine (set HOST)`
  }
  return `cannot listen on ${where}: ${err.message.replace(/\s+/g, ' ')}`
}
