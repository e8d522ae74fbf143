// Synchronize Users to Contacts at scale: N Joomla users (60 % with an existing contact to
// match, one in six of those by a non-primary email and one in six by a mixed-case email;
// 40 % new), on two identical databases of the local MariaDB; then, in the same run, the
// bridge's set-based sync (`civicrm-bridge sync` in a child process, its peak RSS measured)
// and a per-user loop with CiviCRM's query pattern (CRM_Core_BAO_UFMatch::synchronizeUFMatch
// called for every row of `SELECT id, email, name FROM #__users`, one user at a time: the link
// lookup, then in one transaction the email match, the conflict checks, the new contact's rows
// and the link).
//   npx tsx bench/sync/run.ts --users 100000 [--loop-users N] [--batch-size 1000] [--no-loop]
// --loop-users runs the loop on the first N users only and extrapolates its time linearly
// (it is linear: the same queries per user); the bridge always syncs every user.
import { spawn, spawnSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import { createFixtureDatabase, dropDatabase } from '../../server/dev/fixture.js'
import { seedUsers } from '../seed-users.js'

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '100000' },
    'loop-users': { type: 'string' },
    'batch-size': { type: 'string', default: '1000' },
    'no-loop': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    server: { type: 'string', default: process.env.BENCH_DB_SERVER_URL ?? 'mysql://root@127.0.0.1:3306/test' },
  },
})
const N = Number(args.users)
const LOOP_N = Math.min(Number(args['loop-users'] ?? N), N)
const BATCH = Number(args['batch-size'])
const BIN = fileURLToPath(new URL('../../bin/civicrm-bridge.js', import.meta.url))
const SECRET = 'bench-secret-bench-secret-bench-secret-0001'

const mix = { matched: (i: number) => i % 10 < 6, byNonPrimary: (i: number) => i % 10 === 0, mixedCase: (i: number) => i % 10 === 1 }
const seed = (url: string) => seedUsers(url, N, mix, 'bench')

/** `civicrm-bridge sync --json` as a user runs it (the compiled build when it is fresh), its peak RSS read from /proc. */
async function bridgeSync (url: string): Promise<{ ms: number, wallMs: number, peakRssKb: number, message: string }> {
  const started = Date.now()
  const child = spawn(process.execPath, [BIN, 'sync', '--json', '--batch-size', String(BATCH)], {
    env: { PATH: process.env.PATH!, CIVICRM_DB_URL: url, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: SECRET, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  // VmHWM is the process's high-water mark: the last reading before it exits is its peak.
  let peak = 0
  const sampler = setInterval(() => {
    readFile(`/proc/${child.pid}/status`, 'utf8').then((status) => {
      peak = Math.max(peak, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0))
    }, () => { /* gone */ })
  }, 20)
  const code = await new Promise((resolve) => child.on('exit', resolve))
  clearInterval(sampler)
  if (code !== 0) throw new Error(`sync exited with ${code}: ${out}`)
  const r = JSON.parse(out) as { durationMs: number, message: string }
  return { ms: r.durationMs, wallMs: Date.now() - started, peakRssKb: peak, message: r.message }
}

/** CiviCRM's loop: every user in memory, then per user the queries synchronizeUFMatch runs. */
async function perUserLoop (url: string, limit: number): Promise<{ ms: number, matched: number, created: number }> {
  const conn = await mysql.createConnection({ uri: url, charset: 'utf8mb4_unicode_ci' })
  const started = process.hrtime.bigint()
  let matched = 0
  let created = 0
  try {
    const [users] = await conn.query('SELECT id, email, name FROM jos_users ORDER BY id LIMIT ?', [limit]) as unknown as [Array<{ id: number, email: string, name: string }>]
    for (const u of users) {
      const email = u.email.trim()
      // CRM_Core_BAO_UFMatch::synchronizeUFMatch: the user's link.
      const [link] = await conn.query('SELECT id, contact_id, uf_name FROM civicrm_uf_match WHERE uf_id = ? AND domain_id = ?', [u.id, 1]) as unknown as [unknown[]]
      if (link.length > 0) { matched++; continue }
      // Not linked: one CRM_Core_Transaction for the match, the contact and the link.
      await conn.query('BEGIN')
      // Match on email (CRM_Contact_BAO_Contact::matchContactOnEmail).
      const [found] = await conn.query(`SELECT e.contact_id FROM civicrm_email e JOIN civicrm_contact c ON c.id = e.contact_id
        WHERE e.email = ? AND c.contact_type = 'Individual' AND c.is_deleted = 0 ORDER BY e.is_primary DESC, c.id LIMIT 1`, [email]) as unknown as [Array<{ contact_id: number }>]
      let contactId: number | undefined = found[0]?.contact_id
      if (contactId !== undefined) {
        // Is this contact another user's? (CRM-9091)
        const [taken] = await conn.query('SELECT id FROM civicrm_uf_match WHERE contact_id = ? AND domain_id = ?', [contactId, 1]) as unknown as [unknown[]]
        if (taken.length > 0) contactId = undefined
      }
      if (contactId === undefined) {
        // CRM_Contact_BAO_Contact::createProfileContact, reduced to its three essential rows
        // (the real one also writes group, subscription and cache rows): a lower bound.
        const [res] = await conn.query("INSERT INTO civicrm_contact (contact_type, first_name, last_name, display_name, sort_name, hash, source) VALUES ('Individual', ?, ?, ?, ?, ?, 'Joomla user')",
          [u.name.split(' ')[0], u.name.split(' ').at(-1), u.name, u.name, randomBytes(16).toString('hex')]) as unknown as [{ insertId: number }]
        contactId = res.insertId
        await conn.query("INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) VALUES (?, 1, ?, 1)", [contactId, email.toLowerCase()])
        await conn.query("INSERT INTO civicrm_log (entity_table, entity_id, data, modified_id, modified_date) VALUES ('civicrm_contact', ?, ?, ?, NOW())", [contactId, `civicrm_contact,${contactId}`, contactId])
        created++
      } else {
        matched++
      }
      // The last conflict check before the insert (contact, uf_name or uf_id already used).
      await conn.query('SELECT uf_id FROM civicrm_uf_match WHERE (contact_id = ? OR uf_name = ? OR uf_id = ?) AND domain_id = ?', [contactId, email, u.id, 1])
      await conn.query('INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, ?, ?, ?)', [u.id, email, contactId])
      await conn.query('COMMIT')
    }
  } finally {
    await conn.end()
  }
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, matched, created }
}

// The CLI as `npm ci` leaves it: compiled to build/ (a stale build would fall back to tsx).
if (spawnSync(process.execPath, ['scripts/build.js'], { stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed')
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const [dbA, dbB] = ['cb_bench_sync_bridge', 'cb_bench_sync_loop']
console.log(`# bench/sync: ${N} users, batch ${BATCH}; ${cpus().length} CPU ${cpus()[0]?.model ?? ''}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`)
const t0 = Date.now()
const urlA = await createFixtureDatabase(args.server, dbA)
await seed(urlA)
console.log(`seeded ${dbA} in ${fmt(Date.now() - t0)}`)
const bridge = await bridgeSync(urlA)
console.log(`bridge sync: ${fmt(bridge.ms)} (${Math.round(N / (bridge.ms / 1000))} users/s; ${fmt(bridge.wallMs)} with the process's start and exit), peak RSS ${(bridge.peakRssKb / 1024).toFixed(1)} MB`)
console.log(`  ${bridge.message}`)
let loop: Awaited<ReturnType<typeof perUserLoop>> | null = null
if (!args['no-loop']) {
  const t1 = Date.now()
  const urlB = await createFixtureDatabase(args.server, dbB)
  await seed(urlB)
  console.log(`seeded ${dbB} in ${fmt(Date.now() - t1)}`)
  loop = await perUserLoop(urlB, LOOP_N)
  const projected = loop.ms * (N / LOOP_N)
  console.log(`per-user loop: ${fmt(loop.ms)} for ${LOOP_N} users (${Math.round(LOOP_N / (loop.ms / 1000))} users/s)${LOOP_N < N ? `, projected ${fmt(projected)} for ${N}` : ''}; matched ${loop.matched}, created ${loop.created}`)
  console.log(`speed-up: ${(projected / bridge.ms).toFixed(1)}x`)
}
console.log(JSON.stringify({ users: N, batch: BATCH, bridgeMs: Math.round(bridge.ms), bridgePeakRssMb: +(bridge.peakRssKb / 1024).toFixed(1), loopUsers: loop ? LOOP_N : 0, loopMs: loop ? Math.round(loop.ms) : null }))
if (!args.keep) {
  await dropDatabase(args.server, dbA)
  if (!args['no-loop']) await dropDatabase(args.server, dbB)
}
