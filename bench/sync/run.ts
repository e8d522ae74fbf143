// Synchronize Users to Contacts at scale: N Joomla users (60 % with an existing contact to
// match, one in six of those by a non-primary email and one in six by a mixed-case email;
// 40 % new), on two identical databases of the local MariaDB; then, in the same run, the
// bridge's set-based sync (`civicrm-bridge sync` in a child process, its peak RSS measured)
// and a per-user loop with CiviCRM 5.x's query pattern (CRM_Core_BAO_UFMatch::synchronizeUFMatch
// called for every row of `SELECT id, email, name FROM #__users`, one user at a time, issuing
// the statements CiviCRM's code issues: see perUserLoop).
//   npx tsx bench/sync/run.ts --users 100000 [--loop-users N] [--batch-size 1000] [--no-loop] [--repeat 3]
//     [--server mysql://root@127.0.0.1:3306/test] [--bridge-dir /path/to/another/checkout]
//     [--node-flags=--max-semi-space-size=4] [--cpu-prof DIR]
// --loop-users runs the loop on the first N users only and extrapolates its time linearly
// (it is linear: the same queries per user); the bridge always syncs every user.
// Each repetition also runs the set-based SQL floor (issue #20: setBasedFloor) on another,
// identically seeded database, checks that it wrote the same CiviCRM rows as the bridge, and
// reports bridge / floor.
import { spawn, spawnSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import mysql from 'mysql2/promise'
import { createFixtureDatabase, dropDatabase } from '../../server/dev/fixture.js'
import { Database } from '../../server/data/db.js'
import { seedUsers } from '../seed-users.js'
import { nodeArgs } from '../node-args.js'

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '100000' },
    'loop-users': { type: 'string' },
    'batch-size': { type: 'string', default: '1000' },
    'no-loop': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '3' },
    server: { type: 'string', default: process.env.BENCH_DB_SERVER_URL ?? 'mysql://root@127.0.0.1:3306/test' },
    // Another checkout's CLI (an older commit, say), built there: before and after with one bench.
    'bridge-dir': { type: 'string' },
    // A second checkout's CLI run in every repetition too, alternating with this one, each on a fresh seed: reported as compare / bridge.
    compare: { type: 'string' },
    // Node's or V8's flags for this checkout's CLI, and a CPU profile of each of its runs into DIR (the
    // --compare CLI runs without them: `--compare "$PWD"` measures a flag alone).
    'node-flags': { type: 'string', default: '' },
    'cpu-prof': { type: 'string' },
  },
})
const N = Number(args.users)
const LOOP_N = Math.min(Number(args['loop-users'] ?? N), N)
const BATCH = Number(args['batch-size'])
const REPEAT = Math.max(1, Number(args.repeat))
const BRIDGE_DIR = args['bridge-dir'] ?? fileURLToPath(new URL('../..', import.meta.url))
const BIN = `${BRIDGE_DIR}/bin/civicrm-bridge.js`
const COMPARE_DIR = args.compare ?? null
const NODE_ARGS = nodeArgs(args['cpu-prof'], args['node-flags'])
const SECRET = 'bench-secret-bench-secret-bench-secret-0001'

const mix = { matched: (i: number) => i % 10 < 6, byNonPrimary: (i: number) => i % 10 === 0, mixedCase: (i: number) => i % 10 === 1 }
const seed = (url: string) => seedUsers(url, N, mix, 'bench')

/** CPU seconds (user + system) a process has used so far, from /proc; null once it is gone. */
async function cpuSeconds (pid: number | null): Promise<number | null> {
  if (pid === null) return null
  try {
    // Fields 14 and 15 (utime, stime) in clock ticks (100 per second on Linux), after the parenthesised name.
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return null
  }
}

/** The local MariaDB server's process id (its pid file), or null when it is not readable here. */
async function serverPid (url: string): Promise<number | null> {
  const conn = await mysql.createConnection({ uri: url })
  try {
    const [[{ f }]] = await conn.query('SELECT @@pid_file AS f') as unknown as [[{ f: string }]]
    return Number((await readFile(f, 'utf8')).trim())
  } catch {
    return null
  } finally {
    await conn.end()
  }
}

/** The server's CPU seconds while fn runs (every client's: on a shared server, others' queries count too). */
async function serverCpu<T> (pid: number | null, fn: () => Promise<T>): Promise<[T, number | null]> {
  const before = await cpuSeconds(pid)
  const out = await fn()
  const after = await cpuSeconds(pid)
  return [out, before === null || after === null ? null : after - before]
}

/** `civicrm-bridge sync --json` as a user runs it (the compiled build when it is fresh), its peak RSS and CPU read from /proc. */
async function bridgeSync (url: string, bin = BIN, nodeFlags = NODE_ARGS): Promise<{ ms: number, wallMs: number, peakRssKb: number, cpuS: number, message: string }> {
  const started = Date.now()
  const child = spawn(process.execPath, [...nodeFlags, bin, 'sync', '--json', '--batch-size', String(BATCH)], {
    env: { PATH: process.env.PATH!, CIVICRM_DB_URL: url, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: SECRET, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  // VmHWM is the process's high-water mark: the last reading before it exits is its peak.
  let peak = 0
  let cpuS = 0
  const sampler = setInterval(() => {
    readFile(`/proc/${child.pid}/status`, 'utf8').then((status) => {
      peak = Math.max(peak, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0))
    }, () => { /* gone */ })
    cpuSeconds(child.pid!).then((s) => { cpuS = Math.max(cpuS, s ?? 0) }, () => {})
  }, 20)
  const code = await new Promise((resolve) => child.on('exit', resolve))
  clearInterval(sampler)
  if (code !== 0) throw new Error(`sync exited with ${code}: ${out}`)
  const r = JSON.parse(out) as { durationMs: number, message: string }
  return { ms: r.durationMs, wallMs: Date.now() - started, peakRssKb: peak, cpuS, message: r.message }
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

/**
 * The floor of issue #20: the CiviCRM rows the bridge's sync writes for these users (the links
 * of the matched users to their contacts, and for the others a contact with the columns the
 * bridge gives it, its primary email, its civicrm_log row and its link), written by six
 * set-based INSERT … SELECT statements on one connection (and a temporary table numbering the new ones): no locks, no audit, no checkpoints,
 * no job, no Node between statements. The site's constants (language, communication style,
 * greeting ids, location type) are read before the clock starts; the names and greetings are
 * rendered in SQL for the seeded names ("Joomla User 17": first, middle, last) with the
 * fixture's formats. It relies on what the seed guarantees (no link yet, one contact per
 * email, no duplicate or invalid email), which the bridge checks and the floor does not;
 * sameRows() checks that it wrote what the bridge wrote.
 */
async function setBasedFloor (url: string): Promise<{ ms: number }> {
  const database = new Database(url)
  const site = await database.siteSettings()
  await database.close()
  const conn = await mysql.createConnection({ uri: url, charset: 'utf8mb4_unicode_ci' })
  const started = process.hrtime.bigint()
  try {
    const [[{ maxId: before }]] = await conn.query('SELECT COALESCE(MAX(id), 0) AS maxId FROM civicrm_contact') as unknown as [[{ maxId: number }]]
    // The matched users: the first contact having the email on any row, primary first, then lowest id.
    await conn.query(`INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id)
      SELECT 1, id, email, contact_id FROM (
        SELECT u.id, TRIM(u.email) AS email, c.id AS contact_id, ROW_NUMBER() OVER (PARTITION BY u.id ORDER BY e.is_primary DESC, c.id) AS rn
        FROM jos_users u JOIN civicrm_email e ON e.email = TRIM(u.email)
        JOIN civicrm_contact c ON c.id = e.contact_id AND c.contact_type = 'Individual' AND c.is_deleted = 0) m
      WHERE rn = 1 ORDER BY id`)
    // The others, numbered in user order: their contacts get the ids before + 1, before + 2, …
    // (one INSERT … SELECT takes consecutive ids under InnoDB's lock modes 0 and 1, as the
    // bridge's multi-row inserts do; sameRows() would tell otherwise).
    await conn.query('CREATE TEMPORARY TABLE floor_new (seq int unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, uf_id int unsigned NOT NULL)')
    await conn.query(`INSERT INTO floor_new (uf_id) SELECT u.id FROM jos_users u
      WHERE NOT EXISTS (SELECT 1 FROM civicrm_uf_match m WHERE m.uf_id = u.id AND m.domain_id = 1) ORDER BY u.id`)
    const first = "SUBSTRING_INDEX(u.name, ' ', 1)"
    const middle = "SUBSTRING_INDEX(SUBSTRING_INDEX(u.name, ' ', 2), ' ', -1)"
    const last = "SUBSTRING_INDEX(u.name, ' ', -1)"
    await conn.query(`INSERT INTO civicrm_contact (contact_type, first_name, middle_name, last_name, display_name, sort_name, hash, source, preferred_language, communication_style_id,
        email_greeting_id, email_greeting_display, postal_greeting_id, postal_greeting_display, addressee_id, addressee_display)
      SELECT 'Individual', ${first}, ${middle}, ${last}, CONCAT(${first}, ' ', ${last}), CONCAT(${last}, ', ', ${first}), MD5(RAND()), 'Joomla user sync', ?, ?,
        ?, CONCAT('Dear ', ${first}), ?, CONCAT('Dear ', ${first}), ?, CONCAT(${first}, ' ', ${middle}, ' ', ${last})
      FROM floor_new n JOIN jos_users u ON u.id = n.uf_id ORDER BY n.seq`,
    [site.preferredLanguage, site.communicationStyleId, site.defaultGreetings.email_greeting?.id ?? null, site.defaultGreetings.postal_greeting?.id ?? null, site.defaultGreetings.addressee?.id ?? null])
    await conn.query(`INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary)
      SELECT ? + n.seq, ?, LOWER(TRIM(u.email)), 1 FROM floor_new n JOIN jos_users u ON u.id = n.uf_id ORDER BY n.seq`, [before, site.locationTypeId])
    await conn.query(`INSERT INTO civicrm_log (entity_table, entity_id, data, modified_id, modified_date)
      SELECT 'civicrm_contact', ? + n.seq, CONCAT('civicrm_contact,', ? + n.seq), ? + n.seq, ? FROM floor_new n ORDER BY n.seq`, [before, before, before, site.localTime(new Date())])
    await conn.query(`INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id)
      SELECT 1, u.id, TRIM(u.email), ? + n.seq FROM floor_new n JOIN jos_users u ON u.id = n.uf_id ORDER BY n.seq`, [before])
  } finally {
    await conn.end()
  }
  return { ms: Number(process.hrtime.bigint() - started) / 1e6 }
}

/**
 * The CiviCRM rows of a database, each table as its row count and a sum of row checksums over
 * every column the sync writes except the random hash and the times. Row ids the sync assigns
 * are left out, and a contact the sync created is known by the user it is linked to: the
 * bridge writes two chunks at once, so the ids one chunk's rows get (contacts, emails, log
 * rows) may come before or after the chunk before it, by a few milliseconds of timing. A contact
 * that was there before (id up to `seededMax`) is known by its id: a link must go to that one.
 */
async function civicrmRows (url: string, seededMax: number): Promise<Record<string, string>> {
  const conn = await mysql.createConnection({ uri: url })
  // (MIN, not ORDER BY … LIMIT 1: on a table just written, the optimizer may walk the primary key for the latter.)
  const key = (id: string) => `IF(t.${id} <= ${seededMax}, t.${id}, CONCAT('user ', (SELECT MIN(k.uf_id) FROM civicrm_uf_match k WHERE k.contact_id = t.${id})))`
  const list = (columns: string) => columns.split(',').map((c) => c.trim())
  const sums: Record<string, string[]> = {
    civicrm_contact: [key('id'), ...list(`contact_type, first_name, middle_name, last_name, display_name, sort_name, source, preferred_language,
      communication_style_id, email_greeting_id, email_greeting_display, postal_greeting_id, postal_greeting_display, addressee_id,
      addressee_display, is_deleted`)],
    civicrm_email: [key('contact_id'), 'location_type_id', 'email', 'is_primary'],
    civicrm_log: ['entity_table', key('entity_id'), "data = CONCAT(entity_table, ',', entity_id)", 'modified_id = entity_id'],
    civicrm_uf_match: ['domain_id', 'uf_id', 'uf_name', key('contact_id')],
  }
  try {
    const out: Record<string, string> = {}
    for (const [table, columns] of Object.entries(sums)) {
      const values = columns.map((c) => `COALESCE(${c}, '<null>')`).join(', ')
      const [[r]] = await conn.query(`SELECT COUNT(*) AS n, SUM(CRC32(CONCAT_WS('|', ${values}))) AS sum FROM ${table} t`) as unknown as [[{ n: number, sum: string }]]
      out[table] = `${r.n} rows, checksum ${r.sum}`
    }
    return out
  } finally {
    await conn.end()
  }
}

async function maxContactId (url: string): Promise<number> {
  const conn = await mysql.createConnection({ uri: url })
  try {
    const [[{ maxId }]] = await conn.query('SELECT COALESCE(MAX(id), 0) AS maxId FROM civicrm_contact') as unknown as [[{ maxId: number }]]
    return Number(maxId)
  } finally {
    await conn.end()
  }
}

/** The floor wrote the CiviCRM rows the bridge wrote, or the bench stops. */
async function sameRows (bridgeUrl: string, floorUrl: string, seededMax: number): Promise<Record<string, string>> {
  const [a, b] = await Promise.all([civicrmRows(bridgeUrl, seededMax), civicrmRows(floorUrl, seededMax)])
  for (const table of Object.keys(a)) {
    if (a[table] !== b[table]) throw new Error(`the floor did not write the bridge's rows: ${table} ${a[table]} (bridge) vs ${b[table]} (floor)`)
  }
  return a
}

// The CLI as `npm ci` leaves it: compiled to build/ (a stale build would fall back to tsx).
for (const dir of COMPARE_DIR === null ? [BRIDGE_DIR] : [BRIDGE_DIR, COMPARE_DIR]) {
  if (spawnSync(process.execPath, ['scripts/build.js'], { stdio: 'inherit', cwd: dir }).status !== 0) throw new Error(`npm run build failed in ${dir}`)
}
const describe = (dir: string) => `${dir} (${spawnSync('git', ['-C', dir, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).stdout.trim()})`
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ')
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]
const [dbA, dbB, dbF] = ['cb_bench_sync_bridge', 'cb_bench_sync_loop', 'cb_bench_sync_floor']
console.log(`# bench/sync: ${N} users, batch ${BATCH}; the CLI of ${describe(BRIDGE_DIR)}${COMPARE_DIR === null ? '' : `, compared with ${describe(COMPARE_DIR)}`}; ${cpus().length} CPU ${cpus()[0]?.model ?? ''}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}${NODE_ARGS.length > 0 ? ` ${NODE_ARGS.join(' ')}` : ''}; load average ${load()}`)
// The bridge's run is seconds long, so InnoDB's background flushing of what the seed (or an
// earlier run) wrote shows in it: each run on a freshly seeded database, the median kept. The
// floor runs right after the bridge, on its own freshly seeded database.
// MariaDB's CPU is read from /proc when the server runs here (its whole CPU: others' queries too on a shared server).
const mariadb = await serverPid(args.server)
const cpu = (s: number | null) => (s === null ? 'unknown (not a local server)' : `${s.toFixed(2)} s`)
const runs: Array<Awaited<ReturnType<typeof bridgeSync>>> = []
const compared: Array<Awaited<ReturnType<typeof bridgeSync>>> = []
const floors: number[] = []
let afterFloor: (() => Promise<void>) | null = null
for (let r = 0; r < REPEAT; r++) {
  if (COMPARE_DIR !== null) {
    // The other CLI first in odd repetitions, after the floor in even ones: neither always follows the same run.
    const other = async () => {
      const t = Date.now()
      const url = await createFixtureDatabase(args.server, dbA)
      await seed(url)
      console.log(`seeded ${dbA} in ${fmt(Date.now() - t)}`)
      const [run, dbCpuS] = await serverCpu(mariadb, () => bridgeSync(url, `${COMPARE_DIR}/bin/civicrm-bridge.js`, []))
      compared.push(run)
      console.log(`compared sync ${r + 1}/${REPEAT}: ${fmt(run.ms)}, peak RSS ${(run.peakRssKb / 1024).toFixed(1)} MB; CPU: the process ${run.cpuS.toFixed(2)} s, MariaDB ${cpu(dbCpuS)}; load average ${load()}`)
    }
    if (r % 2 === 0) await other()
    else afterFloor = other
  }
  const t0 = Date.now()
  const urlA = await createFixtureDatabase(args.server, dbA)
  await seed(urlA)
  const seededMax = await maxContactId(urlA)
  console.log(`seeded ${dbA} in ${fmt(Date.now() - t0)}`)
  const [run, dbCpuS] = await serverCpu(mariadb, () => bridgeSync(urlA))
  runs.push(run)
  console.log(`bridge sync ${r + 1}/${REPEAT}: ${fmt(run.ms)} (${Math.round(N / (run.ms / 1000))} users/s; ${fmt(run.wallMs)} with the process's start and exit), peak RSS ${(run.peakRssKb / 1024).toFixed(1)} MB; CPU: the process ${run.cpuS.toFixed(2)} s, MariaDB ${cpu(dbCpuS)}; load average ${load()}`)
  console.log(`  ${run.message}`)
  const t1 = Date.now()
  const urlF = await createFixtureDatabase(args.server, dbF)
  await seed(urlF)
  console.log(`seeded ${dbF} in ${fmt(Date.now() - t1)}`)
  const [floor, floorCpuS] = await serverCpu(mariadb, () => setBasedFloor(urlF))
  floors.push(floor.ms)
  const rows = await sameRows(urlA, urlF, seededMax)
  console.log(`set-based floor ${r + 1}/${REPEAT}: ${fmt(floor.ms)} (MariaDB CPU ${cpu(floorCpuS)}); bridge / floor ${(run.ms / floor.ms).toFixed(2)}; the same CiviCRM rows: ${Object.entries(rows).map(([t, v]) => `${t} ${v}`).join('; ')}`)
  await afterFloor?.()
  afterFloor = null
}
const bridge = [...runs].sort((x, y) => x.ms - y.ms)[Math.floor(runs.length / 2)]
const floorMs = median(floors)
const peakRssKb = Math.max(...runs.map((r) => r.peakRssKb))
console.log(`bridge sync, median of ${REPEAT}: ${fmt(bridge.ms)} (${Math.round(N / (bridge.ms / 1000))} users/s); runs ${runs.map((r) => fmt(r.ms)).join(', ')}; highest peak RSS ${(peakRssKb / 1024).toFixed(1)} MB`)
console.log(`set-based floor, median of ${REPEAT}: ${fmt(floorMs)}; runs ${floors.map(fmt).join(', ')}`)
console.log(`bridge / floor: ${(bridge.ms / floorMs).toFixed(2)} (medians); per run ${runs.map((r, i) => (r.ms / floors[i]).toFixed(2)).join(', ')}`)
const comparedMs = compared.length > 0 ? median(compared.map((r) => r.ms)) : null
if (comparedMs !== null) {
  console.log(`compared sync (${describe(COMPARE_DIR!)}), median of ${REPEAT}: ${fmt(comparedMs)}; runs ${compared.map((r) => fmt(r.ms)).join(', ')}; highest peak RSS ${(Math.max(...compared.map((r) => r.peakRssKb)) / 1024).toFixed(1)} MB`)
  console.log(`bridge / compared: ${(bridge.ms / comparedMs).toFixed(2)} (medians); per repetition ${runs.map((r, i) => (r.ms / compared[i].ms).toFixed(2)).join(', ')}`)
}
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
  // The floor's own speed-up says whether the target (≥ 50×) is within reach on this machine.
  console.log(`speed-up: ${(projected / bridge.ms).toFixed(1)}x (target ≥ 50x: ${projected / bridge.ms >= 50 ? 'met' : 'not met'}); the set-based floor itself: ${(projected / floorMs).toFixed(1)}x`)
}
console.log(JSON.stringify({ users: N, batch: BATCH, bridgeMs: Math.round(bridge.ms), bridgeRunsMs: runs.map((r) => Math.round(r.ms)), bridgePeakRssMb: +(peakRssKb / 1024).toFixed(1), floorMs: Math.round(floorMs), floorRunsMs: floors.map(Math.round), bridgeOverFloor: +(bridge.ms / floorMs).toFixed(2), comparedMs: comparedMs === null ? null : Math.round(comparedMs), comparedRunsMs: compared.map((r) => Math.round(r.ms)), bridgeOverCompared: comparedMs === null ? null : +(bridge.ms / comparedMs).toFixed(2), loadAverage: load(), loopUsers: loop ? LOOP_N : 0, loopMs: loop ? Math.round(loop.ms) : null }))
if (!args.keep) {
  await dropDatabase(args.server, dbA)
  await dropDatabase(args.server, dbF)
  if (!args['no-loop']) await dropDatabase(args.server, dbB)
}
