// Units of work: a lost connection is discarded, a lock that never comes is a clear
// unavailability, and names are scoped to one database.
import t from 'tap'
import { sql } from 'drizzle-orm'
import mysql from 'mysql2/promise'
import { Database, DatabaseUnavailableError, isUnavailable } from '../server/data/db.js'
import { createFixtureDatabase } from '../server/dev/fixture.js'
import { testDatabase, SERVER_URL } from './helper.js'

t.test('a connection lost inside a unit is destroyed, not returned to the pool, and the caller is told the database is unavailable', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 1 })
  t.teardown(() => database.close())
  let killedId = 0
  await t.rejects(database.unit(async (unit) => {
    await unit.lock(['u:1'])
    const [[row]] = await unit.tx.execute(sql`SELECT CONNECTION_ID() AS id`) as unknown as [[{ id: number }]]
    killedId = row.id
    await db.sql.query(`KILL ${killedId}`)
    await unit.tx.execute(sql`SELECT 1`)
  }), DatabaseUnavailableError)
  // The only pooled connection is a new one, and it works.
  const id = await database.unit(async (unit) => ((await unit.tx.execute(sql`SELECT CONNECTION_ID() AS id`)) as unknown as [[{ id: number }]])[0][0].id)
  t.not(id, killedId)
})

t.test('waiting too long for a lock is reported as the database being unavailable, and nothing is written', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { lockTimeoutS: 1 })
  t.teardown(() => database.close())
  const holder = await mysql.createConnection({ uri: db.url })
  t.teardown(() => holder.end())
  await holder.query('SELECT GET_LOCK(?, 10)', [database.lockName('e:busy@example.org')])
  await t.rejects(database.unit(async (unit) => {
    await unit.tx.execute(sql`INSERT INTO civibridge_used_token (jti, purpose, used_at) VALUES ('x', 'test', NOW())`)
    await unit.lock(['e:busy@example.org'])
  }), { name: 'DatabaseUnavailableError', message: 'timed out waiting for a lock' })
  t.same(await db.rows('SELECT * FROM civibridge_used_token'), [])
})

t.test('lock names are scoped to the database and the domain', async (t) => {
  const a = new Database('mysql://root@127.0.0.1:3306/one', { poolSize: 1 })
  const b = new Database('mysql://root@127.0.0.1:3306/two', { poolSize: 1 })
  const c = new Database('mysql://root@127.0.0.1:3306/one', { poolSize: 1, domainId: 2 })
  t.teardown(async () => { await a.close(); await b.close(); await c.close() })
  t.not(a.lockName('u:1'), b.lockName('u:1'))
  t.not(a.lockName('u:1'), c.lockName('u:1'))
  t.ok(a.lockName('u:1').length <= 64, 'MariaDB lock names are at most 64 characters')
})

t.test('a fixture database name must be a plain identifier', async (t) => {
  await t.rejects(createFixtureDatabase(SERVER_URL, 'bad-name; DROP'), /bad database name/)
})

t.test('a unit on an unreachable database fails fast as unavailable', async (t) => {
  const database = new Database('mysql://root@127.0.0.1:1/nothing')
  t.teardown(() => database.close())
  await t.rejects(database.unit(async () => 1), { name: 'DatabaseUnavailableError', message: 'database unavailable' })
})

// SIGNAL raises a real server error: errno 1213 reaches the pool as ER_LOCK_DEADLOCK.
const deadlock = "SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'Deadlock found'"

t.test('a unit that hits a deadlock is rolled back and run again, and its work is written once', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 2 })
  t.teardown(() => database.close())
  let attempts = 0
  const result = await database.unit(async (unit) => {
    attempts++
    await unit.query("INSERT INTO civibridge_used_token (jti, purpose, used_at) VALUES ('once', 'test', NOW())", [])
    if (attempts < 3) await unit.query(deadlock, [])
    return 'done'
  })
  t.equal(result, 'done')
  t.equal(attempts, 3, 'two deadlocks, then success')
  t.same(await db.rows("SELECT jti FROM civibridge_used_token WHERE purpose = 'test'"), [{ jti: 'once' }])
})

t.test('a unit that deadlocks every time gives up after six attempts with the deadlock, writing nothing', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 2 })
  t.teardown(() => database.close())
  let attempts = 0
  await t.rejects(database.unit(async (unit) => {
    attempts++
    await unit.query("INSERT INTO civibridge_used_token (jti, purpose, used_at) VALUES ('never', 'test', NOW())", [])
    await unit.query(deadlock, [])
  }), { code: 'ER_LOCK_DEADLOCK' })
  t.equal(attempts, 6)
  t.same(await db.rows('SELECT * FROM civibridge_used_token'), [])
})

t.test('a unit failing with an error that is not a race is not run again', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 2 })
  t.teardown(() => database.close())
  let attempts = 0
  await t.rejects(database.unit(async (unit) => {
    attempts++
    await unit.query('SELECT * FROM no_such_table', [])
  }), { code: 'ER_NO_SUCH_TABLE' })
  t.equal(attempts, 1)
})

t.test('a query on a closed pool (the process is shutting down) counts as the database being unavailable', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 1 })
  await database.close()
  const err = await database.db.execute(sql`SELECT 1`).then(() => null, (e: unknown) => e)
  t.ok(err, 'the query fails')
  t.ok(isUnavailable(err), 'answered as 503 with Retry-After, not as an unexpected error')
  t.notOk(isUnavailable(new Error('Table missing')), 'other errors stay unexpected')
})

t.test('locks taken for work spread over several units fail fast as unavailable when the database cannot be reached', async (t) => {
  const database = new Database('mysql://root@127.0.0.1:1/nothing')
  t.teardown(() => database.close())
  let ran = false
  await t.rejects(database.withLocks(['u:1'], async () => { ran = true }), { name: 'DatabaseUnavailableError', message: 'database unavailable' })
  t.notOk(ran, 'the work does not run without its locks')
})

t.test('locks taken for work spread over several units are held while it runs and released after', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 2 })
  t.teardown(() => database.close())
  const name = database.lockName('u:1')
  const heldDuring = await database.withLocks(['u:1'], async () => (await db.rows<{ holder: number | null }>('SELECT IS_USED_LOCK(?) AS holder', [name]))[0].holder !== null)
  t.ok(heldDuring, 'held while the work runs')
  t.same(await db.rows('SELECT IS_USED_LOCK(?) AS holder', [name]), [{ holder: null }], 'released after')
})
