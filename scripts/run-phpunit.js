#!/usr/bin/env node
// PHPUnit for the Joomla plugin: the core suite (joomla-plugin/tests/core) and every adapter
// suite (joomla-plugin/tests/adapters/<gen>), one phpunit process each because the Joomla
// stubs of different generations declare conflicting classes. Each run writes its own JUnit
// report; they are merged into one <testsuites> at $PHPUNIT_JUNIT (read by scripts/test.js).
// Exit status: 0 when every run passed. Extra arguments are passed to every phpunit run.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const plugin = join(root, 'joomla-plugin')
const tests = join(plugin, 'tests')
const junitOut = process.env.PHPUNIT_JUNIT
const extraArgs = process.argv.slice(2)

const phpunit = findPhpunit()
const php = spawnSync('php', ['-v'], { encoding: 'utf8' })
if (php.error || php.status !== 0) fatal('run-phpunit: php is not installed (or not on PATH): cannot run the PHPUnit suites')
if (!phpunit) {
  fatal('run-phpunit: phpunit is not installed (set PHPUNIT=/path/to/phpunit or install phpunit 9): cannot run the PHPUnit suites')
}

const work = mkdtempSync(join(tmpdir(), 'run-phpunit-'))
const suites = [{ name: 'core', config: join(plugin, 'phpunit.xml.dist'), dir: join(tests, 'core') }]
const adaptersDir = join(tests, 'adapters')
if (existsSync(adaptersDir)) {
  for (const gen of readdirSync(adaptersDir).sort()) {
    const dir = join(adaptersDir, gen)
    if (!statSync(dir).isDirectory()) continue
    if (!hasTests(dir)) {
      if (/^j\d/.test(gen)) console.log(`run-phpunit: tests/adapters/${gen} has no *Test.php, skipped`)
      continue
    }
    const own = ['phpunit.xml', 'phpunit.xml.dist'].map((f) => join(dir, f)).find(existsSync)
    const bootstrap = existsSync(join(dir, 'bootstrap.php')) ? join(dir, 'bootstrap.php') : join(tests, 'bootstrap.php')
    suites.push({ name: `adapters/${gen}`, config: own ?? writeConfig(`adapters/${gen}`, bootstrap, dir), dir })
  }
}

const parts = []
let failed = false
for (const [i, suite] of suites.entries()) {
  const junit = join(work, `junit-${i}.xml`)
  console.log(`\n=== PHPUnit: ${suite.name} (${relative(root, suite.dir)}) ===`)
  const run = spawnSync(phpunit, ['-c', suite.config, '--log-junit', junit, ...extraArgs], { cwd: plugin, stdio: 'inherit' })
  const status = run.error ? 1 : (run.status ?? 1)
  if (status !== 0) failed = true
  const xml = existsSync(junit) ? readFileSync(junit, 'utf8') : ''
  const inner = innerSuites(xml)
  parts.push(inner)
  // A run that failed without a failing test in its report (a crash, a fatal error in a
  // bootstrap, a warning with failOnWarning) still counts as one failed test.
  if (status !== 0 && !/<(failure|error)\b/.test(inner)) {
    const why = run.error ? run.error.message : `phpunit exited with status ${status}${xml ? '' : ' and wrote no JUnit report'}`
    parts.push(`<testsuite name="${esc(suite.name)} (run)" tests="1" assertions="0" errors="1" failures="0" skipped="0" time="0">` +
      `<testcase name="phpunit run ${esc(suite.name)}" classname="${esc(suite.name)}" time="0">` +
      `<error type="PhpunitRunFailed" message="${esc(why)}">${esc(why)}</error></testcase></testsuite>`)
  }
}

if (junitOut) {
  mkdirSync(dirname(resolve(junitOut)), { recursive: true })
  writeFileSync(junitOut, `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n${parts.filter(Boolean).join('\n')}\n</testsuites>\n`)
}
rmSync(work, { recursive: true, force: true })
console.log(`\nrun-phpunit: ${suites.length} suite(s): ${suites.map((s) => s.name).join(', ')}; ${failed ? 'FAILED' : 'all passed'}`)
process.exitCode = failed ? 1 : 0

function fatal (line) {
  console.error(line)
  process.exit(1)
}

function findPhpunit () {
  const candidates = [process.env.PHPUNIT, join(plugin, 'vendor/bin/phpunit'), 'phpunit', '/usr/bin/phpunit'].filter(Boolean)
  for (const c of candidates) {
    const r = spawnSync(c, ['--version'], { encoding: 'utf8' })
    if (!r.error && r.status === 0) return c
  }
  return null
}

function hasTests (dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory() && hasTests(join(dir, entry.name))) return true
    if (entry.isFile() && entry.name.endsWith('Test.php')) return true
  }
  return false
}

/** A suite config with the same strictness as joomla-plugin/phpunit.xml.dist. */
function writeConfig (name, bootstrap, dir) {
  const file = join(work, `${name.replace(/\W+/g, '-')}.xml`)
  writeFileSync(file, `<?xml version="1.0" encoding="UTF-8"?>
<phpunit bootstrap="${esc(bootstrap)}" cacheResult="false" colors="false"
         convertErrorsToExceptions="true" convertNoticesToExceptions="true" convertWarningsToExceptions="true"
         convertDeprecationsToExceptions="true" failOnWarning="true" failOnRisky="true" beStrictAboutOutputDuringTests="true">
  <testsuites>
    <testsuite name="${esc(name)}">
      <directory suffix="Test.php">${esc(dir)}</directory>
    </testsuite>
  </testsuites>
</phpunit>
`)
  return file
}

/** The <testsuite> elements of a JUnit report, without the XML declaration and the root. */
function innerSuites (xml) {
  const m = /<testsuites[^>]*>([\s\S]*)<\/testsuites>/.exec(xml)
  if (m) return m[1].trim()
  return /<testsuite\b/.test(xml) ? xml.replace(/<\?xml[^>]*\?>/, '').trim() : ''
}

function esc (s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}
