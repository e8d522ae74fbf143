// Creates or upgrades the bridge's own tables (civibridge_*). CiviCRM's tables are never touched.
import { fileURLToPath } from 'node:url'
import { migrate } from 'drizzle-orm/mysql2/migrator'
import type { Database } from './db.js'
import { civicrmCollation, convertBridgeTables } from './collation.js'
import { missingCivicrmTables } from './schema-check.js'
import { NotCivicrmError } from '../errors.js'

export const migrationsFolder = fileURLToPath(new URL('../../drizzle/migrations', import.meta.url))

export { NotCivicrmError }

/**
 * Refuses a database without CiviCRM's tables (a wrong CIVICRM_DB_URL), applies the migrations,
 * then gives every bridge table CiviCRM's collation: the migrations create them in the
 * database's default, which need not be CiviCRM's.
 */
export async function migrateBridgeTables (database: Database): Promise<void> {
  const missing = await missingCivicrmTables(database)
  if (missing.length > 0) {
    throw new NotCivicrmError(
      `CiviCRM tables missing in database ${database.name}: ${missing.join(', ')}; nothing created (check CIVICRM_DB_URL)`)
  }
  await migrate(database.db, { migrationsFolder, migrationsTable: 'civibridge_migrations' })
  await convertBridgeTables(database.pool, (await civicrmCollation(database.pool))!)
}
