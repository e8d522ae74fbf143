// Synchronize Users to Contacts at scale: N Joomla users (60 % with an existing contact to
// match, one in six of those by a non-primary email and one in six by a mixed-case email;
// 40 % new), on two identical databases of the local MariaDB; then, in the same run, the
// bridge's set-based sync (`civicrm-bridge sync` in a child process, its peak RSS measured)
// and a per-user loop with CiviCRM 5.x's query pattern (CRM_Core_BAO_UFMatch::synchronizeUFMatch
// called for every row of `SELECT id, email, name FROM #__users`, one user at a time, issuing
// the statements CiviCRM's code issues: see perUserLoop).
//   npx tsx bench/sync/run.ts --users 100000 [--loop-users N] [--batch-size 1000] [--no-loop] [--repeat 3]
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
    repeat: { type: 'string', default: '3' },
    server: { type: 'string', default: process.env.BENCH_DB_SERVER_URL ?? 'mysql://root@127.0.0.1:3306/test' },
  },
})
const N = Number(args.users)
const LOOP_N = Math.min(Number(args['loop-users'] ?? N), N)
const BATCH = Number(args['batch-size'])
const REPEAT = Math.max(1, Number(args.repeat))
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

/**
 * The two ACL cache tables CiviCRM flushes when it creates a contact (5.x DDL, without the
 * foreign key to civicrm_acl, which the fixture does not have). Only the loop touches them.
 */
async function createAclCacheTables (url: string): Promise<void> {
  const conn = await mysql.createConnection({ uri: url })
  try {
    await conn.query(`CREATE TABLE civicrm_acl_cache (
      id int unsigned NOT NULL AUTO_INCREMENT, contact_id int unsigned DEFAULT NULL, acl_id int unsigned NOT NULL,
      modified_date timestamp NULL DEFAULT NULL, PRIMARY KEY (id), KEY index_contact_id (contact_id), KEY index_acl_id (acl_id),
      KEY index_modified_date (modified_date)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=DYNAMIC`)
    await conn.query(`CREATE TABLE civicrm_acl_contact_cache (
      id int unsigned NOT NULL AUTO_INCREMENT, user_id int unsigned DEFAULT NULL, contact_id int unsigned NOT NULL,
      operation varchar(8) NOT NULL, PRIMARY KEY (id), UNIQUE KEY UI_user_contact_operation (user_id, contact_id, operation)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=DYNAMIC`)
  } finally {
    await conn.end()
  }
}

/**
 * CiviCRM 5.x's loop, statement for statement as its code issues them (traced in
 * docs/benchmarks.md): CRM_Utils_System_Joomla::synchronizeUsers reads every user into memory,
 * then calls CRM_Core_BAO_UFMatch::synchronizeUFMatch(..., $isLogin = TRUE) per user. A
 * linked user costs 1 statement, a match 8, a new contact 18. Left out, so this is still a
 * lower bound: PHP's own time, statements that depend on configuration (syncCMSEmail's
 * uf_match read, greeting tokens read through APIv4) and the first call's cache warm-up.
 */
async function perUserLoop (url: string, limit: number): Promise<{ ms: number, matched: number, created: number }> {
  const conn = await mysql.createConnection({ uri: url, charset: 'utf8mb4_unicode_ci' })
  const started = process.hrtime.bigint()
  let matched = 0
  let created = 0
  const q = async <T = unknown[]>(text: string, values: unknown[] = []): Promise<T> => (await conn.query(text, values))[0] as T
  try {
    const users = await q<Array<{ id: number, email: string, name: string }>>('SELECT id, email, name FROM jos_users ORDER BY id LIMIT ?', [limit])
    for (const u of users) {
      const email = u.email.trim().toLowerCase()
      // synchronizeUFMatch: the user's link (DB_DataObject find).
      const link = await q<unknown[]>('SELECT * FROM civicrm_uf_match WHERE domain_id = ? AND uf_id = ?', [1, u.id])
      if (link.length > 0) { matched++; continue }
      // Not linked: one CRM_Core_Transaction (nested ones in Contact::create and the API join it).
      await q('BEGIN')
      // CRM_Contact_BAO_Contact::matchContactOnEmail (no LIMIT: PHP takes the first row).
      const found = await q<Array<{ contact_id: number }>>(`SELECT civicrm_contact.id AS contact_id, civicrm_contact.hash, civicrm_contact.contact_type, civicrm_contact.contact_sub_type
        FROM civicrm_contact INNER JOIN civicrm_email ON civicrm_contact.id = civicrm_email.contact_id
        WHERE civicrm_email.email = ? AND civicrm_contact.is_deleted = 0 AND civicrm_contact.contact_type = 'Individual'
        ORDER BY civicrm_email.is_primary DESC`, [email])
      let contactId: number | undefined = found[0]?.contact_id
      // CRM-9091: a contact linked to another user is not taken.
      if (contactId !== undefined && (await q<unknown[]>('SELECT id FROM civicrm_uf_match WHERE contact_id = ? AND domain_id = ?', [contactId, 1])).length > 0) contactId = undefined
      const isNew = contactId === undefined
      if (contactId === undefined) {
        contactId = await createContactAsCiviCrmDoes(q, u.name, email)
        created++
      } else {
        matched++
      }
      // The conflict check, then UFMatch::create: find, then save.
      await q('SELECT uf_id FROM civicrm_uf_match WHERE (contact_id = ? OR uf_name = ? OR uf_id = ?) AND domain_id = ?', [contactId, email, u.id, 1])
      await q('SELECT * FROM civicrm_uf_match WHERE domain_id = ? AND uf_id = ? AND uf_name = ? AND contact_id = ?', [1, u.id, email, contactId])
      await q('INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (?, ?, ?, ?)', [1, u.id, email, contactId])
      await q('COMMIT')
      // A new contact flushes the ACL contact cache after the commit (a post-commit callback).
      if (isNew) await q('DELETE FROM civicrm_acl_contact_cache')
    }
  } finally {
    await conn.end()
  }
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, matched, created }
}

/** civicrm_api3('Contact', 'create') with the email, as synchronizeUFMatch calls it: 10 statements. */
async function createContactAsCiviCrmDoes (q: <T = unknown[]>(text: string, values?: unknown[]) => Promise<T>, name: string, email: string): Promise<number> {
  const parts = name.trim().split(/\s+/)
  const [first, last] = [parts[0], parts.length > 1 ? parts.at(-1)! : '']
  const display = last ? `${first} ${last}` : first
  const sort = last ? `${last}, ${first}` : first
  // Contact::add: display and sort names computed in PHP, then the row; Log::register.
  const { insertId: id } = await q<{ insertId: number }>(`INSERT INTO civicrm_contact (contact_type, first_name, last_name, display_name, sort_name, hash,
    email_greeting_id, postal_greeting_id, addressee_id) VALUES ('Individual', ?, ?, ?, ?, ?, 1, 1, 1)`, [first, last, display, sort, randomBytes(16).toString('hex')])
  await q('INSERT INTO civicrm_log (entity_table, entity_id, data, modified_id, modified_date) VALUES (?, ?, ?, ?, NOW())', ['civicrm_contact', id, `civicrm_contact,${id}`, id])
  // Block::create: the contact's emails (getBlockIds), the primary reset, the row.
  await q(`SELECT civicrm_email.email, civicrm_location_type.name FROM civicrm_contact
    LEFT JOIN civicrm_email ON civicrm_email.contact_id = civicrm_contact.id
    LEFT JOIN civicrm_location_type ON civicrm_location_type.id = civicrm_email.location_type_id
    WHERE civicrm_contact.id = ?`, [id])
  await q('UPDATE civicrm_email SET is_primary = 0 WHERE contact_id = ?', [id])
  await q('INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) VALUES (?, 1, ?, 1)', [id, email])
  // Email::updateContactName: Contact::hasName reads the type and the first name.
  await q('SELECT contact_type FROM civicrm_contact WHERE id = ?', [id])
  await q('SELECT first_name FROM civicrm_contact WHERE id = ?', [id])
  // clearContactCaches: the opportunistic ACL cache flush.
  await q('DELETE FROM civicrm_acl_cache WHERE modified_date IS NULL OR modified_date <= ?', [new Date(Date.now() - 60 * 60 * 1000)])
  // processGreetings: reload the contact, then write the three greeting displays.
  await q('SELECT * FROM civicrm_contact WHERE id = ? AND contact_type = ? AND first_name = ? AND last_name = ?', [id, 'Individual', first, last])
  await q('UPDATE civicrm_contact SET email_greeting_display = ?, postal_greeting_display = ?, addressee_display = ? WHERE id = ?', [`Dear ${first}`, `Dear ${first}`, display, id])
  return id
}

// The CLI as `npm ci` leaves it: compiled to build/ (a stale build would fall back to tsx).
if (spawnSync(process.execPath, ['scripts/build.js'], { stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed')
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const [dbA, dbB] = ['cb_bench_sync_bridge', 'cb_bench_sync_loop']
console.log(`# bench/sync: ${N} users, batch ${BATCH}; ${cpus().length} CPU ${cpus()[0]?.model ?? ''}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`)
// The bridge's run is seconds long, so InnoDB's background flushing of what the seed (or an
// earlier run) wrote shows in it: each run on a freshly seeded database, the median kept.
const runs: Array<Awaited<ReturnType<typeof bridgeSync>>> = []
for (let r = 0; r < REPEAT; r++) {
  const t0 = Date.now()
  const urlA = await createFixtureDatabase(args.server, dbA)
  await seed(urlA)
  console.log(`seeded ${dbA} in ${fmt(Date.now() - t0)}`)
  const run = await bridgeSync(urlA)
  runs.push(run)
  console.log(`bridge sync ${r + 1}/${REPEAT}: ${fmt(run.ms)} (${Math.round(N / (run.ms / 1000))} users/s; ${fmt(run.wallMs)} with the process's start and exit), peak RSS ${(run.peakRssKb / 1024).toFixed(1)} MB`)
  console.log(`  ${run.message}`)
}
const bridge = [...runs].sort((x, y) => x.ms - y.ms)[Math.floor(runs.length / 2)]
const peakRssKb = Math.max(...runs.map((r) => r.peakRssKb))
console.log(`bridge sync, median of ${REPEAT}: ${fmt(bridge.ms)} (${Math.round(N / (bridge.ms / 1000))} users/s); runs ${runs.map((r) => fmt(r.ms)).join(', ')}; highest peak RSS ${(peakRssKb / 1024).toFixed(1)} MB`)
let loop: Awaited<ReturnType<typeof perUserLoop>> | null = null
if (!args['no-loop']) {
  const t1 = Date.now()
  const urlB = await createFixtureDatabase(args.server, dbB)
  await seed(urlB)
  await createAclCacheTables(urlB)
  console.log(`seeded ${dbB} in ${fmt(Date.now() - t1)}`)
  loop = await perUserLoop(urlB, LOOP_N)
  const projected = loop.ms * (N / LOOP_N)
  console.log(`per-user loop: ${fmt(loop.ms)} for ${LOOP_N} users (${Math.round(LOOP_N / (loop.ms / 1000))} users/s)${LOOP_N < N ? `, projected ${fmt(projected)} for ${N}` : ''}; matched ${loop.matched}, created ${loop.created}`)
  console.log(`speed-up: ${(projected / bridge.ms).toFixed(1)}x`)
}
console.log(JSON.stringify({ users: N, batch: BATCH, bridgeMs: Math.round(bridge.ms), bridgeRunsMs: runs.map((r) => Math.round(r.ms)), bridgePeakRssMb: +(peakRssKb / 1024).toFixed(1), loopUsers: loop ? LOOP_N : 0, loopMs: loop ? Math.round(loop.ms) : null }))
if (!args.keep) {
  await dropDatabase(args.server, dbA)
  if (!args['no-loop']) await dropDatabase(args.server, dbB)
}
