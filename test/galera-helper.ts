// A real 3-node MariaDB Galera cluster on 127.0.0.1 for test/galera.test.ts: its own data
// directories under a temporary directory, its own ports (MariaDB, gmcast, IST, SST) and its own
// rsync SST method. Debian's wsrep_sst_rsync runs its rsync daemon as user nobody, which cannot
// write a root-owned data directory: the copy (method `rsynctest`, found through PATH) runs it as
// the current user. Node 1 bootstraps the cluster; nodes 2 and 3 join it by SST. Killed and
// removed at teardown.
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { access, chmod, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import mysql from 'mysql2/promise'
import { freePort } from './helper.js'

const run = promisify(execFile)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Teardown { teardown (fn: () => unknown): void }

/** Where Debian's galera-4 puts the provider. */
export const GALERA_PROVIDER = '/usr/lib/galera/libgalera_smm.so'
const SST_SCRIPT = '/usr/bin/wsrep_sst_rsync'

export interface GaleraNode {
  name: string
  port: number
  /** mysql://root@127.0.0.1:<port>/test: a server URL for createFixtureDatabase. */
  serverUrl: string
  log (): Promise<string>
}

export interface GaleraCluster {
  nodes: GaleraNode[]
  /** Milliseconds from the first mariadb-install-db to three nodes synced. */
  startMs: number
}

/** Why a Galera cluster cannot be started here, or null when it can. */
export async function galeraMissing (): Promise<string | null> {
  for (const file of [GALERA_PROVIDER, SST_SCRIPT, '/usr/bin/wsrep_sst_common']) {
    try { await access(file) } catch { return `${file} is missing: apt-get install -y galera-4 mariadb-server rsync` }
  }
  try { await run('rsync', ['--version']) } catch { return 'rsync is missing: apt-get install -y rsync' }
  return null
}

async function status (port: number, name: string): Promise<string | null> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 1000 })
  try {
    const [rows] = await conn.query('SHOW STATUS LIKE ?', [name])
    return (rows as Array<{ Value: string }>)[0]?.Value ?? null
  } finally {
    await conn.end()
  }
}

export async function startGaleraCluster (t: Teardown): Promise<GaleraCluster> {
  const started = Date.now()
  const dir = await mkdtemp(join(tmpdir(), 'cbt19-galera-'))
  const children: ChildProcess[] = []
  t.teardown(async () => {
    await Promise.all(children.map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGKILL')
    })))
    await rm(dir, { recursive: true, force: true })
  })
  // The SST method: Debian's script, its rsync daemon running as this user.
  const bin = join(dir, 'bin')
  await mkdir(bin)
  const { username } = userInfo()
  const group = (await run('id', ['-gn'])).stdout.trim()
  const script = (await readFile(SST_SCRIPT, 'utf8')).replace(/^use chroot = no$/m, `use chroot = no\nuid = ${username}\ngid = ${group}`)
  if (!script.includes(`uid = ${username}`)) {
    throw new Error(`${SST_SCRIPT} no longer writes "use chroot = no": cannot make its rsync run as ${username}`)
  }
  await writeFile(join(bin, 'wsrep_sst_rsynctest'), script)
  await chmod(join(bin, 'wsrep_sst_rsynctest'), 0o755)
  await writeFile(join(bin, 'wsrep_sst_common'), await readFile('/usr/bin/wsrep_sst_common'))

  const sizes = ['--innodb-buffer-pool-size=32M', '--innodb-log-file-size=8M']
  const names = ['node1', 'node2', 'node3']
  const ports = await Promise.all(names.map(async () =>
    ({ mysql: await freePort(), gmcast: await freePort(), ist: await freePort(), sst: await freePort() })))
  const clusterAddress = `gcomm://${ports.map((p) => `127.0.0.1:${p.gmcast}`).join(',')}`
  // Temporary tables in the cluster's own directory, not the shared /tmp (another server's files there, once, broke an install).
  const installArgs = ['--no-defaults', `--datadir=${join(dir, 'node1')}`, `--tmpdir=${dir}`,
    '--auth-root-authentication-method=normal', '--skip-test-db']
  await run('mariadb-install-db', [...installArgs, `--user=${username}`, ...sizes], { timeout: 60_000 })
  await mkdir(join(dir, 'node2'))
  await mkdir(join(dir, 'node3'))

  const startNode = async (i: number): Promise<GaleraNode> => {
    const name = names[i]
    const p = ports[i]
    const logFile = join(dir, `${name}.log`)
    const out = await open(logFile, 'a')
    const child = spawn('mariadbd', [
      '--no-defaults', `--datadir=${join(dir, name)}`, `--tmpdir=${dir}`, `--port=${p.mysql}`,
      `--socket=${join(dir, `${name}.sock`)}`, `--pid-file=${join(dir, `${name}.pid`)}`,
      '--bind-address=127.0.0.1', `--user=${username}`, '--skip-log-bin', '--max-connections=300', ...sizes,
      // Galera's requirements: row-based replication, interleaved auto-increment locks.
      '--binlog-format=ROW', '--innodb-autoinc-lock-mode=2', '--default-storage-engine=InnoDB',
      '--wsrep-on=ON', `--wsrep-provider=${GALERA_PROVIDER}`, '--wsrep-cluster-name=cbt19', `--wsrep-node-name=${name}`,
      `--wsrep-node-address=127.0.0.1:${p.gmcast}`, `--wsrep-sst-receive-address=127.0.0.1:${p.sst}`, '--wsrep-sst-method=rsynctest',
      `--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:${p.gmcast};ist.recv_addr=127.0.0.1:${p.ist};gcache.size=32M`,
      i === 0 ? '--wsrep-new-cluster' : '', `--wsrep-cluster-address=${i === 0 ? 'gcomm://' : clusterAddress}`,
    ].filter((a) => a !== ''), { stdio: ['ignore', out.fd, out.fd], env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } })
    await out.close()
    children.push(child)
    // If this process ends without its teardown (a timeout), the servers must not outlive it.
    const orphan = () => child.kill('SIGKILL')
    process.once('exit', orphan)
    child.once('exit', () => process.off('exit', orphan))
    const log = () => readFile(logFile, 'utf8').catch(() => '')
    return { name, port: p.mysql, serverUrl: `mysql://root@127.0.0.1:${p.mysql}/test`, log }
  }

  const synced = async (node: GaleraNode, child: ChildProcess, size: number) => {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${node.name} exited while starting: ${(await node.log()).slice(-3000)}`)
      }
      try {
        const isSynced = await status(node.port, 'wsrep_local_state_comment') === 'Synced'
        if (isSynced && Number(await status(node.port, 'wsrep_cluster_size')) >= size) return
      } catch { /* not answering yet */ }
      if (Date.now() - started > 150_000) throw new Error(`${node.name} not synced within 150 s: ${(await node.log()).slice(-3000)}`)
      await sleep(100)
    }
  }
  const first = await startNode(0)
  await synced(first, children[0], 1)
  const others = [await startNode(1), await startNode(2)]
  await Promise.all(others.map((n, i) => synced(n, children[i + 1], 3)))
  await synced(first, children[0], 3)
  return { nodes: [first, ...others], startMs: Date.now() - started }
}
