// At start: are CiviCRM's tables and columns there, and has `migrate` created ours?
import { getTableConfig } from 'drizzle-orm/mysql-core'
import { requiredCivicrmColumns } from '../../drizzle/schema/civicrm.js'
import * as bridge from '../../drizzle/schema/bridge.js'
import type { Database } from './db.js'

const bridgeTables = Object.values(bridge).map((t) => getTableConfig(t).name)

/** One line naming what is missing, or null when the schema is usable. */
export async function schemaProblem (database: Database, required: Record<string, string[]> = requiredCivicrmColumns): Promise<string | null> {
  const [rows] = await database.pool.query(
    'SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()')
  const have = new Map<string, Set<string>>()
  for (const { t, c } of rows as Array<{ t: string, c: string }>) {
    if (!have.has(t)) have.set(t, new Set())
    have.get(t)!.add(c)
  }
  const missingTables = Object.keys(required).filter((t) => !have.has(t))
  if (missingTables.length) return `CiviCRM tables missing in database ${database.name}: ${missingTables.join(', ')}`
  const missingColumns = Object.entries(required).flatMap(([t, cols]) => cols.filter((c) => !have.get(t)!.has(c)).map((c) => `${t}.${c}`))
  if (missingColumns.length) return `CiviCRM columns missing in database ${database.name}: ${missingColumns.join(', ')}`
  const missingOwn = bridgeTables.filter((t) => !have.has(t))
  if (missingOwn.length) return `bridge tables missing (run: civicrm-bridge migrate): ${missingOwn.join(', ')}`
  const [domains] = await database.pool.query('SELECT id FROM civicrm_domain WHERE id = ?', [database.domainId])
  if ((domains as unknown[]).length === 0) return `CiviCRM domain ${database.domainId} does not exist in database ${database.name} (CIVICRM_DOMAIN_ID)`
  return null
}
