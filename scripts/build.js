#!/usr/bin/env node
// `npm run build` (and `npm ci`, through `prepare`): compiles server/ and drizzle/ to build/ so
// that `civicrm-bridge` runs plain JavaScript: tsx's loader thread and transpiling cost about
// 55 MB of memory and a second of start-up in every process (docs/benchmarks.md). The data
// files the code reads beside itself (migrations, the demo's fixture DDL) are copied along.
// build/.built is stamped with the build's start time: bin/civicrm-bridge.js uses build/ only
// while no source is newer.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const started = new Date()
let tsc
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
} catch {
  // `npm ci --omit=dev` has no TypeScript: civicrm-bridge then runs the sources through tsx.
  console.error('build: typescript is not installed; civicrm-bridge will run the TypeScript sources through tsx')
  process.exit(0)
}
rmSync('build', { recursive: true, force: true })
const { status } = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
if (status !== 0) {
  rmSync('build', { recursive: true, force: true })
  console.error('build: tsc failed; civicrm-bridge will run the TypeScript sources through tsx')
  process.exit(status ?? 1)
}
cpSync('drizzle/migrations', 'build/drizzle/migrations', { recursive: true })
cpSync('server/http/views/static', 'build/server/http/views/static', { recursive: true })
mkdirSync('build/test', { recursive: true })
cpSync('test/fixtures', 'build/test/fixtures', { recursive: true })
writeFileSync('build/.built', `${started.toISOString()}\n`)
utimesSync('build/.built', started, started)
