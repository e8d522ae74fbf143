#!/usr/bin/env node
// Entry point of `npx civicrm-bridge`: the compiled build in build/ (`npm run build`, which
// `npm ci` runs) while it is at least as new as every source file, else the TypeScript
// sources through tsx, so an edited source is never shadowed by a stale build.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const newestMtime = (dir) => readdirSync(dir, { withFileTypes: true, recursive: true })
  .filter((e) => e.isFile() && e.name.endsWith('.ts'))
  .reduce((max, e) => Math.max(max, statSync(join(e.parentPath ?? e.path, e.name)).mtimeMs), 0)
const stamp = join(root, 'build/.built')
const useBuild = process.env.CIVICRM_BRIDGE_FROM_SOURCES !== '1' && existsSync(stamp) &&
  statSync(stamp).mtimeMs >= Math.max(newestMtime(join(root, 'server')), newestMtime(join(root, 'drizzle')))

let cli
if (useBuild) {
  cli = await import('../build/server/cli.js')
} else {
  const { register } = await import('tsx/esm/api')
  register()
  cli = await import('../server/cli.ts')
}
try {
  const code = await cli.runCli(process.argv.slice(2), process.env, (line) => console.log(line))
  if (code !== 0) process.exitCode = code
} catch (err) {
  console.error(`civicrm-bridge: ${cli.describeError(err)}`)
  // Exit now: a half-started server's handles must not keep a failed start alive.
  process.exit(1)
}
