// Creates or upgrades the bridge's own tables (civibridge_*). CiviCRM's tables are never touched.
import { fileURLToPath } from 'node:url'
import { migrate } from 'drizzle-orm/mysql2/migrator'
import type { Database } from './db.js'

export const migrationsFolder = fileURLToPath(new URL('../../drizzle/migrations', import.meta.url))

export async function migrateBridgeTables (database: Database): Promise<void> {
  await migrate(database.db, { migrationsFolder, migrationsTable: 'civibridge_migrations' })
}
