// The civicrm-bridge command: config errors are one line and a non-zero exit; migrate, check,
// serve (and its graceful stop), demo.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { loadConfig, ConfigError } from '../server/config.js'
import { runCli, describeError, CliError } from '../server/cli.js'
import { readFileSync } from 'node:fs'
import { pruneBefore } from '../server/data/event-store.js'
import { Database } from '../server/data/db.js'
import { startServer } from '../server/server.js'
import { testDatabase, freePort, eventually, childEnv, testConfig, SECRET, ADMIN_TOKEN, holdSyncClaim } from './helper.js'

const BIN = fileURLToPath(new URL('../bin/civicrm-bridge.js', import.meta.url))
const baseEnv = (url: string) => ({ CIVICRM_DB_URL: url, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'warn' })
const run = (args: string[], env: Record<string, string>) => spawnSync(process.execPath, [BIN, ...args], { env: childEnv(env), encoding: 'utf8', timeout: 60_000 })

t.test('config: defaults and derived values', async (t) => {
  const c = loadConfig({ CIVICRM_DB_URL: 'mysql://u:p@db:3306/civi', BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN })
  t.match(c, { joomlaDbUrl: 'mysql://u:p@db:3306/civi', joomlaDbPrefix: 'jos_', domainId: 1, host: '127.0.0.1', port: 8080, logLevel: 'info', sites: [], secrets: [SECRET] })
})

t.test('config: every bad value is a one-line error', async (t) => {
  const good = { CIVICRM_DB_URL: 'mysql://u@db/civi', BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN }
  const bad: Record<string, Record<string, string | undefined>> = {
    'missing CIVICRM_DB_URL': { CIVICRM_DB_URL: undefined },
    'a postgres URL': { CIVICRM_DB_URL: 'postgres://u@db/civi' },
    'a short secret': { BRIDGE_SECRET: 'short' },
    'a short admin token': { BRIDGE_ADMIN_TOKEN: 'x'.repeat(31) },
    'a port out of range': { PORT: '70000' },
    'a domain id of 0': { CIVICRM_DOMAIN_ID: '0' },
    'a prefix with a quote': { JOOMLA_DB_PREFIX: "jos'" },
    'an unknown log level': { LOG_LEVEL: 'loud' },
    'a CiviCRM base URL that is no URL': { CIVICRM_BASE_URL: 'civi.example.org/' },
    'a site URL that is no URL': { JOOMLA_SITE_URL: 'www.example.org' },
    'an empty site name': { JOOMLA_SITE_NAME: '' },
  }
  for (const [name, change] of Object.entries(bad)) {
    t.throws(() => loadConfig({ ...good, ...change }), ConfigError, name)
    try { loadConfig({ ...good, ...change }) } catch (err) { t.notOk((err as Error).message.includes('\n'), `${name}: one line`) }
  }
  t.throws(() => loadConfig({ ...good, BRIDGE_SECRET: 'é'.repeat(15) + 'x'.repeat(1) }), /at least 32|minLength|fewer than 32/)
})

t.test('the CLI prints one line and exits non-zero on a bad config', async (t) => {
  const r = run(['serve'], { BRIDGE_SECRET: 'short' })
  t.equal(r.status, 1)
  t.match(r.stderr, /^civicrm-bridge: invalid configuration: .*\n$/)
  t.equal(r.stderr.trim().split('\n').length, 1)
})

t.test('migrate then check on a CiviCRM database; check names what is missing', async (t) => {
  const db = await testDatabase(t, { migrate: false })
  const env = baseEnv(db.url)
  const failing = run(['check'], env)
  t.equal(failing.status, 1)
  t.match(failing.stderr, /bridge tables missing \(run: civicrm-bridge migrate\)/)
  const m = run(['migrate'], env)
  t.equal(m.status, 0, m.stderr)
  t.match(m.stdout, /bridge tables migrated in cbt_/)
  t.equal(run(['migrate'], env).status, 0, 'migrate twice is harmless')
  const c = run(['check'], env)
  t.equal(c.status, 0)
  t.match(c.stdout, /schema ok/)
  const prefix = run(['check'], { ...env, JOOMLA_DB_PREFIX: 'j4_' })
  t.equal(prefix.status, 1, 'a wrong JOOMLA_DB_PREFIX is caught by check')
  t.equal(prefix.stderr, `civicrm-bridge: Joomla users table j4_users missing in database ${db.name} (check JOOMLA_DB_PREFIX and JOOMLA_DB_URL)\n`)
})

t.test('check and serve find Joomla\'s users table in JOOMLA_DB_URL\'s database under JOOMLA_DB_PREFIX, and refuse to start without it', async (t) => {
  const db = await testDatabase(t, { joomlaPrefix: null })
  const joomla = await testDatabase(t, { civicrm: false, joomlaPrefix: 'j3x_' })
  const env = { ...baseEnv(db.url), JOOMLA_DB_URL: joomla.url, JOOMLA_DB_PREFIX: 'j3x_' }
  const lines: string[] = []
  t.equal(await runCli(['check'], env, (l) => lines.push(l)), 0)
  t.same(lines, [`schema ok in ${db.name}`])
  await t.rejects(runCli(['check'], { ...env, JOOMLA_DB_PREFIX: 'jos_' }, () => {}), { name: 'CliError', message: `Joomla users table jos_users missing in database ${joomla.name} (check JOOMLA_DB_PREFIX and JOOMLA_DB_URL)` })
  await t.rejects(startServer(testConfig(db.url, { PORT: '0', JOOMLA_DB_URL: joomla.url })), { name: 'CliError', message: /^Joomla users table jos_users missing in database/ }, 'serve refuses a wrong prefix at start')
  const app = await startServer(testConfig(db.url, { PORT: '0', JOOMLA_DB_URL: joomla.url, JOOMLA_DB_PREFIX: 'j3x_' }))
  t.same((await app.inject('/ready')).json(), { ready: true })
  await joomla.sql.query('DROP TABLE j3x_users')
  t.same((await app.inject('/ready')).json(), { ready: false, reason: `Joomla users table j3x_users missing in database ${joomla.name} (check JOOMLA_DB_PREFIX and JOOMLA_DB_URL)` })
  await app.close()
})

t.test('serve refuses to start without CiviCRM\'s tables, naming them', async (t) => {
  const db = await testDatabase(t, { civicrm: false })
  const r = run(['serve'], { ...baseEnv(db.url), PORT: String(await freePort()) })
  t.equal(r.status, 1)
  t.match(r.stderr, /^civicrm-bridge: CiviCRM tables missing in database cbt_\w+: civicrm_domain, civicrm_contact, civicrm_email, civicrm_uf_match, civicrm_log, civicrm_setting, civicrm_option_group, civicrm_option_value, civicrm_location_type, civicrm_uf_group \(check CIVICRM_DB_URL\)\n$/)
})

t.test('serve refuses to start when the database does not answer', async (t) => {
  const r = run(['serve'], { ...baseEnv('mysql://root@127.0.0.1:1/nothing'), PORT: String(await freePort()) })
  t.equal(r.status, 1)
  t.match(r.stderr, /^civicrm-bridge: cannot reach the database/)
})

t.test('serve answers, and SIGTERM stops it within 10 s', async (t) => {
  const db = await testDatabase(t)
  const port = await freePort()
  const child = spawn(process.execPath, [BIN, 'serve'], { env: childEnv({ ...baseEnv(db.url), PORT: String(port) }), stdio: 'ignore' })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const health = await eventually('serve to answer /health', async () => await (await fetch(`http://127.0.0.1:${port}/health`)).json() as unknown, { everyMs: 100 })
  t.same(health, { status: 'ok', database: 'up' })
  child.kill('SIGTERM')
  // close-with-grace exits 1 when its 10 s delay runs out: 0 is a graceful stop within it.
  t.equal(await exited, 0, 'stopped gracefully, within the grace delay')
})

t.test('the demo builds its database, links two users and prints the links', async (t) => {
  const r = run(['demo'], { DEMO_DB_SERVER_URL: 'mysql://root@127.0.0.1:3306/test', LOG_LEVEL: 'warn' })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /registration of ann \(user 42\): HTTP 200 \{"action":"linked-existing","contactId":100/)
  t.match(r.stdout, /registration of bob \(user 43\): HTTP 200 \{"action":"created-contact"/)
  t.match(r.stdout, /user 43 <bob@example.org> -> contact \d+ "Bob Berg" \(sort "Berg, Bob", middle "van der"\)/)
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const links = r.stdout.split('\n').filter((l) => l.startsWith('  user '))
  t.equal(links.length, 2)
  for (const line of links) t.ok(readme.includes(`\n${line}\n`), `README shows the demo's line as it prints it: ${line}`)
})

t.test('in process: migrate, check and demo through runCli', async (t) => {
  const db = await testDatabase(t, { migrate: false })
  const lines: string[] = []
  const out = (l: string) => lines.push(l)
  await t.rejects(runCli(['check'], baseEnv(db.url), out), /bridge tables missing/)
  t.equal(await runCli(['migrate'], baseEnv(db.url), out), 0)
  t.equal(await runCli(['check'], baseEnv(db.url), out), 0)
  t.same(lines, [`bridge tables migrated in ${db.name}`, `schema ok in ${db.name}`])
  const broken = await testDatabase(t, { civicrm: false })
  await t.rejects(runCli(['serve'], { ...baseEnv(broken.url), PORT: '0' }, out), /CiviCRM tables missing/)
  await t.rejects(runCli(['migrate'], baseEnv(broken.url), out), { name: 'CliError', message: /^CiviCRM tables missing in database \w+: civicrm_domain, .*; nothing created \(check CIVICRM_DB_URL\)$/ })
  t.same(await broken.rows('SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE \'civibridge%\''), [], 'migrate created nothing')
  const msgs: string[] = []
  t.equal(await runCli(['migrate'], baseEnv(db.url), (l) => msgs.push(l)), 0)
  t.equal(await runCli(['migrate'], { ...baseEnv(db.url), CIVICRM_DOMAIN_ID: '9' }, (l) => msgs.push(l)), 0)
  t.match(msgs[1], /^bridge tables migrated; CiviCRM domain 9 does not exist/)
  for (const env of [{ DEMO_DB_SERVER_URL: process.env.DEMO_DB_SERVER_URL }, { DEMO_DB_SERVER_URL: process.env.TEST_DB_SERVER_URL ?? 'mysql://root@127.0.0.1:3306/test' }]) {
    const demo: string[] = []
    t.equal(await runCli(['demo'], env, (l) => demo.push(l)), 0)
    t.match(demo.join('\n'), /user 42 <ann@example.org> -> contact 100 "Ann Lee"/)
  }
})

t.test('in process: startServer listens, and refuses a database without CiviCRM', async (t) => {
  const db = await testDatabase(t)
  const app = await startServer(testConfig(db.url, { PORT: '0' }))
  const { port } = app.server.address() as { port: number }
  t.same(await (await fetch(`http://127.0.0.1:${port}/health`)).json(), { status: 'ok', database: 'up' })
  await app.close()
  const empty = await testDatabase(t, { civicrm: false })
  await t.rejects(startServer(testConfig(empty.url, { PORT: '0' })), { name: 'CliError', message: /CiviCRM tables missing/ })
  await t.rejects(startServer(testConfig(db.url.replace(':3306/', ':1/'), { PORT: '0' })), { name: 'CliError', message: /cannot reach the database/ })
  await t.rejects(runCli(['migrate'], baseEnv(db.url.replace(':3306/', ':1/')), () => {}), { code: 'ECONNREFUSED' }, 'migrate passes a database error through')
})

t.test('in process: sync passes a database error through as it is (not as a usage error), leaving no job and no lock behind', async (t) => {
  const db = await testDatabase(t)
  const err = await runCli(['sync'], { ...baseEnv(db.url), JOOMLA_DB_PREFIX: 'nosuch_' }, () => {}).catch((e: unknown) => e)
  t.notOk(err instanceof CliError, 'not turned into a CliError')
  t.match(err, { code: 'ER_NO_SUCH_TABLE' })
  t.match(describeError(err), /^error: Table '\w+\.nosuch_users' doesn't exist$/)
  t.same(await db.rows('SELECT id FROM civibridge_sync_job'), [], 'no job was created')
  const lines: string[] = []
  t.equal(await runCli(['sync'], baseEnv(db.url), (l) => lines.push(l)), 0, 'the next sync is not refused')
  t.same(lines, ['Synchronize Users to Contacts completed. Checked 0 user records. Created 0 new contact records.'])
  // Another sync holds the claim: one line, as a CliError.
  const other = await holdSyncClaim(t, db.url)
  await t.rejects(runCli(['sync'], baseEnv(db.url), () => {}), { name: 'CliError', message: /^A synchronization is already running/ })
  await other.release()
})

t.test('prune deletes the event records and used tokens older than the retention and keeps the rest; a retention under 7 days is refused and deletes nothing', async (t) => {
  const db = await testDatabase(t)
  const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000)
  const events = [['old-1', 40], ['old-2', 31], ['old-3', 90], ['new-1', 29], ['new-2', 1]] as const
  await db.sql.query('INSERT INTO civibridge_event (jti, site, body_sha256, event, uf_id, occurred_at, received_at, result) VALUES ?',
    [events.map(([jti, d]) => [jti, 's', 'a'.repeat(64), 'onUserLogin', 1, daysAgo(d), daysAgo(d), '{"action":"already-linked","contactId":1,"reason":null}'])])
  await db.sql.query('INSERT INTO civibridge_used_token (jti, purpose, used_at) VALUES ?', [[['t-old', 'profile', daysAgo(45)], ['t-new', 'profile', daysAgo(2)]]])
  const remaining = async () => ({
    events: (await db.rows<{ jti: string }>('SELECT jti FROM civibridge_event ORDER BY jti')).map((r) => r.jti),
    tokens: (await db.rows<{ jti: string }>('SELECT jti FROM civibridge_used_token ORDER BY jti')).map((r) => r.jti),
  })
  const before = await remaining()
  for (const args of [['--older-than-days', '6'], ['--older-than-days=6'], ['--older-than-days', 'x'], ['--older-than-days'], ['--days', '30'], ['--older-than-days', '30', 'extra']]) {
    await t.rejects(runCli(['prune', ...args], baseEnv(db.url), () => {}), { name: 'UsageError' }, args.join(' '))
  }
  t.same(await remaining(), before, 'a refused prune deletes nothing')

  const lines: string[] = []
  t.equal(await runCli(['prune'], baseEnv(db.url), (l) => lines.push(l)), 0)
  t.match(lines[0], /^pruned 3 event records and 1 used tokens from before \d{4}-\d\d-\d\dT/)
  t.same(await remaining(), { events: ['new-1', 'new-2'], tokens: ['t-new'] }, '30 days by default')
  t.equal(await runCli(['prune', '--older-than-days=7'], baseEnv(db.url), (l) => lines.push(l)), 0, '--flag=value')
  t.same(await remaining(), { events: ['new-2'], tokens: ['t-new'] })

  // Many rows go in several statements of at most `batch` rows.
  await db.sql.query('INSERT INTO civibridge_event (jti, site, body_sha256, event, uf_id, occurred_at, received_at, result) VALUES ?',
    [Array.from({ length: 5 }, (_, i) => [`many-${i}`, 's', 'a'.repeat(64), 'onUserLogin', 1, daysAgo(50), daysAgo(50), '{}'])])
  const database = new Database(db.url)
  t.teardown(() => database.close())
  t.same(await pruneBefore(database, daysAgo(30), 2), { events: 5, tokens: 0 })
  t.same(await remaining(), { events: ['new-2'], tokens: ['t-new'] })
})
