#!/usr/bin/env node
// Builds one installable zip per Joomla generation into dist/ (or --out <dir>):
//   plg_user_civicrmbridge_j15.zip  Joomla 1.5      (plugin; core under civicrmbridge/core/)
//   plg_user_civicrmbridge_j3.zip   Joomla 1.6-3.x  (plugin; core under core/, sql/)
//   plg_system_civicrmbridge_j15.zip, plg_system_civicrmbridge_j3.zip: the system plugin that
//                                   links a user before CiviCRM's pages run (1.5 has no packages)
//   pkg_civicrmbridge_j4.zip        Joomla 4.x      (package: user + task + system plugins)
//   pkg_civicrmbridge_j5.zip        Joomla 5.x/6.x  (package: user + task + system plugins)
// Each zip is the adapter's own files plus a copy of the shared core. No dependency: the zip
// writer below uses node:zlib (deflate) and a CRC-32 table.
import { deflateRawSync } from 'node:zlib'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.dirname(fileURLToPath(import.meta.url))
const adapters = path.join(root, 'adapters')
const core = path.join(root, 'core')

function parseArgs (argv) {
  const args = { out: path.join(root, '..', 'dist') }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') args.out = path.resolve(argv[++i])
    else if (argv[i].startsWith('--out=')) args.out = path.resolve(argv[i].slice(6))
    else if (argv[i] === '--help' || argv[i] === '-h') {
      console.log('usage: node joomla-plugin/build.js [--out <dir>]')
      process.exit(0)
    } else throw new Error(`unknown argument ${argv[i]}`)
  }
  return args
}

// ---- zip writer (PKZIP 2.0: stored or deflated entries, no zip64) ----
const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

function crc32 (buf) {
  let c = 0xffffffff
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

// A fixed timestamp keeps builds reproducible (2026-01-01 00:00:00, DOS format).
const DOS_TIME = 0
const DOS_DATE = ((2026 - 1980) << 9) | (1 << 5) | 1

/** @param {{name: string, data: Buffer}[]} entries */
function zip (entries) {
  const locals = []
  const centrals = []
  let offset = 0
  for (const { name, data } of entries) {
    const nameBuf = Buffer.from(name, 'utf8')
    const crc = crc32(data)
    const deflated = deflateRawSync(data, { level: 9 })
    const useDeflate = deflated.length < data.length
    const body = useDeflate ? deflated : data
    const method = useDeflate ? 8 : 0
    const flags = 0x0800 // names are UTF-8

    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(flags, 6)
    local.writeUInt16LE(method, 8)
    local.writeUInt16LE(DOS_TIME, 10)
    local.writeUInt16LE(DOS_DATE, 12)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(body.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(nameBuf.length, 26)
    local.writeUInt16LE(0, 28)
    locals.push(local, nameBuf, body)

    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE((3 << 8) | 20, 4) // made by: Unix, 2.0
    central.writeUInt16LE(20, 6)
    central.writeUInt16LE(flags, 8)
    central.writeUInt16LE(method, 10)
    central.writeUInt16LE(DOS_TIME, 12)
    central.writeUInt16LE(DOS_DATE, 14)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(body.length, 20)
    central.writeUInt32LE(data.length, 24)
    central.writeUInt16LE(nameBuf.length, 28)
    central.writeUInt16LE(0, 30) // extra
    central.writeUInt16LE(0, 32) // comment
    central.writeUInt16LE(0, 34) // disk
    central.writeUInt16LE(0, 36) // internal attributes
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38) // -rw-r--r--
    central.writeUInt32LE(offset, 42)
    centrals.push(central, nameBuf)

    offset += local.length + nameBuf.length + body.length
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(0, 4)
  end.writeUInt16LE(0, 6)
  end.writeUInt16LE(entries.length, 8)
  end.writeUInt16LE(entries.length, 10)
  end.writeUInt32LE(centralSize, 12)
  end.writeUInt32LE(offset, 16)
  end.writeUInt16LE(0, 20)
  return Buffer.concat([...locals, ...centrals, end])
}

// ---- file collection ----
/** Files under dir, as {name: prefix + relative path (forward slashes), data}. */
function tree (dir, prefix = '') {
  if (!fs.existsSync(dir)) throw new Error(`missing directory ${path.relative(root, dir)}`)
  const out = []
  const walk = (d) => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, ent.name)
      if (ent.isDirectory()) walk(p)
      else if (ent.isFile() && !ent.name.startsWith('.')) {
        out.push({ name: prefix + path.relative(dir, p).split(path.sep).join('/'), data: fs.readFileSync(p) })
      }
    }
  }
  walk(dir)
  return out
}

function file (p, name) {
  return { name, data: fs.readFileSync(p) }
}

function unique (entries) {
  const seen = new Map()
  for (const e of entries) {
    if (seen.has(e.name)) throw new Error(`duplicate zip entry ${e.name}`)
    seen.set(e.name, e)
  }
  // The manifest first: some tools (and humans) look there.
  return [...seen.values()].sort((a, b) => {
    const am = a.name.endsWith('.xml') && !a.name.includes('/')
    const bm = b.name.endsWith('.xml') && !b.name.includes('/')
    if (am !== bm) return am ? -1 : 1
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0
  })
}

function coreFiles (prefix) {
  return tree(core, prefix)
}

// 1.6 - 3.x: the utf8 table (their installers run the file as it is, MySQL < 5.5.3 has no
// utf8mb4); 4.x+: utf8mb4 on MySQL/MariaDB and the PostgreSQL table.
function sqlFiles (gen) {
  if (gen === 'j3') {
    return [
      file(path.join(core, 'sql', 'install.mysql.utf8.sql'), 'sql/install.mysql.sql'),
      file(path.join(core, 'sql', 'uninstall.mysql.sql'), 'sql/uninstall.mysql.sql'),
    ]
  }
  return ['install.mysql.sql', 'uninstall.mysql.sql', 'install.postgresql.sql', 'uninstall.postgresql.sql']
    .map((name) => file(path.join(core, 'sql', name), `sql/${name}`))
}

// ---- per generation ----
function buildJ15 () {
  // 1.5 installs a plugin's files flat into plugins/user/: the core goes under the plugin's own
  // folder civicrmbridge/ to stay clear of other plugins. No install SQL (1.5 has none for
  // plugins): the adapter creates the outbox table lazily.
  return zip(unique([...tree(path.join(adapters, 'j15')), ...coreFiles('civicrmbridge/core/')]))
}

function buildJ3 () {
  return zip(unique([...tree(path.join(adapters, 'j3')), ...coreFiles('core/'), ...sqlFiles('j3')]))
}

function userPluginJ4plus (gen) {
  return zip(unique([...tree(path.join(adapters, gen, 'user')), ...coreFiles('core/'), ...sqlFiles(gen)]))
}

function taskPlugin () {
  // One task plugin for 4.1+ and 5.x/6.x (com_scheduler's API is the same in both).
  return zip(unique(tree(path.join(adapters, 'j4', 'task'))))
}

function quickiconPlugin () {
  // One Quick Icon plugin for 4.x and 5.x/6.x: the queue on the administrator's home page.
  return zip(unique(tree(path.join(adapters, 'j4', 'quickicon'))))
}

function systemPlugin (gen) {
  // Lazy linking on CiviCRM's pages (onAfterRoute); it uses the user plugin's core and parameters.
  return zip(unique(tree(path.join(adapters, 'system', gen))))
}

function buildPackage (gen) {
  return zip(
    unique([
      file(path.join(adapters, gen, 'pkg_civicrmbridge.xml'), 'pkg_civicrmbridge.xml'),
      ...tree(path.join(adapters, gen, 'language'), 'language/'),
      { name: 'packages/plg_user_civicrmbridge.zip', data: userPluginJ4plus(gen) },
      { name: 'packages/plg_task_civicrmbridgeretry.zip', data: taskPlugin() },
      { name: 'packages/plg_quickicon_civicrmbridgequeue.zip', data: quickiconPlugin() },
      // One system plugin for 4.x - 6.x (SubscriberInterface, onAfterRoute).
      { name: 'packages/plg_system_civicrmbridge.zip', data: systemPlugin('j4') },
    ])
  )
}

function main () {
  const { out } = parseArgs(process.argv.slice(2))
  if (!fs.existsSync(path.join(core, 'autoload.php'))) throw new Error('joomla-plugin/core/autoload.php is missing')
  fs.mkdirSync(out, { recursive: true })
  const builds = {
    'plg_user_civicrmbridge_j15.zip': buildJ15,
    'plg_system_civicrmbridge_j15.zip': () => systemPlugin('j15'),
    'plg_user_civicrmbridge_j3.zip': buildJ3,
    'plg_system_civicrmbridge_j3.zip': () => systemPlugin('j3'),
    'pkg_civicrmbridge_j4.zip': () => buildPackage('j4'),
    'pkg_civicrmbridge_j5.zip': () => buildPackage('j5'),
  }
  for (const [name, build] of Object.entries(builds)) {
    const data = build()
    fs.writeFileSync(path.join(out, name), data)
    console.log(`${path.relative(process.cwd(), path.join(out, name)) || name}  ${data.length} bytes`)
  }
}

try {
  main()
} catch (err) {
  console.error(`build:plugin failed: ${err.message}`)
  process.exit(1)
}
