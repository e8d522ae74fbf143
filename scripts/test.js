#!/usr/bin/env node
// `npm test`: what the tests need (scripts/ensure-deps.sh: installs it as root, else names the
// command to run), type check, lint, tap (TypeScript tests on the real MariaDB), PHPUnit (the Joomla
// plugin). Every stage runs even when an earlier one fails; the last line is
// `N passed, N failed`, counted from the JUnit reports of tap and PHPUnit (a named test is
// one test; a stage that fails outside any test, e.g. tap's coverage check, counts as one
// failed test).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'

const TMP = 'tmp'
const run = (cmd, args, env = {}) => spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } }).status

let passed = 0
let failed = 0
const stageFailed = (name) => { failed++; console.error(`\n[test] stage failed: ${name}`) }

// 0. PHP, PHPUnit, Chromium, MariaDB. Missing ones stop the run at once (nothing can pass).
const deps = spawnSync('bash', ['scripts/ensure-deps.sh'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })
if (deps.status !== 0) {
  console.log('\n0 passed, 1 failed')
  process.exit(1)
}
// NAME=value lines: the environment the tests need (a test user when root has socket auth only).
for (const line of deps.stdout.split('\n')) {
  const m = /^([A-Z_]+)=(.*)$/.exec(line)
  if (m) process.env[m[1]] = m[2]
}
mkdirSync(TMP, { recursive: true })

// 1. Types
if (run('npx', ['tsc', '--noEmit']) === 0) passed++
else stageFailed('typecheck (tsc --noEmit)')

// 1b. Lint (neostandard, eslint.config.js)
if (run('npx', ['eslint', '.']) === 0) passed++
else stageFailed('lint (eslint .)')

// 2. tap; then its results again as JUnit for counting
const tapJunit = `${TMP}/tap-junit.xml`
rmSync(tapJunit, { force: true })
const tapStatus = run('npx', ['tap', ...process.argv.slice(2)])
run('npx', ['tap', 'replay', '--reporter=junit', `--reporter-file=${tapJunit}`])
const tap = countTapJunit(existsSync(tapJunit) ? readFileSync(tapJunit, 'utf8') : '')
passed += tap.passed
failed += tap.failed
if (tapStatus !== 0 && tap.failed === 0) stageFailed('tap (no test failed: coverage below the threshold, or a file crashed)')

// 3. PHPUnit
const phpJunit = `${TMP}/phpunit-junit.xml`
rmSync(phpJunit, { force: true })
const phpStatus = run(process.execPath, ['scripts/run-phpunit.js'], { PHPUNIT_JUNIT: phpJunit })
const php = countPhpunitJunit(existsSync(phpJunit) ? readFileSync(phpJunit, 'utf8') : '')
passed += php.passed
failed += php.failed
if (phpStatus !== 0 && php.failed === 0) stageFailed('phpunit')

console.log(`\n${passed} passed, ${failed} failed`)
process.exitCode = failed === 0 ? 0 : 1

/** tap's JUnit: every t.test is a <testsuite>; the innermost ones are the tests. */
function countTapJunit (xml) {
  let passed = 0
  let failed = 0
  const stack = []
  for (const m of xml.matchAll(/<testsuite\b([^>]*?)(\/?)>|<\/testsuite>/g)) {
    if (m[0] === '</testsuite>') {
      const suite = stack.pop()
      if (!suite.hasChildren) {
        if (suite.failures > 0) failed++
        else passed++
      }
      continue
    }
    if (stack.length) stack[stack.length - 1].hasChildren = true
    const failures = Number(/\bfailures="(\d+)"/.exec(m[1])?.[1] ?? 0)
    if (m[2] === '/') { if (failures) failed++; else passed++; continue }
    stack.push({ failures, hasChildren: false })
  }
  return { passed, failed }
}

function countPhpunitJunit (xml) {
  let passed = 0
  let failed = 0
  for (const m of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    if (/<(failure|error)\b/.test(m[2] ?? '')) failed++
    else if (/<skipped\b/.test(m[2] ?? '')) continue
    else passed++
  }
  return { passed, failed }
}
