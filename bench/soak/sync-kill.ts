// Soak: Synchronize Users to Contacts killed with SIGKILL at random moments, then let finish.
// Seeds N Joomla users in a fresh database of the local MariaDB (60 % with a contact to match,
// one in six of those by a non-primary email, one in ten users with a mixed-case email, one in
// a hundred without an email), runs `civicrm-bridge sync --json` in a child process, kills it
// with SIGKILL `--kills` times at random points of the job, then runs it to the end and checks
// the database: one link per user, no duplicate or orphan contact, and a final message that
// counts the whole job.
//   npx tsx bench/soak/sync-kill.ts --users 100000 [--kills 3] [--batch-size 1000] [--seed N] [--keep]
import { spawn } from 'node:child_process'
import { seedUsers } from '../seed-users.js'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import { createFixtureDatabase, dropDatabase } from '../../server/dev/fixture.js'

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '100000' },
    kills: { type: 'string', default: '3' },
    'batch-size': { type: 'string', default: '1000' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
    server: { type: 'string', default: process.env.BENCH_DB_SERVER_URL ?? 'mysql://root@127.0.0.1:3306/test' },
  },
})
const N = Number(args.users)
const KILLS = Number(args.kills)
const BATCH = Number(args['batch-size'])
const BIN = fileURLToPath(new URL('../../bin/civicrm-bridge.js', import.meta.url))
const SECRET = 'soak-secret-soak-secret-soak-secret-000001'
const DB_NAME = 'cb_soak_sync_kill'

// A seeded generator, so that a run can be repeated (--seed).
let state = Number(args.seed ?? Math.floor(Math.random() * 2 ** 31))
const seedUsed = state
const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31

const noEmail = (i: number) => i % 100 === 99
const mix = {
  noEmail,
  matched: (i: number) => !noEmail(i) && i % 10 < 6,
  byNonPrimary: (i: number) => i % 10 === 0,
  mixedCase: (i: number) => i % 10 === 7,
}
const seed = (url: string) => seedUsers(url, N, mix, 'soak seed')

interface Run { ms: number, code: number | null, signal: string | null, out: string, err: string, checkedAtKill: number | null }

const RUNNING_JOB_CHECKED = "SELECT checked FROM civibridge_sync_job WHERE status = 'running' ORDER BY id DESC LIMIT 1"

/** One `civicrm-bridge sync --json`; with `killAt`, SIGKILLed once the job has checked that many users. */
async function sync (url: string, probe: mysql.Connection, killAt: number | null): Promise<Run> {
  const started = Date.now()
  const child = spawn(process.execPath, [BIN, 'sync', '--json', '--batch-size', String(BATCH)], {
    env: { PATH: process.env.PATH!, CIVICRM_DB_URL: url, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: SECRET, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => { out += d })
  child.stderr.on('data', (d) => { err += d })
  const exited = new Promise<{ code: number | null, signal: string | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })))
  let checkedAtKill: number | null = null
  if (killAt !== null) {
    let done = false
    void exited.then(() => { done = true })
    // eslint-disable-next-line no-unmodified-loop-condition -- set by the promise above
    while (!done) {
      const [rows] = await probe.query(RUNNING_JOB_CHECKED) as unknown as [Array<{ checked: number }>]
      const checked = rows[0]?.checked ?? 0
      if (checked >= killAt) {
        checkedAtKill = checked
        child.kill('SIGKILL')
        break
      }
      await new Promise((resolve) => setTimeout(resolve, 5 + random() * 20))
    }
  }
  const { code, signal } = await exited
  return { ms: Date.now() - started, code, signal, out, err, checkedAtKill }
}

const count = async (conn: mysql.Connection, q: string): Promise<number> =>
  Number(((await conn.query(q)) as unknown as [Array<{ n: number }>])[0][0].n)
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`

const machine = `${cpus().length} CPU ${cpus()[0]?.model ?? ''}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`
console.log(`# bench/soak/sync-kill: ${N} users, ${KILLS} SIGKILLs, batch ${BATCH}, seed ${seedUsed}; ${machine}`)
const t0 = Date.now()
const url = await createFixtureDatabase(args.server, DB_NAME)
await seed(url)
console.log(`seeded ${DB_NAME} in ${fmt(Date.now() - t0)}`)
const probe = await mysql.createConnection({ uri: url })

const wallStarted = Date.now()
// Kill points: random numbers of checked users, spread over the job and increasing.
const killPoints = Array.from({ length: KILLS }, () => Math.floor(BATCH + random() * (N - 2 * BATCH))).sort((a, b) => a - b)
const runs: Run[] = []
for (const killAt of killPoints) {
  let r = await sync(url, probe, killAt)
  // The previous process's lock is freed when MariaDB sees its connection close: at once, but retry if it has not yet.
  while (r.code === 1 && /already running/.test(r.err)) r = await sync(url, probe, killAt)
  runs.push(r)
  const how = r.signal === 'SIGKILL'
    ? `killed with SIGKILL at ${r.checkedAtKill} users checked`
    : `ended (${r.code}) before the kill point ${killAt}`
  console.log(`run ${runs.length}: ${how} after ${fmt(r.ms)}`)
}
let last = await sync(url, probe, null)
while (last.code === 1 && /already running/.test(last.err)) last = await sync(url, probe, null)
runs.push(last)
const wallMs = Date.now() - wallStarted
if (last.code !== 0) throw new Error(`the last sync exited with ${last.code}: ${last.err}${last.out}`)
const result = JSON.parse(last.out) as {
  message: string, resumed: boolean, counts: Record<string, number>, durationMs: number, jobId: number
}
console.log(`run ${runs.length}: finished in ${fmt(last.ms)} (resumed: ${result.resumed}, job ${result.jobId})`)
console.log(`  ${result.message}`)

// The checks.
const valid = Array.from({ length: N }, (_, k) => k + 1).filter((i) => !noEmail(i)).length
const matchedN = Array.from({ length: N }, (_, k) => k + 1).filter(mix.matched).length
const expectedMessage = `Synchronize Users to Contacts completed. Checked ${N} user records. Found ${matchedN} matching contact records. ` +
  `Created ${valid - matchedN} new contact records. Skipped ${N - valid} user records without a valid email.`
const checks: Array<[string, boolean, string]> = []
const check = (name: string, ok: boolean, detail: string) => checks.push([name, ok, detail])
const links = await count(probe, 'SELECT COUNT(*) AS n FROM civicrm_uf_match')
const linkedUsers = await count(probe, 'SELECT COUNT(DISTINCT uf_id) AS n FROM civicrm_uf_match')
check('one link per user with an email', links === valid && linkedUsers === valid, `${links} links for ${valid} users`)
const UNLINKED = "SELECT COUNT(*) AS n FROM jos_users u LEFT JOIN civicrm_uf_match m ON m.uf_id = u.id WHERE u.email <> '' AND m.id IS NULL"
check('no user without a link (among those with an email)', await count(probe, UNLINKED) === 0, '')
const LINKED_TWICE = 'SELECT COUNT(*) AS n FROM (SELECT contact_id FROM civicrm_uf_match GROUP BY contact_id HAVING COUNT(*) > 1) d'
check('no contact linked twice', await count(probe, LINKED_TWICE) === 0, '')
const LINKED_TO_SEED = 'SELECT COUNT(*) AS n FROM civicrm_uf_match WHERE contact_id = uf_id + 1'
check('matched users linked to their seeded contact', await count(probe, LINKED_TO_SEED) === matchedN, '')
const created = await count(probe, "SELECT COUNT(*) AS n FROM civicrm_contact WHERE source = 'Joomla user sync'")
check('one contact created per unmatched user, no duplicate', created === valid - matchedN,
  `${created} created, ${valid - matchedN} expected`)
const SHARED_EMAILS = 'SELECT COUNT(*) AS n FROM (SELECT email FROM civicrm_email GROUP BY email HAVING COUNT(DISTINCT contact_id) > 1) d'
check('no two contacts share an email', await count(probe, SHARED_EMAILS) === 0, '')
const ORPHANS = `SELECT COUNT(*) AS n FROM civicrm_contact c WHERE c.source = 'Joomla user sync' AND (
  (SELECT COUNT(*) FROM civicrm_email e WHERE e.contact_id = c.id) <> 1
  OR (SELECT COUNT(*) FROM civicrm_log l WHERE l.entity_table = 'civicrm_contact' AND l.entity_id = c.id) <> 1
  OR (SELECT COUNT(*) FROM civicrm_uf_match m WHERE m.contact_id = c.id) <> 1)`
check('every created contact has one email, one log row, one link (no orphan)', await count(probe, ORPHANS) === 0, '')
const doneJobs = await count(probe, `SELECT COUNT(*) AS n FROM civibridge_sync_job WHERE status = 'done' AND checked = ${N}`)
check('one job, done, counting every user', doneJobs === 1 && await count(probe, 'SELECT COUNT(*) AS n FROM civibridge_sync_job') === 1, '')
const messageOk = result.message === expectedMessage
check('the final message counts the whole job', messageOk, messageOk ? '' : `expected: ${expectedMessage}`)
check('every kill landed mid-job and the last run resumed', runs.slice(0, -1).every((r) => r.signal === 'SIGKILL') && result.resumed, '')
await probe.end()
for (const [name, ok, detail] of checks) console.log(`${ok ? 'ok    ' : 'FAILED'} ${name}${detail ? ` (${detail})` : ''}`)
console.log(JSON.stringify({
  users: N,
  kills: runs.filter((r) => r.signal === 'SIGKILL').length,
  killedAt: runs.map((r) => r.checkedAtKill).filter((x) => x !== null),
  wallMs,
  runMs: runs.map((r) => r.ms),
  message: result.message,
  checks: checks.every(([, ok]) => ok),
}))
if (!args.keep) await dropDatabase(args.server, DB_NAME)
process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1
