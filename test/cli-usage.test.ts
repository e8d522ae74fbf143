// The civicrm-bridge command line: help for the tool and each command, --version, unknown
// commands and options refused in one line, config errors in plain words, serve on a taken
// port. (Apart from cli.test.ts: each file stays well within tap's per-file timeout.)
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../server/config.js'
import { runCli, describeError, CliError, USAGE } from '../server/cli.js'
import { DatabaseUnavailableError } from '../server/errors.js'
import { COMMANDS, commandHelp } from '../server/cli-args.js'
import { HEAP_GROWING_PERCENT, heapGrowingFlag, listenProblem, startServer } from '../server/server.js'
import { testDatabase, childEnv, testConfig, SECRET, ADMIN_TOKEN } from './helper.js'

const BIN = fileURLToPath(new URL('../bin/civicrm-bridge.js', import.meta.url))
const baseEnv = (url: string) => ({ CIVICRM_DB_URL: url, BRIDGE_SECRET: SECRET, BRIDGE_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'warn' })
const run = (args: string[], env: Record<string, string>) => spawnSync(process.execPath, [BIN, ...args], { env: childEnv(env), encoding: 'utf8', timeout: 60_000 })

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
  t.equal(describeError(new DatabaseUnavailableError('database unavailable', new Error('the database did not answer within 10000 ms'))),
    'error: database unavailable (the database did not answer within 10000 ms)', 'what made the database unavailable')
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

t.test('the server sets V8\'s heap growing factor, unless node was started with its own', async (t) => {
  t.equal(heapGrowingFlag([]), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
  t.equal(heapGrowingFlag(['--enable-source-maps']), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
  t.equal(heapGrowingFlag(['--inspect', '--heap-growing-percent=0']), '--heap-growing-percent=0', 'an operator\'s flag wins (0: V8\'s own factor)')
  t.equal(heapGrowingFlag(['--heap_growing_percent=50']), '--heap_growing_percent=50', 'in V8\'s underscore spelling too')
})
