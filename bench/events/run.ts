// Event throughput: autocannon against (a) a bare Fastify route with one indexed SELECT,
// (b) signed login events of already-linked users, (c) signed registrations of new users,
// (d) = (b) with pino at info writing to a file; the floors (e) (the registration's own
// statements) and (f) (logins' batched reads and write-behind batches), sent by a minimal
// mysql2 client (bench/events/floors.ts) at the same concurrency; (g) the login floor over
// HTTP: (f)'s work behind a bare Fastify route (bench/events/bare-server.ts), the logins' floor
// of issue #20's target; and open-loop runs at fixed offered rates (bench/events/open-loop.ts), against the
// bridge and then against the floors ((g) for logins, (e) for registrations). Each server runs in its own process; the load
// generator signs every request with a fresh jti (a reused jti would be a replay).
//   npx tsx bench/events/run.ts [--duration 10] [--connections 100] [--users 20000] [--cpu-prof DIR]
//     [--runs a,b,c,d,e,f,g,o] [--repeat 5] [--rates login:500,login:2000,registration:200] [--rate-duration 30]
//     [--node-flags=--max-semi-space-size=4] [--server-log FILE]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cpus, loadavg, totalmem, tmpdir } from 'node:os'
import { openSync, statSync, closeSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import mysql from 'mysql2/promise'
import { createFixtureDatabase, withDatabaseName } from '../../server/dev/fixture.js'
import { LoginFloor, RegistrationReplay, registrationBody, captureRegistration, contextReadOf, floorPool } from './floors.js'
import { openLoop, openLoopClient, openLoopOf, type OpenLoopFigures } from './open-loop.js'
import { signEvent } from '../../server/protocol/sign.js'
import { freePort } from '../../test/helper.js'
import { nodeArgs } from '../node-args.js'

const { values: args } = parseArgs({ options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '100' }, users: { type: 'string', default: '20000' }, 'cpu-prof': { type: 'string' }, runs: { type: 'string', default: 'a,b,c,d,e,f,g,o' }, repeat: { type: 'string', default: '5' }, rates: { type: 'string', default: 'login:500,login:2000,registration:200' }, 'rate-duration': { type: 'string', default: '30' }, 'rate-connections': { type: 'string', default: '256' }, 'node-flags': { type: 'string', default: '' }, 'server-log': { type: 'string' }, server: { type: 'string', default: process.env.DEMO_DB_SERVER_URL ?? 'mysql://root@127.0.0.1:3306/test' } } })
const DURATION = Number(args.duration)
const CONNECTIONS = Number(args.connections)
const USERS = Number(args.users)
const SECRET = 'bench-secret-bench-secret-bench-secret-0001'
const ADMIN = 'bench-admin-bench-admin-bench-admin-00001'

async function seed (url: string): Promise<void> {
  const conn = await mysql.createConnection({ uri: url })
  try {
    for (let start = 1; start <= USERS; start += 5000) {
      const ids = Array.from({ length: Math.min(5000, USERS - start + 1) }, (_, i) => start + i)
      await conn.query(`INSERT INTO civicrm_contact (id, contact_type, first_name, last_name, display_name, sort_name, hash) VALUES ${ids.map((id) => `(${id + 1000}, 'Individual', 'U', 'N${id}', 'U N${id}', 'N${id}, U', md5(${id}))`).join(',')}`)
      await conn.query(`INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) VALUES ${ids.map((id) => `(${id + 1000}, 1, 'user${id}@example.org', 1)`).join(',')}`)
      await conn.query(`INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES ${ids.map((id) => `(1, ${id}, 'user${id}@example.org', ${id + 1000})`).join(',')}`)
    }
  } finally {
    await conn.end()
  }
}

async function startServer (script: string[], env: Record<string, string>, logFile?: string): Promise<{ url: string, child: ChildProcess }> {
  const port = await freePort()
  const out = logFile ? openSync(logFile, 'w') : 'ignore'
  const child = spawn(process.execPath, script, { env: { PATH: process.env.PATH!, ...env, PORT: String(port) }, stdio: ['ignore', out, 'inherit'] })
  if (typeof out === 'number') closeSync(out)
  for (let i = 0; i < 200; i++) {
    try { await fetch(`http://127.0.0.1:${port}/health`); return { url: `http://127.0.0.1:${port}`, child } } catch { await new Promise((resolve) => setTimeout(resolve, 100)) }
  }
  throw new Error(`server ${script.join(' ')} did not start`)
}

async function stop (child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.on('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

interface Figures { name: string, rps: number, p50: number, p99: number, non2xx: number, errors: number, total: number, cpu: CpuPerRequest | null }

/** CPU time (user + system) of a process so far, in ms, from /proc (Linux only; null elsewhere). */
function cpuMs (pid: number | undefined): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10 // utime + stime, in 10 ms ticks
  } catch { return null }
}
/** Per answered request; `bridgeUs` null for the floors (no server: the client is the load generator). */
interface CpuPerRequest { bridgeUs: number | null, mariadbUs: number, loadUs: number }
/** The server's own process (its pid file; other mariadbd may run on the machine, e.g. a test's Galera nodes), else any mariadbd. */
const MARIADB_PID = await (async () => {
  try {
    const conn = await mysql.createConnection({ uri: args.server })
    const [[{ f }]] = await conn.query('SELECT @@pid_file AS f') as unknown as [[{ f: string }]]
    await conn.end()
    return Number(readFileSync(f, 'utf8').trim())
  } catch {
    return Number(spawnSync('pidof', ['-s', 'mariadbd']).stdout?.toString().trim()) || undefined
  }
})()

/** Where the CPU went, per answered request: the server, MariaDB and the load generator share two cores. */
function cpuMeter (serverPid: number | undefined): (requests: number) => CpuPerRequest | null {
  const pids = [serverPid, MARIADB_PID, process.pid]
  const before = pids.map(cpuMs)
  return (requests) => {
    const after = pids.map(cpuMs)
    const per = (i: number) => Math.round((after[i]! - before[i]!) * 1000 / requests)
    if (serverPid === undefined) return before.slice(1).every((v) => v !== null) ? { bridgeUs: null, mariadbUs: per(1), loadUs: per(2) } : null
    return before.every((v) => v !== null) ? { bridgeUs: per(0), mariadbUs: per(1), loadUs: per(2) } : null
  }
}

// Requests are signed before a run, so the load generator spends its CPU sending, not signing
// (it shares the machine's cores with the bridge and MariaDB).
const POOL = Number(process.env.BENCH_REQUEST_POOL ?? 60_000)

async function load (name: string, url: string, path: string, serverPid: number | undefined, makeRequest?: () => { body: string, headers: Record<string, string> }): Promise<Figures> {
  const pool = makeRequest ? Array.from({ length: POOL }, makeRequest) : []
  let next = 0
  const meter = cpuMeter(serverPid)
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: DURATION,
    requests: [makeRequest
      ? { method: 'POST', path, setupRequest: (req) => ({ ...req, ...(pool[next++] ?? makeRequest()) }) }
      : { method: 'GET', path, setupRequest: (req) => ({ ...req, path: `${path}${1 + Math.floor(Math.random() * USERS)}` }) }],
  })
  return { name, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors, total: result.requests.total, cpu: meter(result.requests.total) }
}

/** A floor: CONNECTIONS concurrent callers of `op` in a closed loop for DURATION seconds, in this process (no server). */
async function closedLoop (name: string, op: (k: number) => Promise<void>): Promise<Figures> {
  const latencies: number[] = []
  let errors = 0
  let k = 0
  const meter = cpuMeter(undefined)
  const start = performance.now()
  const end = start + DURATION * 1000
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now()
      try { await op(k++); latencies.push(performance.now() - t0) } catch (err) { if (errors++ === 0) console.error(`${name}: ${(err as Error).message}`) }
    }
  }))
  const elapsed = (performance.now() - start) / 1000
  const sorted = latencies.sort((x, y) => x - y)
  const q = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? NaN)
  return { name, rps: sorted.length / elapsed, p50: q(0.5), p99: q(0.99), non2xx: 0, errors, total: sorted.length, cpu: meter(sorted.length + errors) }
}

function loginRequest () {
  const id = 1 + Math.floor(Math.random() * USERS)
  const body = JSON.stringify({ event: 'onUserLogin', user: { id, username: `user${id}`, email: `user${id}@example.org`, name: `U N${id}`, block: 0 }, occurredAt: new Date().toISOString() })
  const { token } = signEvent(SECRET, 'bench', body)
  return { body, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } }
}

let nextNew = 10_000_000
function registrationRequest () {
  const id = nextNew++
  const body = JSON.stringify(registrationBody(id))
  const { token } = signEvent(SECRET, 'bench', body)
  return { body, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } }
}

// The CLI as `npm ci` leaves it: compiled to build/ (a stale build would fall back to tsx).
if (spawnSync(process.execPath, ['scripts/build.js'], { stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed')
const DB_NAME = 'civibridge_bench_events'
const url = withDatabaseName(args.server, DB_NAME) // created afresh by freshDatabase()
const POOL_SIZE = 20 // the bridge's DB_POOL_SIZE default; the floors' pool has as many connections
const bridgeEnv = { CIVICRM_DB_URL: url, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'warn', DB_POOL_SIZE: String(POOL_SIZE) }
const tsx = ['--import', 'tsx']
// Each run --repeat times, (a) to (f) and the fixed rates in turn, so that the machine's drift
// hits all of them alike; a figure is the median run, and the ratios are given per repetition too.
const REPEAT = Number(args.repeat)
// (b), (d) and the fixed rates each start on a fresh database: a run adds ~200,000 event and
// audit rows, and tables past InnoDB's buffer pool would make whatever runs later slower for that alone.
async function freshDatabase (): Promise<void> {
  await createFixtureDatabase(args.server, DB_NAME)
  await seed(url)
}
const all = new Map<string, Figures[]>()
const record = (key: string, f: Figures) => all.set(key, [...(all.get(key) ?? []), f])
/**
 * A fixed rate's run: the CPU per request and, for the bridge, the share of its requests whose
 * own time (its histogram: from reading the request to sending the answer) was over the
 * target. A latency the client sees over the target with a server time under it was spent
 * waiting to be read: the bridge's event loop and the machine's two cores busy with other work.
 */
type FixedFigures = OpenLoopFigures & { cpu: CpuPerRequest | null, overTarget?: number, gc?: GcPauses }
const fixed = new Map<string, FixedFigures[]>()
/** The fixed rates' p99 targets (ms). */
const TARGET_MS: Record<string, number> = { 'login 2000/s': 10, 'registration 200/s': 25 }

/** The bridge's metrics now (Prometheus text). */
const metricsOf = async (origin: string) => await (await fetch(`${origin}/metrics`)).text()

/** The bridge's event route's requests so far by its histogram's buckets (seconds' upper bound in ms → count). */
function serverTimes (text: string, origin: string): Map<number, number> {
  const counts = new Map<number, number>()
  for (const m of text.matchAll(/^civibridge_http_request_duration_seconds_bucket\{le="([^"]+)",method="POST",route="\/v1\/joomla\/events",status_code="200"\} (\d+)$/gm)) {
    counts.set(m[1] === '+Inf' ? Infinity : Math.round(Number(m[1]) * 1000), Number(m[2]))
  }
  if (!counts.has(Infinity)) throw new Error(`${origin}/metrics has no civibridge_http_request_duration_seconds buckets for the event route`)
  return counts
}

/**
 * The bridge's garbage collection so far, by prom-client's GC histogram: its scavenges (the
 * young generation's collections; the thread stops for each), those over 10 ms, and the time
 * stopped by every kind. A pause holds up every request that arrives during it.
 */
interface GcPauses { scavenges: number, scavengeMs: number, scavengesOver10ms: number, pausedMs: number }
function gcPauses (text: string, origin: string): GcPauses {
  const gc: GcPauses = { scavenges: 0, scavengeMs: 0, scavengesOver10ms: 0, pausedMs: 0 }
  let within10ms = 0
  let seen = false
  for (const m of text.matchAll(/^civibridge_nodejs_gc_duration_seconds_(bucket|sum|count)\{([^}]*)\} (\S+)$/gm)) {
    seen = true
    const minor = m[2].includes('kind="minor"')
    const value = Number(m[3])
    if (m[1] === 'sum') { gc.pausedMs += value * 1000; if (minor) gc.scavengeMs = value * 1000 }
    if (m[1] === 'count' && minor) gc.scavenges = value
    if (m[1] === 'bucket' && minor && m[2].includes('le="0.01"')) within10ms = value
  }
  if (!seen) throw new Error(`${origin}/metrics has no civibridge_nodejs_gc_duration_seconds histogram`)
  return { ...gc, scavengesOver10ms: gc.scavenges - within10ms }
}
const gcBetween = (a: GcPauses, b: GcPauses): GcPauses => ({
  scavenges: b.scavenges - a.scavenges,
  scavengeMs: b.scavengeMs - a.scavengeMs,
  scavengesOver10ms: b.scavengesOver10ms - a.scavengesOver10ms,
  pausedMs: b.pausedMs - a.pausedMs,
})
const runs = new Set(args.runs.split(','))
const RATES = args.rates.split(',').filter(Boolean).map((r) => { const [kind, rate] = r.split(':'); return { kind, rate: Number(rate), key: `${kind} ${rate}/s` } })
const RATE_DURATION = Number(args['rate-duration'])
/**
 * Before the fixed rates, each server first takes every kind of event at its first rate for a
 * few seconds, unmeasured. The closed loop's warm-up comes from another HTTP client (autocannon,
 * whose requests and sockets have other shapes than undici's): the first seconds at a fixed rate
 * after it ran the hot functions again deoptimized, and on a slow machine the bridge's first
 * 2,000 logins/s took over a second, a queue its later seconds never had (docs/benchmarks.md).
 */
const RATE_WARM_UP_S = Math.min(5, RATE_DURATION)
const warmUpRates = RATES.filter((r, i) => RATES.findIndex((x) => x.kind === r.kind) === i)
// --cpu-prof DIR: V8 CPU profiles of the bridge, one per server, written when it exits; and of
// the floor (g)'s servers in DIR/floor-g (its main thread's files end in .0.001.cpuprofile), to
// set the two side by side.
// --node-flags=...: Node's or V8's flags for the bridge's process (the floors run without them).
// --server-log FILE: the standard output of the fixed rates' bridge (e.g. its --trace-gc lines), per repetition.
const bridgeNodeArgs = nodeArgs(args['cpu-prof'], args['node-flags'])
const floorGNodeArgs = nodeArgs(args['cpu-prof'] && join(args['cpu-prof'], 'floor-g'))
/** The floor (g): the bridge's own context read (recorded from its code) behind a bare route. */
const startFloorG = (sent: Parameters<typeof contextReadOf>[0]) => startServer([...floorGNodeArgs, ...tsx, 'bench/events/bare-server.ts'],
  { CIVICRM_DB_URL: url, CONTEXT_SQL: contextReadOf(sent), DB_POOL_SIZE: String(POOL_SIZE) })
const logFile = join(tmpdir(), `civibridge-bench-${process.pid}.log`)
const started = Date.now()
let replay: RegistrationReplay | null = null
let nextFloorUser = 30_000_000

for (let rep = 0; rep < REPEAT; rep++) {
  await freshDatabase()
  if (runs.has('a')) {
    const s = await startServer([...tsx, 'bench/events/bare-server.ts'], { CIVICRM_DB_URL: url })
    record('a', await load('(a) bare Fastify route, one indexed SELECT on civicrm_uf_match', s.url, '/uf/', s.child.pid))
    await stop(s.child)
  }
  // The bridge's statements, recorded from its own code on this database: the floors replay them.
  const sent = runs.has('e') || runs.has('f') || runs.has('g') || runs.has('o') ? await captureRegistration(url) : null
  if (sent !== null) replay ??= new RegistrationReplay(sent)
  // Each target runs right before its floor, (b) then (g), (c) then (e), the bridge's server
  // waiting idle in between: the machine's speed drifts within minutes, and a ratio is only as
  // good as the two runs' conditions are alike.
  const bridge = runs.has('b') || runs.has('c') ? await startServer([...bridgeNodeArgs, 'bin/civicrm-bridge.js', 'serve'], bridgeEnv) : null
  if (bridge !== null) await load('warm-up', bridge.url, '/v1/joomla/events', bridge.child.pid, loginRequest)
  if (bridge !== null && runs.has('b')) record('b', await load('(b) login events, already-linked users', bridge.url, '/v1/joomla/events', bridge.child.pid, loginRequest))
  if (sent !== null && runs.has('g')) {
    // The bridge's own context read, recorded above, behind a bare route: what (b) does, without the bridge.
    const s = await startFloorG(sent)
    await load('warm-up', s.url, '/login', s.child.pid, loginRequest)
    record('g', await load('(g) login floor over HTTP: (f) behind a bare Fastify route, the login body parsed, no JWT', s.url, '/login', s.child.pid, loginRequest))
    await stop(s.child)
  }
  if (bridge !== null && runs.has('c')) record('c', await load('(c) registration events, new users (create path)', bridge.url, '/v1/joomla/events', bridge.child.pid, registrationRequest))
  if (sent !== null && replay !== null && (runs.has('e') || runs.has('f'))) {
    const pool = floorPool(url, POOL_SIZE)
    if (runs.has('e')) {
      const users = replay.floorUsers(nextFloorUser, 1_000_000)
      nextFloorUser = users[users.length - 1] + 1
      const r = replay
      record('e', await closedLoop('(e) registration floor: its own statements, mysql2 only', (k) => r.run(pool, users[k])))
    }
    if (bridge !== null) await stop(bridge.child)
    if (runs.has('f')) {
      const floor = new LoginFloor(pool, contextReadOf(sent))
      const login = () => floor.login(1 + Math.floor(Math.random() * USERS))
      await closedLoop('warm-up', login)
      record('f', await closedLoop('(f) login floor: batched context reads + write-behind batches, mysql2 only', login))
      await floor.close()
    }
    await pool.end()
  } else if (bridge !== null) {
    await stop(bridge.child)
  }
  if (runs.has('d')) {
    await freshDatabase()
    const s = await startServer([...bridgeNodeArgs, 'bin/civicrm-bridge.js', 'serve'], { ...bridgeEnv, LOG_LEVEL: 'info' }, logFile)
    // Warmed up like (b)'s server, so that the two differ only by the log.
    await load('warm-up', s.url, '/v1/joomla/events', s.child.pid, loginRequest)
    record('d', await load('(d) = (b) with pino at info to a file', s.url, '/v1/joomla/events', s.child.pid, loginRequest))
    await stop(s.child)
  }
  if (runs.has('o') && RATES.length > 0) {
    await freshDatabase()
    const s = await startServer([...bridgeNodeArgs, 'bin/civicrm-bridge.js', 'serve'], bridgeEnv, args['server-log'] && `${args['server-log']}.${rep + 1}`)
    await load('warm-up', s.url, '/v1/joomla/events', s.child.pid, loginRequest)
    const client = openLoopClient(s.url, Number(args['rate-connections']))
    const atRate = async (kind: string, rate: number, durationS: number) => {
      const requests = Array.from({ length: Math.round(rate * durationS) }, kind === 'login' ? loginRequest : registrationRequest)
      return await openLoop(client, '/v1/joomla/events', rate, durationS, requests)
    }
    for (const { kind, rate } of warmUpRates) await atRate(kind, rate, RATE_WARM_UP_S)
    for (const { kind, rate, key } of RATES) {
      const metricsBefore = await metricsOf(s.url)
      const [before, gcBefore] = [serverTimes(metricsBefore, s.url), gcPauses(metricsBefore, s.url)]
      const meter = cpuMeter(s.child.pid)
      const f = await atRate(kind, rate, RATE_DURATION)
      const metricsAfter = await metricsOf(s.url)
      const [after, gcAfter] = [serverTimes(metricsAfter, s.url), gcPauses(metricsAfter, s.url)]
      const inServer = (ms: number) => {
        if (!after.has(ms)) throw new Error(`the bridge's histogram has no ${ms} ms bucket`)
        return (after.get(ms)! - before.get(ms)!) / (after.get(Infinity)! - before.get(Infinity)!)
      }
      const target = TARGET_MS[key]
      fixed.set(key, [...(fixed.get(key) ?? []), { ...f, cpu: meter(f.total), overTarget: target === undefined ? undefined : 1 - inServer(target), gc: gcBetween(gcBefore, gcAfter) }])
    }
    await client.close()
    await stop(s.child)
    // The floors at the same rates, on the same database: the latency this machine gives the
    // same database work with the least around it ((g) for logins, (e) for registrations).
    if (sent !== null && replay !== null) {
      const r = replay
      const floor = await startFloorG(sent)
      await load('warm-up', floor.url, '/login', floor.child.pid, loginRequest)
      const pool = floorPool(url, POOL_SIZE)
      const client = openLoopClient(floor.url, Number(args['rate-connections']))
      const floorAtRate = async (kind: string, rate: number, durationS: number): Promise<OpenLoopFigures> => {
        const n = Math.round(rate * durationS)
        if (kind === 'login') return await openLoop(client, '/login', rate, durationS, Array.from({ length: n }, loginRequest))
        const users = r.floorUsers(nextFloorUser, n)
        nextFloorUser = users[users.length - 1] + 1
        return await openLoopOf(rate, n, async (i) => { await r.run(pool, users[i]); return true })
      }
      for (const { kind, rate } of warmUpRates) await floorAtRate(kind, rate, RATE_WARM_UP_S)
      for (const { kind, rate, key } of RATES) {
        const meter = cpuMeter(kind === 'login' ? floor.child.pid : undefined)
        const f = await floorAtRate(kind, rate, RATE_DURATION)
        const floorKey = `${key}, floor ${kind === 'login' ? '(g)' : '(e)'}`
        fixed.set(floorKey, [...(fixed.get(floorKey) ?? []), { ...f, cpu: meter(f.total) }])
      }
      await client.close()
      await pool.end()
      await stop(floor.child)
    }
  }
  console.error(`repetition ${rep + 1} of ${REPEAT} done after ${Math.round((Date.now() - started) / 1000)} s`)
}
const medianBy = <T>(xs: T[], by: (x: T) => number) => [...xs].sort((x, y) => by(x) - by(y))[Math.floor(xs.length / 2)]
const median = (xs: number[]) => medianBy(xs, (x) => x)
const results = new Map([...all].map(([k, fs]) => [k, medianBy(fs, (f) => f.rps)]))

const check = await mysql.createConnection({ uri: url })
const [[dups]] = await check.query('SELECT (SELECT COUNT(*) FROM civicrm_uf_match) - (SELECT COUNT(DISTINCT uf_id) FROM civicrm_uf_match) AS dup_links') as unknown as [[{ dup_links: number }]]
const [[{ v: mariadbVersion }]] = await check.query('SELECT VERSION() AS v') as unknown as [[{ v: string }]]
await check.end()

const { b, c, d, e, f, g } = Object.fromEntries(results)
const pct = (x: number) => `${(x * 100).toFixed(1)} %`
console.log(`\nmachine: ${cpus().length} × ${cpus()[0].model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, MariaDB ${mariadbVersion}; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(', ')}; ${new Date().toISOString()}`)
console.log(`closed loop: ${CONNECTIONS} connections, ${DURATION} s per run, median of ${REPEAT}, ${USERS} linked users, bridge and floors on ${POOL_SIZE} database connections${d ? `; log file ${(statSync(logFile).size / 2 ** 20).toFixed(1)} MiB` : ''}; whole run ${Math.round((Date.now() - started) / 1000)} s\n`)
console.log('| run | req/s | p50 ms | p99 ms | requests | non-2xx | errors | CPU µs/request: server / MariaDB / load generator (the floors: client) |')
console.log('|---|---|---|---|---|---|---|---|')
for (const r of results.values()) console.log(`| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.total} | ${r.non2xx} | ${r.errors} | ${r.cpu ? `${r.cpu.bridgeUs ?? '–'} / ${r.cpu.mariadbUs} / ${r.cpu.loadUs}` : 'n/a'} |`)

// Every ratio per repetition (each over its own repetition's run), and its median.
const perRep = (x: string, y: string) => all.has(x) && all.has(y) ? all.get(x)!.map((fx, i) => fx.rps / all.get(y)![i].rps) : null
const rows: string[] = []
const ratio = (label: string, x: string, y: string, target: number | null) => {
  const rs = perRep(x, y)
  if (rs) rows.push(`| ${label} | ${pct(median(rs))} | ${rs.map(pct).join(', ')} | ${target === null ? '' : median(rs) >= target ? 'met' : '**not met**'} |`)
}
ratio('(c)/(e): registrations, bridge / floor (target ≥ 70 %)', 'c', 'e', 0.7)
ratio('(b)/(g): logins, bridge / floor over HTTP (target ≥ 70 %)', 'b', 'g', 0.7)
// What the two cores allow: were both busy all the time, the ratio would be the floor's CPU per
// request (server, MariaDB, load generator or client) over the bridge's. A ratio target above
// its bound is out of reach on this machine whatever the bridge's latency does.
const cpuBound = (label: string, x: string, y: string) => {
  if (!all.has(x) || !all.has(y)) return
  const total = (f: Figures) => f.cpu === null ? NaN : (f.cpu.bridgeUs ?? 0) + f.cpu.mariadbUs + f.cpu.loadUs
  const bs = all.get(x)!.map((fx, i) => total(all.get(y)![i]) / total(fx))
  if (!bs.some(Number.isNaN)) rows.push(`| ${label} | ${pct(median(bs))} | ${bs.map(pct).join(', ')} | |`)
}
cpuBound('(c)/(e) CPU bound: the floor\'s CPU per registration / the bridge\'s', 'c', 'e')
cpuBound('(b)/(g) CPU bound: the floor\'s CPU per login / the bridge\'s', 'b', 'g')
ratio('(b)/(f): logins, bridge / floor without HTTP', 'b', 'f', null)
ratio('(g)/(f): the floor over HTTP / without', 'g', 'f', null)
ratio('(b)/(a): logins / bare route', 'b', 'a', null)
ratio('(d)/(b): info log / none (target ≥ 90 %)', 'd', 'b', 0.9)
if (all.has('c')) rows.push(`| (c) events/s | ${Math.round(c.rps)} | ${all.get('c')!.map((x) => Math.round(x.rps)).join(', ')} | |`)
if (all.has('e')) rows.push(`| (e) events/s | ${Math.round(e.rps)} | ${all.get('e')!.map((x) => Math.round(x.rps)).join(', ')} | |`)
if (all.has('b')) rows.push(`| (b) req/s | ${Math.round(b.rps)} | ${all.get('b')!.map((x) => Math.round(x.rps)).join(', ')} | |`)
if (all.has('f')) rows.push(`| (f) logins/s | ${Math.round(f.rps)} | ${all.get('f')!.map((x) => Math.round(x.rps)).join(', ')} | |`)
if (all.has('g')) rows.push(`| (g) req/s | ${Math.round(g.rps)} | ${all.get('g')!.map((x) => Math.round(x.rps)).join(', ')} | |`)
if (rows.length > 0) console.log(`\n| figure | median of ${REPEAT} | per repetition | |\n|---|---|---|---|\n${rows.join('\n')}`)

if (fixed.size > 0) {
  const ms = (x: number) => x.toFixed(1)
  console.log(`\nopen loop: ${RATE_DURATION} s per rate, on schedule whatever the answers, latency from each request's due time, up to ${args['rate-connections']} connections; median of ${REPEAT} by p99`)
  console.log('| offered | achieved/s | p50 ms | p99 ms | p99.9 ms | max ms | requests | non-2xx | errors | p99 per repetition (ms) | target |')
  console.log('|---|---|---|---|---|---|---|---|---|---|---|')
  for (const [key, fs] of fixed) {
    const m = medianBy(fs, (x) => x.p99)
    // A floor's row says whether the floor itself meets its rate's target: when it does not,
    // the target is out of reach on this machine.
    const floorOf = key.indexOf(', floor ')
    const target = TARGET_MS[floorOf < 0 ? key : key.slice(0, floorOf)]
    const verdict = target === undefined ? '' : `${floorOf < 0 ? '' : 'the floor itself: '}p99 < ${target} ms: ${m.p99 < target ? 'met' : floorOf < 0 ? '**not met**' : 'not met'}`
    console.log(`| ${key} | ${Math.round(m.achieved)} | ${ms(m.p50)} | ${ms(m.p99)} | ${ms(m.p999)} | ${ms(m.max)} | ${m.total} | ${m.non2xx} | ${m.errors} | ${fs.map((x) => ms(x.p99)).join(', ')} | ${verdict} |`)
  }
  for (const [key, fs] of fixed) {
    console.log(`${key} per repetition: ${fs.map((x) => `achieved ${Math.round(x.achieved)}/s (sent ${Math.round(x.sentRate)}/s), p50 ${ms(x.p50)}, p99 ${ms(x.p99)}, p99.9 ${ms(x.p999)} ms` +
      (x.cpu ? `; CPU µs/request ${x.cpu.bridgeUs ?? '–'} / ${x.cpu.mariadbUs} / ${x.cpu.loadUs}` : '') +
      (x.overTarget === undefined ? '' : `; over ${TARGET_MS[key]} ms in the bridge itself: ${pct(x.overTarget)}`) +
      (x.gc === undefined ? '' : `; GC in the bridge: ${x.gc.scavenges} scavenges of ${ms(x.gc.scavengeMs / x.gc.scavenges)} ms on average, ${x.gc.scavengesOver10ms} over 10 ms, stopped ${pct(x.gc.pausedMs / (x.total / x.achieved * 1000))} of the time`)).join('; ')}`)
  }
  console.log('(CPU µs/request: server / MariaDB / load generator or, for (e), its client; "in the bridge itself": by its histogram, from reading the request to sending the answer; GC: by prom-client\'s histogram of the bridge\'s pauses, every kind in the time stopped)')
}
if (all.has('b')) console.log(`(b) p99 per repetition: ${all.get('b')!.map((x) => x.p99).join(', ')} ms (closed loop: bound to throughput by Little's law)`)
console.log(`duplicate links after the run: ${dups.dup_links}`)
