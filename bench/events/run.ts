// Event throughput: autocannon against (a) a bare Fastify route with one indexed SELECT,
// (b) signed login events of already-linked users, (c) signed registrations of new users,
// (d) = (b) with pino at info writing to a file. Each server runs in its own process; the
// load generator signs every request with a fresh jti (a reused jti would be a replay).
//   npx tsx bench/events/run.ts [--duration 10] [--connections 100] [--users 20000] [--cpu-prof DIR] [--runs a,b,c,d] [--repeat 3]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cpus, totalmem, tmpdir } from 'node:os'
import { openSync, statSync, closeSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import mysql from 'mysql2/promise'
import { createFixtureDatabase, withDatabaseName } from '../../server/dev/fixture.js'
import { signEvent } from '../../server/protocol/sign.js'
import { freePort } from '../../test/helper.js'

const { values: args } = parseArgs({ options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '100' }, users: { type: 'string', default: '20000' }, 'cpu-prof': { type: 'string' }, runs: { type: 'string', default: 'a,b,c,d' }, repeat: { type: 'string', default: '3' }, server: { type: 'string', default: process.env.DEMO_DB_SERVER_URL ?? 'mysql://root@127.0.0.1:3306/test' } } })
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
interface CpuPerRequest { bridgeUs: number, mariadbUs: number, loadUs: number }
const MARIADB_PID = Number(spawnSync('pidof', ['-s', 'mariadbd']).stdout?.toString().trim()) || undefined

// Requests are signed before a run, so the load generator spends its CPU sending, not signing
// (it shares the machine's cores with the bridge and MariaDB).
const POOL = Number(process.env.BENCH_REQUEST_POOL ?? 60_000)

async function load (name: string, url: string, path: string, serverPid: number | undefined, makeRequest?: () => { body: string, headers: Record<string, string> }): Promise<Figures> {
  const pool = makeRequest ? Array.from({ length: POOL }, makeRequest) : []
  let next = 0
  const before = [cpuMs(serverPid), cpuMs(MARIADB_PID), cpuMs(process.pid)]
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: DURATION,
    requests: [makeRequest
      ? { method: 'POST', path, setupRequest: (req) => ({ ...req, ...(pool[next++] ?? makeRequest()) }) }
      : { method: 'GET', path, setupRequest: (req) => ({ ...req, path: `${path}${1 + Math.floor(Math.random() * USERS)}` }) }],
  })
  const after = [cpuMs(serverPid), cpuMs(MARIADB_PID), cpuMs(process.pid)]
  // Where the CPU went, per answered request: the server, MariaDB and the load generator share two cores.
  const per = (i: number) => Math.round((after[i]! - before[i]!) * 1000 / result.requests.total)
  const cpu = before.every((v) => v !== null) ? { bridgeUs: per(0), mariadbUs: per(1), loadUs: per(2) } : null
  return { name, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors, total: result.requests.total, cpu }
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
  const body = JSON.stringify({ event: 'onUserAfterSave', user: { id, username: `new${id}`, email: `new${id}@example.org`, name: `New Person ${id}`, block: 0 }, isNew: true, success: true, occurredAt: new Date().toISOString() })
  const { token } = signEvent(SECRET, 'bench', body)
  return { body, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } }
}

// The CLI as `npm ci` leaves it: compiled to build/ (a stale build would fall back to tsx).
if (spawnSync(process.execPath, ['scripts/build.js'], { stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed')
const DB_NAME = 'civibridge_bench_events'
const url = withDatabaseName(args.server, DB_NAME) // created afresh by freshDatabase()
const bridgeEnv = { CIVICRM_DB_URL: url, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'warn' }
const tsx = ['--import', 'tsx']
// Each run --repeat times, (a) to (d) in turn, so that the machine's drift hits all of them
// alike; a figure is the median run by req/s, and the ratios are given per repetition too.
const REPEAT = Number(args.repeat)
// (b) and (d) each start on a fresh database: a run adds ~200,000 event and audit rows, and
// tables past InnoDB's buffer pool would make whatever runs later slower for that alone.
async function freshDatabase (): Promise<void> {
  await createFixtureDatabase(args.server, DB_NAME)
  await seed(url)
}
const all = new Map<string, Figures[]>()
const record = (key: string, f: Figures) => all.set(key, [...(all.get(key) ?? []), f])
const runs = new Set(args.runs.split(','))
// --cpu-prof DIR: V8 CPU profiles of the bridge, one per server, written when it exits.
const profile = args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}`] : []
const logFile = join(tmpdir(), `civibridge-bench-${process.pid}.log`)

for (let rep = 0; rep < REPEAT; rep++) {
  await freshDatabase()
  if (runs.has('a')) {
    const s = await startServer([...tsx, 'bench/events/bare-server.ts'], { CIVICRM_DB_URL: url })
    record('a', await load('(a) bare Fastify route, one indexed SELECT on civicrm_uf_match', s.url, '/uf/', s.child.pid))
    await stop(s.child)
  }
  if (runs.has('b') || runs.has('c')) {
    const s = await startServer([...profile, 'bin/civicrm-bridge.js', 'serve'], bridgeEnv)
    await load('warm-up', s.url, '/v1/joomla/events', s.child.pid, loginRequest)
    if (runs.has('b')) record('b', await load('(b) login events, already-linked users', s.url, '/v1/joomla/events', s.child.pid, loginRequest))
    if (runs.has('c')) record('c', await load('(c) registration events, new users (create path)', s.url, '/v1/joomla/events', s.child.pid, registrationRequest))
    await stop(s.child)
  }
  if (runs.has('d')) {
    await freshDatabase()
    const s = await startServer([...profile, 'bin/civicrm-bridge.js', 'serve'], { ...bridgeEnv, LOG_LEVEL: 'info' }, logFile)
    // Warmed up like (b)'s server, so that the two differ only by the log.
    await load('warm-up', s.url, '/v1/joomla/events', s.child.pid, loginRequest)
    record('d', await load('(d) = (b) with pino at info to a file', s.url, '/v1/joomla/events', s.child.pid, loginRequest))
    await stop(s.child)
  }
}
const median = (fs: Figures[]) => [...fs].sort((x, y) => x.rps - y.rps)[Math.floor(fs.length / 2)]
const results = new Map([...all].map(([k, fs]) => [k, median(fs)]))

const check = await mysql.createConnection({ uri: url })
const [[dups]] = await check.query('SELECT (SELECT COUNT(*) FROM civicrm_uf_match) - (SELECT COUNT(DISTINCT uf_id) FROM civicrm_uf_match) AS dup_links') as unknown as [[{ dup_links: number }]]
await check.end()

const { a, b, c, d } = Object.fromEntries(results)
const [mariadbVersion] = (await (async () => { const k = await mysql.createConnection({ uri: url }); const [r] = await k.query('SELECT VERSION() AS v'); await k.end(); return [(r as Array<{ v: string }>)[0].v] })())
console.log(`\nmachine: ${cpus().length} × ${cpus()[0].model}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, MariaDB ${mariadbVersion}`)
console.log(`autocannon: ${CONNECTIONS} connections, ${DURATION} s per run, median of ${REPEAT}, ${USERS} linked users${d ? `; log file ${(statSync(logFile).size / 2 ** 20).toFixed(1)} MiB` : ''}\n`)
console.log('| run | req/s | p50 ms | p99 ms | requests | non-2xx | errors | CPU µs/request: server / MariaDB / autocannon |')
console.log('|---|---|---|---|---|---|---|---|')
for (const r of results.values()) console.log(`| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.total} | ${r.non2xx} | ${r.errors} | ${r.cpu ? `${r.cpu.bridgeUs} / ${r.cpu.mariadbUs} / ${r.cpu.loadUs}` : 'n/a'} |`)
const figures = [
  a && b && `(b)/(a) = ${(b.rps / a.rps * 100).toFixed(1)} % (target ≥ 50 %)`,
  b && `(b) p99 = ${b.p99} ms (target < 10 ms)`,
  c && `(c) = ${Math.round(c.rps)} events/s (target ≥ 1000)`,
  b && d && `(d)/(b) = ${(d.rps / b.rps * 100).toFixed(1)} % (target ≥ 90 %)`,
].filter(Boolean)
console.log(`\n${figures.join('; ')}`)
// The ratios of each repetition (its (b) over its own (a)), which show how much the machine drifts.
const perRep = (x: string, y: string) => all.has(x) && all.has(y) ? all.get(x)!.map((f, i) => (f.rps / all.get(y)![i].rps * 100).toFixed(1)).join(', ') : null
for (const [x, y] of [['b', 'a'], ['d', 'b']]) if (perRep(x, y)) console.log(`(${x})/(${y}) per repetition: ${perRep(x, y)} %`)
if (all.has('b')) console.log(`(b) p99 per repetition: ${all.get('b')!.map((f) => f.p99).join(', ')} ms`)
if (all.has('c')) console.log(`(c) per repetition: ${all.get('c')!.map((f) => Math.round(f.rps)).join(', ')} events/s`)
console.log(`duplicate links after the run: ${dups.dup_links}`)
