// `npm test` on a fresh machine: scripts/ensure-deps.sh installs what is missing as root, and
// otherwise stops at once printing the exact command to run; scripts/test.js then ends with
// `0 passed, 1 failed` without running anything else.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const asRoot = process.getuid?.() === 0

/**
 * Runs a command as an ordinary user (`nobody` when the tests run as root) in exactly `env`:
 * through env -i, since tap adds its own NODE_OPTIONS to what a test spawns.
 */
function asUser (cmd: string, args: string[], env: Record<string, string>) {
  const clean = ['/usr/bin/env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), cmd, ...args]
  const [file, ...argv] = asRoot ? ['/usr/sbin/runuser', '-u', 'nobody', '--', ...clean] : clean
  return spawnSync(file, argv, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
}

/** A PATH holding only bash, id, grep and node: no PHP, PHPUnit or MariaDB client. */
function barePath (t: { teardown (fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cbt18-path-'))
  chmodSync(dir, 0o755)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const tool of ['bash', 'id', 'grep', 'node']) {
    const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim()
    symlinkSync(found, join(dir, tool))
  }
  return dir
}

t.test('not root, PHP, PHPUnit and MariaDB missing: exits 1 at once, naming the exact apt-get command', async (t) => {
  const path = barePath(t)
  const r = asUser(join(path, 'bash'), ['scripts/ensure-deps.sh'], { PATH: path })
  t.equal(r.status, 1, r.stderr)
  t.equal(r.stdout, '', 'nothing for the environment')
  t.match(r.stderr, /missing for the tests: php-cli php-curl php-mbstring php-xml php-mysql php-pgsql phpunit( chromium)?( galera-4)? rsync mariadb-server mariadb-client\. Run as root/)
  t.match(r.stderr, /\n\[deps\] {3}apt-get update && apt-get install -y php-cli php-curl php-mbstring php-xml php-mysql php-pgsql phpunit( chromium)?( galera-4)? rsync mariadb-server mariadb-client\n$/)
})

t.test('npm test stops after the dependency check with `0 passed, 1 failed` as its last line', async (t) => {
  const path = barePath(t)
  const r = asUser(process.execPath, ['scripts/test.js'], { PATH: path })
  t.equal(r.status, 1, r.stderr)
  t.match(r.stderr, /apt-get update && apt-get install -y php-cli/)
  t.equal(r.stdout.trim().split('\n').at(-1), '0 passed, 1 failed')
  t.notMatch(r.stdout + r.stderr, /tsc|tap|PHPUnit:/, 'neither the type check nor a suite ran')
})

t.test('everything present and MariaDB answering: exits 0 and prints nothing', async (t) => {
  const env: Record<string, string> = { PATH: process.env.PATH! }
  if (process.env.TEST_DB_SERVER_URL) env.TEST_DB_SERVER_URL = process.env.TEST_DB_SERVER_URL
  const r = asUser('bash', ['scripts/ensure-deps.sh'], env)
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stdout, '')
  t.equal(r.stderr, '')
})
