// Synchronize Users to Contacts, two chunks in flight: each chunk's facts are read and decided
// while the chunk before it is written, and it commits them only when its lock rows' counters
// show that nothing but that chunk wrote under them meanwhile. What moves a counter in between
// (a live write, the chunk before re-run, a chunk before that is slow to end) sends the chunk
// back to reading its facts under its locks.
import t from 'tap'
import { Database } from '../server/data/db.js'
import { linkUser, lockKeys } from '../server/domain/link-user.js'
import { SqlLinkStore } from '../server/data/link-store.js'
import { JoomlaUsers } from '../server/data/sync-store.js'
import { addClaims, freesNoName, noClaims, readAheadHolds, withClaims, type SyncDecision } from '../server/domain/sync.js'
import { SyncService, chunkLockKeys } from '../server/services/sync-service.js'
import { testDatabase, insertContact, holdLocks, lockWaiters, eventually, type TestDb } from './helper.js'
import { GatedUsers, insertJoomlaUsers, syncService } from './sync-helper.js'

const links = (db: TestDb) => db.rows<{ uf_id: number, uf_name: string, contact_id: number }>('SELECT uf_id, uf_name, contact_id FROM civicrm_uf_match ORDER BY uf_id')
const count = async (db: TestDb, q: string, values: unknown[] = []) => Number((await db.rows<{ n: number }>(q, values))[0].n)
const user = (id: number, email: string) => ({ id, email, name: `User ${id}`, username: `u${id}`, block: false })

/** An email whose lock stripe is none of `taken` (so that holding it blocks one chunk only). */
function emailOutside (taken: string[], prefix: string): string {
  for (let k = 0; ; k++) {
    const email = `${prefix}${k}@example.org`
    if (!taken.includes(lockKeys.email(email))) return email
  }
}

t.test('readAheadHolds: every counter moved by the chunk\'s own increment, plus the chunk before\'s when the read did not see its commit', async (t) => {
  const seen = new Map([['s:1', 4], ['s:2', 7]])
  const previous = (committed: boolean) => ({ keys: new Set(['s:2']), committed })
  t.ok(readAheadHolds(seen, new Map([['s:1', 5], ['s:2', 9], ['s:3', 1]]), previous(false)), 's:2 moved by the chunk before too; s:3 is new')
  t.notOk(readAheadHolds(seen, new Map([['s:1', 5], ['s:2', 8]]), previous(false)), 'the chunk before did not commit (it was rolled back)')
  t.ok(readAheadHolds(seen, new Map([['s:1', 5], ['s:2', 8]]), previous(true)), 'its commit was seen by the read')
  t.notOk(readAheadHolds(seen, new Map([['s:1', 6], ['s:2', 8]]), previous(true)), 'something else wrote under s:1')
  t.notOk(readAheadHolds(seen, new Map([['s:3', 2]]), previous(true)), 'a row made since the read')
})

t.test('claims laid over facts: contacts and emails taken by earlier decisions, whether or not the facts saw them written; an email change frees a name', async (t) => {
  const decisions: SyncDecision[] = [
    { kind: 'link-existing', ufId: 1, email: 'One@x.org', contactId: 10 },
    { kind: 'create', ufId: 2, email: 'two@x.org', contact: {} as never },
    { kind: 'skip', ufId: 3, reason: 'missing-email' },
  ]
  const claims = addClaims(noClaims(), decisions)
  const facts = withClaims({
    links: new Map(),
    candidates: new Map([['three@x.org', [{ contactId: 10, linkedUfId: null }, { contactId: 11, linkedUfId: 7 }]]]),
    ufNameHolders: new Map([['two@x.org', 2]]),
    waiting: new Set<number>(),
  }, ['one@x.org', 'two@x.org', 'three@x.org'], claims)
  t.same(facts.candidates.get('three@x.org'), [{ contactId: 10, linkedUfId: 1 }, { contactId: 11, linkedUfId: 7 }], 'the contact user 1 took is linked')
  t.same([...facts.ufNameHolders], [['two@x.org', 2], ['one@x.org', 1]], 'the emails taken are held, once')
  t.ok(freesNoName(decisions))
  const changed: SyncDecision = { kind: 'already-linked', ufId: 4, contactId: 12, linkId: 5, updateEmail: 'new@x.org', syncContactEmail: true, wantedEmail: null, reason: 'email-updated' }
  t.notOk(freesNoName([...decisions, changed]), 'a linked user\'s email change gives up its old uf_name')
  t.equal(addClaims(noClaims(), [changed]).names.get('new@x.org'), 4, 'and takes the new one')
})

t.test('lockAndCount: the counters with the unit\'s own increments, as its first statement or after others; no keys, no lock statement; statements sent after them answered', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url, { poolSize: 2 })
  t.teardown(() => database.close())
  await db.sql.query("INSERT INTO civibridge_lock (domain_id, lock_key, n) VALUES (1, 's:1', 4)")
  const first = await database.unit((u) => u.lockAndCount(['s:2', 's:1', 's:1']))
  t.same([...first.counters].sort(), [['s:1', 5], ['s:2', 1]], 'first statement: BEGIN with it')
  t.same(first.then, [], 'nothing after them')
  const after = await database.unit(async (u) => {
    await u.query('SELECT 1', [])
    return u.lockAndCount(['s:1'], [['SELECT ? AS v', [7]]])
  })
  t.same([...after.counters], [['s:1', 6]], 'after another statement')
  t.same(after.then, [[{ v: 7 }]], 'and the statements sent after them, answered')
  const none = await database.unit((u) => u.lockAndCount([], [['SELECT ? AS v', [8]]]))
  t.same([...none.counters], [], 'no keys: no lock statement')
  t.same(none.then, [[{ v: 8 }]], 'the statements after them still sent')
  t.same(await db.rows('SELECT lock_key, n FROM civibridge_lock ORDER BY lock_key'), [{ lock_key: 's:1', n: 6 }, { lock_key: 's:2', n: 1 }], 'committed with the units')
})

t.test('every chunk after the first is decided from facts read while the one before was written; what one chunk takes, the next sees', async (t) => {
  const db = await testDatabase(t)
  const both = await insertContact(db, { first: 'Both', emails: [{ email: 'p@example.org', primary: true }, { email: 'q@example.org' }] })
  const had = await insertContact(db, { first: 'Had', emails: [{ email: 'had@example.org', primary: true }] })
  await insertJoomlaUsers(db, [
    { id: 1, email: 'a@example.org' }, { id: 2, email: 'shared@example.org' },
    { id: 3, email: 'SHARED@example.org' }, { id: 4, email: 'p@example.org' },
    { id: 5, email: 'q@example.org' }, { id: 6, email: 'had@example.org' },
    { id: 7, email: 'b@example.org' }, { id: 8, email: 'bad' },
  ])
  const { database } = syncService(t, db)
  // Waits as long as a busy machine may make it: nothing here can make a chunk wait for the next.
  const service = new SyncService(database, new JoomlaUsers(database.pool, 'jos_'), 1, { readAheadWaitMs: 30_000 })
  const r = await service.run({ batchSize: 2 })
  t.same(service.readAhead, { used: 3, reread: 0 }, 'chunks 2 to 4 from facts read ahead')
  t.match(r, { status: 'done', counts: { checked: 8, matched: 2, created: 4, skipped: 2 } })
  t.same(r.skippedUsers, [{ id: 3, reason: 'email-linked-to-user:2' }, { id: 8, reason: 'invalid-email' }], 'user 3 sees the email user 2 took in the chunk before')
  const made = await links(db)
  t.equal(made.find((l) => l.uf_id === 4)?.contact_id, both, 'user 4 takes the contact')
  t.not(made.find((l) => l.uf_id === 5)?.contact_id, both, 'user 5, in the next chunk, does not take it again by its other email')
  t.equal(made.find((l) => l.uf_id === 6)?.contact_id, had)
  t.equal(made.length, 6)
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civibridge_sync_chunk'), 4, 'a checkpoint per chunk')
  t.match(await db.rows('SELECT status, last_user_id, checked FROM civibridge_sync_job'), [{ status: 'done', last_user_id: 8, checked: 8 }])
})

t.test('a contact added under a chunk\'s stripe between its read-ahead and its locks: the chunk reads again under its locks and links to it', async (t) => {
  const db = await testDatabase(t)
  const first = [user(1, 'a1@example.org'), user(2, 'a2@example.org')]
  const late = emailOutside(chunkLockKeys(first), 'late')
  await insertJoomlaUsers(db, [{ id: 1, email: 'a1@example.org' }, { id: 2, email: 'a2@example.org' }, { id: 3, email: late }, { id: 4, email: 'a4@example.org' }])
  // A live unit of work holds the stripe of user 3's email (and of nothing the first chunk needs).
  const holder = await holdLocks(t, db.url, [lockKeys.email(late)])
  const { service } = syncService(t, db)
  const run = service.run({ batchSize: 2 })
  // The second chunk has written what its facts read ahead decided (a new contact for user 3) and waits for the stripe.
  await eventually('the second chunk waiting for its lock rows', async () => await lockWaiters(db) === 1)
  await holder.query("INSERT INTO civicrm_contact (contact_type, first_name, display_name, sort_name) VALUES ('Individual', 'Late', 'Late', 'Late')")
  await holder.query('INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) VALUES (LAST_INSERT_ID(), 1, ?, 1)', [late])
  await holder.release()
  const r = await run
  t.same(service.readAhead, { used: 0, reread: 1 }, 'the second chunk\'s facts read ahead were dropped')
  t.match(r.counts, { checked: 4, matched: 1, created: 3 })
  const [{ id: lateContact }] = await db.rows<{ id: number }>("SELECT id FROM civicrm_contact WHERE first_name = 'Late'")
  t.same((await links(db)).find((l) => l.uf_id === 3), { uf_id: 3, uf_name: late, contact_id: lateContact }, 'user 3 is linked to the contact added meanwhile')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_email WHERE email = ?', [late]), 1, 'no second contact with that email')
})

t.test('the chunk before re-run after the next chunk\'s facts were read ahead over its decisions: the next chunk reads again under its locks', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [1, 2, 3, 4].map((id) => ({ id, email: `u${id}@example.org` })))
  // The first chunk's checkpoint fails once as a deadlock would: its unit is re-run with decisions of its own.
  await db.sql.query('CREATE SEQUENCE first_chunk_tries')
  await db.sql.query(`CREATE TRIGGER first_chunk_deadlocks_once BEFORE INSERT ON civibridge_sync_chunk FOR EACH ROW
    BEGIN IF NEW.first_user_id = 1 AND NEXTVAL(first_chunk_tries) = 1 THEN SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'deadlock for the test'; END IF; END`)
  const { service } = syncService(t, db)
  const r = await service.run({ batchSize: 2 })
  t.same(service.readAhead, { used: 0, reread: 1 })
  t.match(r.counts, { checked: 4, created: 4 })
  t.same((await links(db)).map((l) => l.uf_id), [1, 2, 3, 4], 'every user linked once')
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_contact WHERE id > 1'), 4, 'no contact of a rolled-back attempt left')
})

t.test('the chunk before slow to end: the next chunk gives up waiting for it, rolls back what it wrote, and is re-run once it ended', async (t) => {
  const db = await testDatabase(t)
  await insertJoomlaUsers(db, [1, 2, 3, 4].map((id) => ({ id, email: `u${id}@example.org` })))
  const database = new Database(db.url, { poolSize: 6 })
  t.teardown(() => database.close())
  const users = new GatedUsers(database.pool, 'jos_')
  const service = new SyncService(database, users, 1, { readAheadWaitMs: 100 })
  const started = await service.start({ batchSize: 2 })
  // The job's row held by another transaction (no lock row): the first chunk's checkpoint waits for it.
  const holder = await holdLocks(t, db.url, [])
  await holder.query('UPDATE civibridge_sync_job SET heartbeat_at = heartbeat_at WHERE id = ?', [started.jobId])
  users.open()
  await eventually('the second chunk giving up', () => service.readAhead.reread === 1)
  await holder.release()
  t.match(await started.done, { status: 'done', counts: { checked: 4, created: 4 } })
  t.same(service.readAhead, { used: 0, reread: 1 })
  t.same((await links(db)).map((l) => l.uf_id), [1, 2, 3, 4])
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_contact WHERE id > 1'), 4, 'what the given-up attempt wrote was rolled back')
})

t.test('a chunk after one that changes a linked user\'s email is not read ahead: it reads its facts under its locks', async (t) => {
  const db = await testDatabase(t)
  const c = await insertContact(db, { first: 'Old', emails: [{ email: 'old@example.org', primary: true }] })
  await db.sql.query('INSERT INTO civicrm_uf_match (domain_id, uf_id, uf_name, contact_id) VALUES (1, 1, ?, ?)', ['old@example.org', c])
  // User 2 takes the email user 1 gives up, one chunk later.
  await insertJoomlaUsers(db, [{ id: 1, email: 'new@example.org' }, { id: 2, email: 'old@example.org' }, { id: 3, email: 'u3@example.org' }])
  const { service } = syncService(t, db)
  const r = await service.run({ batchSize: 1 })
  // (Chunk 3 may give up waiting for chunk 2, which may wait for chunk 3's link: InnoDB's check
  // of uf_name's unique key locks the entry after user 1's old one, not yet purged.)
  t.equal(service.readAhead.used + service.readAhead.reread, 1, 'chunk 3 only')
  t.same(r.skippedUsers, [], 'user 2 is not told that user 1 holds old@example.org')
  t.same((await links(db)).map((l) => [l.uf_id, l.uf_name]), [[1, 'new@example.org'], [2, 'old@example.org'], [3, 'u3@example.org']])
})

t.test('a sync with live registrations through another pool: one link per user, one contact per email', async (t) => {
  const db = await testDatabase(t)
  const n = 300
  await insertJoomlaUsers(db, Array.from({ length: n }, (_, i) => ({ id: i + 1, email: `r${i + 1}@example.org` })))
  const { service } = syncService(t, db)
  const live = new Database(db.url, { poolSize: 4 })
  t.teardown(() => live.close())
  const site = await live.siteSettings()
  const run = service.run({ batchSize: 10 })
  // Registrations of the same users, from the last, while the sync walks from the first.
  for (let id = n; id > 0; id -= 3) {
    await live.unit((unit) => linkUser(new SqlLinkStore(unit, 1, site), user(id, `r${id}@example.org`), 'save'))
  }
  const r = await run
  t.equal(r.counts.checked, n)
  t.equal(service.readAhead.used + service.readAhead.reread, 29, 'every chunk after the first was read ahead')
  t.same(await db.rows('SELECT COUNT(*) AS n, COUNT(DISTINCT uf_id) AS users, COUNT(DISTINCT contact_id) AS contacts FROM civicrm_uf_match'), [{ n, users: n, contacts: n }])
  t.equal(await count(db, 'SELECT COUNT(*) AS n FROM civicrm_email'), n, 'one contact per email')
  t.equal(await count(db, 'SELECT COUNT(DISTINCT email) AS n FROM civicrm_email'), n)
})
