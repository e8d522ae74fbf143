// Shared by the sync tests: Joomla users inserted in bulk, a sync service on a test database,
// and the seed's example.
import { insertContact, type TestDb } from './helper.js'
import { Database } from '../server/data/db.js'
import { JoomlaUsers } from '../server/data/sync-store.js'
import { SyncService } from '../server/services/sync-service.js'

export interface JUser { id: number, name?: string, username?: string, email: string, block?: number }

export async function insertJoomlaUsers (db: TestDb, users: JUser[], prefix = 'jos_'): Promise<void> {
  for (let i = 0; i < users.length; i += 1000) {
    const rows = users.slice(i, i + 1000)
      .map((u) => [u.id, u.name ?? `User ${u.id}`, u.username ?? `user${u.id}`, u.email, '', u.block ?? 0, ''])
    await db.sql.query(`INSERT INTO \`${prefix}users\` (id, name, username, email, password, block, params) VALUES ?`, [rows])
  }
}

interface Teardown { teardown (fn: () => unknown): void }

export function syncService (
  t: Teardown, db: TestDb, opts: { prefix?: string, domainId?: number } = {}
): { service: SyncService, database: Database } {
  const database = new Database(db.url, { poolSize: 4, domainId: opts.domainId ?? 1 })
  t.teardown(() => database.close())
  return { service: new SyncService(database, new JoomlaUsers(database.pool, opts.prefix ?? 'jos_'), opts.domainId ?? 1), database }
}

/** The seed's message for its example below. */
export const SEED_MESSAGE = 'Synchronize Users to Contacts completed. Checked 5 user records. Found 3 matching contact records. ' +
  'Created 2 new contact records.'

/** The seed's example: 5 users, 3 with contacts (one by a non-primary, mixed-case email), 2 without. */
export async function seedExample (db: TestDb): Promise<{ ann: number, bob: number, cy: number }> {
  const ann = await insertContact(db, { first: 'Ann', last: 'Lee', emails: [{ email: 'ann@example.org', primary: true }] })
  const bob = await insertContact(db, {
    first: 'Bob', last: 'Berg', emails: [{ email: 'bob.work@example.com', primary: true, location: 2 }, { email: 'Bob@Example.org' }],
  })
  const cy = await insertContact(db, { first: 'Cy', last: 'Young', emails: [{ email: 'cy@example.org', primary: true }] })
  await insertJoomlaUsers(db, [
    { id: 42, name: 'Ann Lee', email: 'ANN@example.org' },
    { id: 43, name: 'Bob Berg', email: 'bob@example.org' },
    { id: 44, name: 'Cy Young', email: ' cy@example.org ' },
    { id: 45, name: 'Dana van der Berg', email: 'Dana@Example.org' },
    { id: 46, name: '', email: 'eve@example.org' },
  ])
  return { ann, bob, cy }
}

/** Joomla's users, read only once the test opens the gate (the job is started by then). */
export class GatedUsers extends JoomlaUsers {
  open!: () => void
  private readonly gate = new Promise<void>((resolve) => { this.open = resolve })
  override async after (afterId: number, limit: number) {
    await this.gate
    return super.after(afterId, limit)
  }
}
