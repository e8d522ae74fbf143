// Units of work: a lost connection is discarded, a lock that never comes is a clear
// unavailability, lock rows are written in the unit's own transaction and scoped to a domain,
// and conflicts are re-run a bounded number of times.
import t from 'tap'
import mysql from 'mysql2/promise'
import { sql } from 'drizzle-orm'
import { Database, DatabaseUnavailableError, isUnavailable, MAX_ATTEMPTS, runBatch, IN_TRANSACTION, type Statement, type Unit } from '../server/data/db.js'
import { createFixtureDatabase } from '../server/dev/fixture.js'
import { testDatabase, eventually, holdLocks, lockWaiters, roundTripsOf, SERVER_URL } from './helper.js'

/** A used-token row as a statement that may follow another in one query (guarded). */
const token = (jti: string): Statement =>
  [`INSERT INTO civibridge_used_token (jti, purpose, used_at) SELECT ?, 'test', NOW() FROM DUAL WHERE ${IN_TRANSACTION}`, [jti]]

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
  await holdLocks(t, db.url, ['e:busy@example.org'])
  let attempts = 0
  await t.rejects(database.unit(async (unit) => {
    attempts++
    await unit.tx.execute(sql`INSERT INTO civibridge_used_token (jti, purpose, used_at) VALUES ('x', 'test', NOW())`)
    await unit.lock(['e:busy@example.org'])
  }), { name: 'DatabaseUnavailableError', message: 'database unavailable' })
  t.equal(attempts, 1, 'a lock wait that timed out is not waited for again')
  t.same(await db.rows('SELECT * FROM civibridge_used_token'), [])
})

t.test('lock rows are written in the unit\'s own transaction: held until it ends, waited for by another unit, scoped to the domain', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 2 })
  const domain2 = new Database(db.url, { poolSize: 1, domainId: 2 })
  t.teardown(async () => { await database.close(); await domain2.close() })
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  let locked!: () => void
  const isLocked = new Promise<void>((resolve) => { locked = resolve })
  const first = database.unit(async (unit) => {
    await unit.lock(['u:1', 'e:a@x.org', 'u:1'])
    locked()
    await released
  })
  await isLocked
  t.same(await db.rows('SELECT domain_id, lock_key, n FROM civibridge_lock ORDER BY lock_key'), [], 'not visible before the unit commits: written in its transaction')
  // The same key in another domain is another row: no wait.
  await domain2.unit((unit) => unit.lock(['u:1']))
  let secondDone = false
  const second = database.unit((unit) => unit.lock(['u:1'])).then(() => { secondDone = true })
  await eventually('a lock waiter', async () => await lockWaiters(db) >= 1)
  t.equal(await lockWaiters(db), 1, 'a second unit on the same key waits')
  t.notOk(secondDone)
  release()
  await first
  await second
  t.same(await db.rows('SELECT domain_id, lock_key, n FROM civibridge_lock ORDER BY domain_id, lock_key'), [
    { domain_id: 1, lock_key: 'e:a@x.org', n: 1 },
    { domain_id: 1, lock_key: 'u:1', n: 2 },
    { domain_id: 2, lock_key: 'u:1', n: 1 },
  ], 'one row per key and domain, changed by every unit that takes it (Galera certifies only changed rows)')
  await database.unit((unit) => unit.lock([]))
  t.equal((await db.rows('SELECT * FROM civibridge_lock')).length, 3, 'no keys: nothing written')
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

t.test('a real deadlock inside a batch of statements stops it there: nothing after it runs, nothing is left', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 1 })
  t.teardown(() => database.close())
  await db.sql.query("INSERT INTO civibridge_lock (domain_id, lock_key, n) VALUES (1, 'a', 1)")
  // Another transaction holds b to e (the heavier one: InnoDB rolls the lighter back).
  const other = await holdLocks(t, db.url, ['b', 'c', 'd', 'e'])
  const bump = (key: string): Statement => [`UPDATE civibridge_lock SET n = n + 1 WHERE domain_id = 1 AND lock_key = '${key}' AND ${IN_TRANSACTION}`, []]
  let waiting: Promise<unknown> | undefined
  await t.rejects(database.unit(async (unit) => {
    await unit.query(...bump('a'))
    // The other waits for a, then this unit's batch asks for b: a deadlock, which rolls this
    // unit's whole transaction back in the middle of its batch.
    waiting = other.query(bump('a')[0])
    await eventually('the other transaction to wait for a', async () => Number((await db.rows<{ n: number }>(
      "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = ? AND info LIKE 'UPDATE civibridge_lock%'", [db.name]))[0].n) === 1)
    await runBatch(unit, [['SET @ran = 0', []], bump('b'), ['SELECT @ran := 1', []]])
  }, { attempts: 1 }), { name: 'DatabaseUnavailableError', cause: { code: 'ER_LOCK_DEADLOCK' } })
  await waiting
  await other.release()
  // The pool's one connection: its session tells whether the statement after the deadlock ran.
  t.same(await database.unit((unit) => unit.query('SELECT @ran AS ran', [])), [{ ran: 0 }], 'the statement after the deadlock did not run')
  t.same(await db.rows("SELECT n FROM civibridge_lock WHERE lock_key IN ('a', 'b') ORDER BY lock_key"), [{ n: 2 }, { n: 1 }], 'a bumped by the other transaction only, b as the other wrote it')
})

t.test('a deadlock on a table\'s AUTO-INC lock (MariaDB names it ER_AUTOINC_READ_FAILED) re-runs the unit like any deadlock, and its work is written once', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 1 })
  t.teardown(() => database.close())
  await db.sql.query("INSERT INTO civibridge_lock (domain_id, lock_key, n) VALUES (1, 'k1', 1), (1, 'k2', 1)")
  // The other transaction's INSERT … SELECT (as the sync's and the events' guarded inserts are)
  // takes civicrm_uf_match's AUTO-INC lock with its first row, then waits for k2, which the unit holds.
  const other = await holdLocks(t, db.url, [])
  const peek = await mysql.createConnection({ uri: db.url })
  t.teardown(() => peek.end())
  await peek.query('SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED')
  let attempts = 0
  let otherDone: Promise<unknown> | undefined
  await database.unit(async (unit) => {
    attempts++
    await unit.query("SELECT n FROM civibridge_lock WHERE domain_id = 1 AND lock_key = 'k2' FOR UPDATE", [])
    if (attempts === 1) {
      otherDone = other.query(`INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id)
        SELECT 1, 100 + RIGHT(lock_key, 1), CONCAT(lock_key, '@example.org'), NULL FROM civibridge_lock
        WHERE domain_id = 1 AND lock_key IN ('k1', 'k2') ORDER BY lock_key FOR UPDATE`).then(() => other.release())
      // Its k1 row is written (seen uncommitted), so it holds the AUTO-INC lock and goes on to k2.
      // (information_schema.innodb_trx's 'LOCK WAIT' never showed it in one busy CI run: its rows are a cache.)
      await eventually('the other transaction to insert k1\'s row', async () => Number((await peek.query(
        "SELECT COUNT(*) AS n FROM civicrm_uf_match WHERE uf_name = 'k1@example.org'") as unknown as [[{ n: number }]])[0][0].n) === 1)
    }
    // Waits for the AUTO-INC lock the other holds while it waits for this unit: a deadlock.
    await unit.query("INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 1, 'a@example.org', NULL)", [])
  })
  await otherDone
  t.equal(attempts, 2, 'the first attempt lost the deadlock and was re-run')
  t.same(await db.rows('SELECT uf_id, uf_name FROM civicrm_uf_match ORDER BY uf_id'),
    [{ uf_id: 1, uf_name: 'a@example.org' }, { uf_id: 101, uf_name: 'k1@example.org' }, { uf_id: 102, uf_name: 'k2@example.org' }])
})

t.test('an AUTO-INC lock failure that leaves the transaction open (a lock wait timeout) is not re-run: 503, nothing written', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 1 })
  t.teardown(() => database.close())
  // MariaDB's answer when the wait for the lock timed out, given by a trigger: the statement fails, the transaction stays open.
  await db.sql.query('CREATE TABLE zz_autoinc (id INT AUTO_INCREMENT PRIMARY KEY)')
  await db.sql.query("CREATE TRIGGER zz_autoinc_fails BEFORE INSERT ON zz_autoinc FOR EACH ROW SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1467, MESSAGE_TEXT = 'Failed to read auto-increment value from storage engine'")
  let attempts = 0
  await t.rejects(database.unit(async (unit) => {
    attempts++
    await unit.query("INSERT INTO civibridge_used_token (jti, purpose, used_at) VALUES ('x', 'test', NOW())", [])
    await unit.query('INSERT INTO zz_autoinc () VALUES ()', [])
  }), { name: 'DatabaseUnavailableError', cause: { code: 'ER_LOCK_WAIT_TIMEOUT', cause: { code: 'ER_AUTOINC_READ_FAILED' } } })
  t.equal(attempts, 1)
  t.same(await db.rows("SELECT jti FROM civibridge_used_token WHERE purpose = 'test'"), [], 'the unit was rolled back')
})

t.test('a batch statement that finds its transaction gone (a Galera BF abort between two statements) writes nothing, and the unit is re-run', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 1 })
  t.teardown(() => database.close())
  let attempts = 0
  await database.unit(async (unit) => {
    attempts++
    // The first attempt's transaction is rolled back under it, as an applier's abort would.
    await runBatch(unit, attempts === 1 ? [['ROLLBACK', []], token('lost')] : [token('kept')])
  })
  t.equal(attempts, 2)
  t.same(await db.rows("SELECT jti FROM civibridge_used_token WHERE purpose = 'test'"), [{ jti: 'kept' }])
})

t.test('a batch refuses a writing statement after its first that would run outside the transaction', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 1 })
  t.teardown(() => database.close())
  await t.rejects(database.unit((unit) => runBatch(unit, [
    ['SELECT 1', []], ["INSERT INTO civibridge_used_token (jti, purpose, used_at) VALUES ('x', 'test', NOW())", []],
  ])), /must do nothing outside its transaction/)
  t.same(await db.rows('SELECT * FROM civibridge_used_token'), [])
})

t.test('a batch answers each statement\'s result in order, one statement or several, and nothing for no statement', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 1 })
  t.teardown(() => database.close())
  const out = await database.unit(async (unit) => [
    await runBatch(unit, []),
    await runBatch(unit, [['SELECT ? AS v', [1]]]),
    await runBatch(unit, [['SELECT ? AS v', [2]], ['SELECT ? AS w', [3]]]),
  ])
  t.same(out, [[], [[{ v: 1 }]], [[{ v: 2 }], [{ w: 3 }]]])
})

t.test('writes queued by later() go in front of the unit\'s next statement or with its COMMIT, in the same round trip, and are kept only with the unit', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 1 })
  t.teardown(() => database.close())
  const sent = roundTripsOf(database)
  const jtis = () => db.rows<{ jti: string }>('SELECT jti FROM civibridge_used_token ORDER BY jti').then((rows) => rows.map((r) => r.jti))
  const TOKEN = 'INSERT civibridge_used_token'

  // In front of a statement that may follow them (a read, a guarded write), which sees their rows.
  const seen = await database.unit(async (unit) => {
    await unit.lock(['u:1'])
    unit.later(token('a'))
    unit.later(token('b'))
    const rows = await unit.query('SELECT jti FROM civibridge_used_token ORDER BY jti', [])
    unit.later(token('c'))
    await unit.commitWith(...token('d'))
    return rows
  })
  t.same(seen, [{ jti: 'a' }, { jti: 'b' }], 'the read is answered alone, after the writes queued before it')
  t.same(sent.splice(0), [
    'BEGIN; INSERT civibridge_lock',
    `${TOKEN}; ${TOKEN}; SELECT civibridge_used_token`,
    `${TOKEN}; ${TOKEN}; COMMIT`,
  ])
  t.same(await jtis(), ['a', 'b', 'c', 'd'])

  // Alone first before what cannot follow them (a prepared statement, Drizzle's, an unguarded
  // write, the lock rows); with the COMMIT of a unit that ends without commitWith, even one that sent nothing else.
  await database.unit(async (unit) => {
    unit.later(token('e'))
    t.same(await unit.prepared('SELECT COUNT(*) FROM civibridge_used_token', []), [[5]], 'sent before the prepared statement')
    unit.later(token('f'))
    await unit.tx.execute(sql`DO 0`)
    unit.later(token('g'))
    await unit.query("INSERT INTO civibridge_used_token (jti, purpose, used_at) VALUES ('h', 'test', NOW())", [])
    unit.later(token('i'))
    await unit.lock(['u:2'])
    unit.later(token('j'))
  })
  await database.unit(async (unit) => { unit.later(token('k')) })
  t.same(sent.splice(0), [
    `BEGIN; ${TOKEN}`, 'SELECT civibridge_used_token',
    TOKEN, 'DO',
    TOKEN, TOKEN,
    TOKEN, 'INSERT civibridge_lock',
    `${TOKEN}; COMMIT`,
    `BEGIN; ${TOKEN}; COMMIT`,
  ])
  t.same(await jtis(), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k'])

  // A unit that fails sends none of what it queued last, and keeps nothing.
  await t.rejects(database.unit(async (unit) => {
    unit.later(token('l'))
    await unit.query('SELECT 1 FROM civibridge_used_token LIMIT 1', [])
    unit.later(token('m'))
    throw new Error('the unit fails')
  }), { message: 'the unit fails' })
  t.same(sent.splice(0), [`BEGIN; ${TOKEN}; SELECT civibridge_used_token`, 'ROLLBACK'], 'the write queued last was never sent')
  t.equal((await jtis()).length, 11)

  // Only a statement that does nothing outside the transaction may be queued, and nothing after the COMMIT.
  await t.rejects(database.unit(async (unit) => { unit.later(["INSERT INTO civibridge_used_token (jti, purpose, used_at) VALUES ('n', 'test', NOW())", []]) }),
    /must do nothing outside its transaction/)
  await t.rejects(database.unit(async (unit) => {
    await unit.commitWith(...token('o'))
    unit.later(token('p'))
  }), /nothing may be sent after it/)
  t.same(await jtis(), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'o'], 'what a unit committed stays')
})

t.test('a unit that deadlocks (or loses certification) every time gives up after ten attempts as unavailable, writing nothing', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 2 })
  t.teardown(() => database.close())
  let attempts = 0
  await t.rejects(database.unit(async (unit) => {
    attempts++
    await unit.query("INSERT INTO civibridge_used_token (jti, purpose, used_at) VALUES ('never', 'test', NOW())", [])
    await unit.query(deadlock, [])
  }), { name: 'DatabaseUnavailableError', cause: { code: 'ER_LOCK_DEADLOCK' } })
  t.equal(attempts, MAX_ATTEMPTS)
  t.equal(MAX_ATTEMPTS, 10)
  t.same(await db.rows('SELECT * FROM civibridge_used_token'), [])
})

t.test('Drizzle\'s statements in a unit, through query or execute, run inside its transaction: a failed unit leaves none of them', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 2 })
  t.teardown(() => database.close())
  // Drizzle's mysql2 session sends `all()` through the connection's execute, everything else through query.
  type Session = { all (q: ReturnType<typeof sql>): Promise<unknown>, execute (q: ReturnType<typeof sql>): Promise<unknown> }
  await t.rejects(database.unit(async (unit) => {
    const session = (unit.tx as unknown as { session: Session }).session
    await session.all(sql`INSERT INTO civibridge_lock (domain_id, lock_key, n) VALUES (1, 'through-execute', 1)`)
    await session.execute(sql`INSERT INTO civibridge_lock (domain_id, lock_key, n) VALUES (1, 'through-query', 1)`)
    throw new Error('the unit fails after both')
  }), { message: 'the unit fails after both' })
  t.same(await db.rows("SELECT lock_key FROM civibridge_lock WHERE lock_key LIKE 'through-%'"), [], 'both rolled back with the unit')
})

t.test('a unit whose first statement is a plain query opens its transaction with it: the query\'s own answer comes back, and a failed unit leaves nothing', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 2 })
  t.teardown(() => database.close())
  const insert = 'INSERT INTO civibridge_used_token (jti, purpose, used_at) VALUES (?, \'test\', NOW())'
  const answers: unknown[] = []
  await t.rejects(database.unit(async (unit) => {
    answers.push(await unit.query(insert, ['first']))
    answers.push(await unit.query('SELECT jti FROM civibridge_used_token', []))
    throw new Error('the unit fails after both')
  }), { message: 'the unit fails after both' })
  t.match(answers[0], { affectedRows: 1 }, 'one statement\'s answer, not the BEGIN\'s with it')
  t.same(answers[1], [{ jti: 'first' }], 'the first statement ran in the unit\'s transaction: the next one sees its row')
  t.same(await db.rows('SELECT jti FROM civibridge_used_token'), [], 'rolled back with the unit')

  // Several statements as the first query: their answers as a list, as the same text sent alone gives.
  const [inserted, rows] = await database.unit(async (unit) =>
    await unit.query(`${insert}; SELECT jti FROM civibridge_used_token`, ['second']) as [unknown, unknown])
  t.match(inserted, { affectedRows: 1 })
  t.same(rows, [{ jti: 'second' }])
  // A first statement that fails: nothing after the BEGIN ran, and the unit is not run again.
  let attempts = 0
  await t.rejects(database.unit(async (unit) => { attempts++; await unit.query('INSERT INTO no_such_table VALUES (?)', [1]) }), { code: 'ER_NO_SUCH_TABLE' })
  t.equal(attempts, 1)
  t.same(await db.rows('SELECT jti FROM civibridge_used_token'), [{ jti: 'second' }])
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

t.test('a unit whose transaction the database rolled back without an error (a Galera BF abort) is run again, not answered as applied', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 2 })
  t.teardown(() => database.close())
  const tokenValues = (jti: string) => [jti, 'test']
  // The rollback is the unit's own here; on Galera a replicated transaction does it between two
  // statements, and the next statements' answers say no transaction is open.
  const rolledBack = [
    async (unit: Unit) => { await unit.query('ROLLBACK', []) },
    async (unit: Unit) => { await unit.prepared('ROLLBACK', []) },
    async (unit: Unit) => { await unit.tx.execute(sql`ROLLBACK`) },
    async (unit: Unit) => { await unit.commitWith('ROLLBACK; DO 0', []) },
  ]
  for (const [i, rollBack] of rolledBack.entries()) {
    let attempts = 0
    await database.unit(async (unit) => {
      attempts++
      await unit.lock([`u:${i}`])
      await unit.query('INSERT INTO civibridge_used_token (jti, purpose, used_at) VALUES (?, ?, NOW())', tokenValues(`first-${i}-${attempts}`))
      if (attempts === 1) await rollBack(unit)
      await unit.commitWith('INSERT INTO civibridge_used_token (jti, purpose, used_at) VALUES (?, ?, NOW())', tokenValues(`last-${i}-${attempts}`))
    })
    t.equal(attempts, 2, `detected through ${['query', 'prepared', 'Drizzle', 'commitWith'][i]}: run again`)
  }
  t.same((await db.rows<{ jti: string }>('SELECT jti FROM civibridge_used_token ORDER BY jti')).map((r) => r.jti),
    ['first-0-2', 'first-1-2', 'first-2-2', 'first-3-2', 'last-0-2', 'last-1-2', 'last-2-2', 'last-3-2'], 'only the second attempts\' rows')
  t.equal(Number((await db.rows<{ n: number }>("SELECT COUNT(*) AS n FROM civibridge_lock WHERE lock_key LIKE 'u:%'"))[0].n), 4)
})

t.test('a unit whose lock rows are written with no transaction open is run again', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 1 })
  t.teardown(() => database.close())
  let attempts = 0
  await database.unit(async (unit) => {
    attempts++
    await unit.lock(['u:1'])
    if (attempts === 1) {
      await unit.query('COMMIT', []).catch(() => {}) // ends the transaction: the next lock rows are written outside it
      await unit.lock(['u:2'])
    }
  })
  t.equal(attempts, 2)
})

t.test('a statement the bridge gave up on at its timeout is stopped by the database too, not left running', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 1, lockTimeoutS: 1, queryTimeoutMs: 300 })
  t.teardown(() => database.close())
  t.equal(database.serverStatementLimitS, 1.3, 'the lock rows\' wait plus a statement\'s')
  const marker = `gave-up-${process.pid}`
  // Runs for hours unless the server stops it.
  const slow = `SELECT '${marker}' AS m, BENCHMARK(100000000000, MD5('x')) AS b`
  const running = async () => {
    const [rows] = await db.sql.query('SELECT id FROM information_schema.PROCESSLIST WHERE INFO = ?', [slow])
    return rows as Array<{ id: number }>
  }
  t.teardown(async () => { for (const { id } of await running()) await db.sql.query(`KILL QUERY ${id}`) })
  await t.rejects(database.pool.query(slow), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' }, 'the bridge stops waiting at its timeout')
  t.ok(await eventually('the statement to stop in the server', async () => (await running()).length === 0), 'no longer running in the database')
  // A new connection of the pool has the same limit, and a statement within it answers.
  const [[row]] = await database.pool.query('SELECT @@max_statement_time AS limitS, 1 AS ok') as unknown as [[{ limitS: number, ok: number }]]
  t.same({ limitS: Number(row.limitS), ok: row.ok }, { limitS: 1.3, ok: 1 })
})
