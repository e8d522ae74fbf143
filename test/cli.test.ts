// The civicrm-bridge command: config errors are one line and a non-zero exit; migrate, check,
// serve (and its graceful stop), demo.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { loadConfig, ConfigError } from '../server/config.js'
import { runCli, describeError, CliError, USAGE } from '../server/cli.js'
import { COMMANDS, commandHelp } from '../server/cli-args.js'
import { listenProblem } from '../server/server.js'
import { createServer } from 'node:net'
import { readFileSync } from 'node:fs'
import { pruneBefore } from '../server/data/event-store.js'
import { Database } from '../server/data/db.js'
import { startServer } from '../server/server.js'
import { testDatabase, freePort, childEnv, testConfig, SECRET, ADMIN_TOKEN } from './helper.js'

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

t.test('config errors are plain words with an example value, never the schema\'s text', async (t) => {
  const good = { CIVICRM_DB_URL: 'mysql://u@db/civi', BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN }
  const message = (env: Record<string, string | undefined>) => { try { loadConfig(env); return '' } catch (err) { return (err as Error).message } }
  t.equal(message({ ...good, LOG_LEVEL: 'loud' }), 'invalid configuration: LOG_LEVEL is not valid: it must be one of fatal, error, warn, info, debug, trace, silent, e.g. info')
  t.equal(message({ ...good, CIVICRM_DB_URL: 'postgres://u@db/civi' }), 'invalid configuration: CIVICRM_DB_URL is not valid: it must be a MySQL URL with a database name, e.g. mysql://civicrm:secret@127.0.0.1:3306/civicrm')
  t.equal(message({ ...good, CIVICRM_DB_URL: undefined }), 'invalid configuration: CIVICRM_DB_URL is not set: it must be a MySQL URL with a database name, e.g. mysql://civicrm:secret@127.0.0.1:3306/civicrm')
  t.equal(message({ ...good, PORT: '70000' }), 'invalid configuration: PORT is not valid: it must be a port number from 0 to 65535, e.g. 8080')
  const secret = message({ ...good, BRIDGE_SECRET: 'short-secret-value' })
  t.match(secret, /^invalid configuration: BRIDGE_SECRET is not valid: it must be at least 32 characters, e\.g\. the output of `openssl rand -hex 32`$/)
  t.notMatch(secret, /short-secret-value/, 'a secret is never echoed')
  for (const m of [message({ ...good, LOG_LEVEL: 'loud' }), secret]) t.notMatch(m, /must be equal to constant|must match pattern|must NOT have|anyOf/)
})

t.test('the CLI prints one line and exits non-zero on a bad config', async (t) => {
  const r = run(['serve'], { BRIDGE_SECRET: 'short' })
  t.equal(r.status, 1)
  t.match(r.stderr, /^civicrm-bridge: invalid configuration: .*\n$/)
  t.equal(r.stderr.trim().split('\n').length, 1)
})

t.test('usage, -h/--help/help, --version, and unknown commands: one line and a hint', async (t) => {
  const bare = run([], {})
  t.equal(bare.status, 2, 'no command: usage and exit 2')
  t.match(bare.stdout, /^usage: civicrm-bridge <command>/)
  const lines: string[] = []
  t.equal(await runCli([], {}, (l) => lines.push(l)), 2)
  for (const flag of ['--help', '-h', 'help']) t.equal(await runCli([flag], {}, (l) => lines.push(l)), 0)
  t.equal(lines.length, 4)
  for (const l of lines) t.equal(l, USAGE)
  for (const name of Object.keys(COMMANDS)) t.match(USAGE, new RegExp(`\\n  ${name} +\\S`), `the usage lists ${name}`)
  const helpSync: string[] = []
  t.equal(await runCli(['help', 'sync'], {}, (l) => helpSync.push(l)), 0)
  t.same(helpSync, [commandHelp('sync')])
  const version = run(['--version'], {})
  t.equal(version.status, 0)
  t.equal(version.stdout, `civicrm-bridge ${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`)
  const v: string[] = []
  t.equal(await runCli(['-V'], {}, (l) => v.push(l)), 0)
  t.same(v, [version.stdout.trim()])
  const unknown = run(['frobnicate'], {})
  t.equal(unknown.status, 1)
  t.equal(unknown.stderr, 'civicrm-bridge: unknown command "frobnicate"; run civicrm-bridge --help for the commands\n')
  await t.rejects(runCli(['--bogus'], {}, () => {}), { name: 'UsageError', message: 'unknown option "--bogus"; run civicrm-bridge --help for the commands' })
  const db = await testDatabase(t)
  await t.rejects(runCli(['frobnicate'], baseEnv(db.url), () => {}), { name: 'UsageError' })
  t.equal(describeError(new CliError('x')), 'x')
  t.equal(describeError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), 'cannot reach the database: refused')
  t.equal(describeError(Object.assign(new Error('no db'), { code: 'ER_BAD_DB_ERROR' })), 'database error: no db')
  t.equal(describeError(new Error('boom')), 'error: boom')
  t.equal(describeError('plain'), 'error: plain')
  t.equal(describeError(null), 'error: null')
})

t.test('every command has its own help (-h, --help), printed without configuration or a database', async (t) => {
  for (const name of Object.keys(COMMANDS)) {
    for (const flag of ['--help', '-h']) {
      const lines: string[] = []
      t.equal(await runCli([name, flag], {}, (l) => lines.push(l)), 0, `${name} ${flag}`)
      t.equal(lines.length, 1)
      t.match(lines[0], new RegExp(`^usage: civicrm-bridge ${name}\\b[^\\n]*\\n\\n\\S[^\\n]+\\.\\n`), `${name} ${flag}: usage, then what it does`)
      t.match(lines[0], /\n {2}-h, --help +show this help$/)
    }
  }
  t.match(commandHelp('sync'), /^usage: civicrm-bridge sync \[--dry-run\] \[--json\] \[--batch-size N\]\n/)
  t.match(commandHelp('prune'), /--older-than-days N +default 30, at least 7/)
  const child = run(['check', '--help'], {})
  t.equal(child.status, 0, 'check --help does not run the check (no configuration is set)')
  t.equal(child.stdout, `${commandHelp('check')}\n`)
})

t.test('every command refuses an unknown option, a stray argument or a missing value, in one line, doing nothing', async (t) => {
  const db = await testDatabase(t, { migrate: false })
  const bad: [string[], string][] = []
  for (const name of Object.keys(COMMANDS)) {
    bad.push([[name, '--bogus'], `${name}: unknown option --bogus; see civicrm-bridge ${name} --help`])
    bad.push([[name, '-z'], `${name}: unknown option -z; see civicrm-bridge ${name} --help`])
    bad.push([[name, 'extra'], `${name}: unexpected argument "extra"; see civicrm-bridge ${name} --help`])
  }
  bad.push([['sync', '--batch-size'], 'sync: --batch-size needs a value; see civicrm-bridge sync --help'])
  bad.push([['sync', '--batch-size', '--json'], 'sync: --batch-size needs a value; see civicrm-bridge sync --help'])
  bad.push([['sync', '--dry-run=yes'], 'sync: --dry-run takes no value; see civicrm-bridge sync --help'])
  bad.push([['sync', '--batch-size=0'], 'sync: --batch-size must be a whole number from 1 to 5000'])
  bad.push([['prune', '--older-than-days'], 'prune: --older-than-days needs a value; see civicrm-bridge prune --help'])
  bad.push([['prune', '--older-than-days=3'], 'prune: --older-than-days must be a whole number of days, at least 7 (the plugin retries an event for about three days)'])
  for (const [args, message] of bad) {
    await t.rejects(runCli(args, baseEnv(db.url), () => {}), { name: 'UsageError', message }, args.join(' '))
  }
  t.same(await db.rows("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'civibridge%'"), [], 'migrate --bogus created nothing')
  const child = run(['migrate', '--bogus'], baseEnv(db.url))
  t.equal(child.status, 1)
  t.equal(child.stderr, 'civicrm-bridge: migrate: unknown option --bogus; see civicrm-bridge migrate --help\n')
  t.same(await db.rows("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'civibridge%'"), [])
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

t.test('serve on a taken port exits 1 with one line (not a hang)', async (t) => {
  const db = await testDatabase(t)
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => taken.close())
  const { port } = taken.address() as { port: number }
  // spawnSync's timeout is only a safety net: a hang would show as a null status.
  const r = run(['serve'], { ...baseEnv(db.url), PORT: String(port) })
  t.equal(r.status, 1, r.stderr)
  t.equal(r.stderr, `civicrm-bridge: cannot listen on 127.0.0.1:${port}: the port is already in use (stop the other process or set PORT)\n`)
  // In process: the app is closed (its pool too), so nothing keeps the process alive.
  await t.rejects(startServer(testConfig(db.url, { PORT: String(port) })), { name: 'CliError', message: /the port is already in use/ })
})

t.test('every listen failure is one line naming the address', async (t) => {
  const where = { host: '10.9.9.9', port: 80 }
  const err = (code: string | undefined, message: string) => Object.assign(new Error(message), { code })
  t.match(listenProblem(err('EACCES', 'x'), where), /^cannot listen on 10\.9\.9\.9:80: permission denied/)
  t.match(listenProblem(err('EADDRNOTAVAIL', 'x'), where), /no such address on this machine \(set HOST\)$/)
  t.match(listenProblem(err('ENOTFOUND', 'x'), where), /no such address/)
  t.equal(listenProblem(err(undefined, 'odd\nfailure'), where), 'cannot listen on 10.9.9.9:80: odd failure')
})

t.test('serve answers, and SIGTERM stops it within 10 s', async (t) => {
  const db = await testDatabase(t)
  const port = await freePort()
  const child = spawn(process.execPath, [BIN, 'serve'], { env: childEnv({ ...baseEnv(db.url), PORT: String(port) }), stdio: 'ignore' })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let health: unknown
  for (let i = 0; i < 100 && health === undefined; i++) {
    try { health = await (await fetch(`http://127.0.0.1:${port}/health`)).json() } catch { await new Promise((r) => setTimeout(r, 100)) }
  }
  t.same(health, { status: 'ok', database: 'up' })
  const stopAt = Date.now()
  child.kill('SIGTERM')
  t.equal(await exited, 0)
  t.ok(Date.now() - stopAt < 10_000)
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
