import { Database } from '../server/data/db.js'
import { JoomlaUsers } from '../server/data/sync-store.js'
import { SyncService } from '../server/services/sync-service.js'
import { createFixtureDatabase } from '../server/dev/fixture.js'
import { seedUsers } from './seed-users.js'
const server = 'mysql://root@127.0.0.1:3306/test'
const N = Number(process.argv[2] ?? 1000000)
const url = process.argv[3] || await createFixtureDatabase(server, 'cb_1m')
if (!process.argv[3]) await seedUsers(url, N, { matched: (i: number) => i % 10 < 6, byNonPrimary: (i: number) => i % 10 === 0, mixedCase: (i: number) => i % 10 === 1 }, 'bench')
if (process.argv[4] === "seed-only") { console.log(url); process.exit(0) }
const database = new Database(url, { poolSize: 6 })
const svc = new SyncService(database, new JoomlaUsers(database.pool, 'jos_'), 1)
const t0 = Date.now()
try {
  const r = await svc.run({ onProgress: (p) => { if (p.done % 100000 === 0) console.log(p.done, Date.now() - t0, svc.readAhead) } })
  console.log(Date.now() - t0, 'ms', r.message, svc.readAhead)
} catch (err) {
  console.log('FAILED', Date.now() - t0, svc.readAhead, err, (err as any).cause)
}
await database.close()
