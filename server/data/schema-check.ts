// At start (`check`, `serve`, /ready): is every table and column the bridge reads or writes
// there (CiviCRM's, Joomla's users table, ours), and are ours in CiviCRM's collation?
import type mysql from 'mysql2/promise'
import { getTableConfig, type MySqlTable } from 'drizzle-orm/mysql-core'
import * as civicrm from '../../drizzle/schema/civicrm.js'
import * as bridge from '../../drizzle/schema/bridge.js'
import type { Database } from './db.js'
import { collationProblem } from './collation.js'
import { EMAIL_INDEX } from './candidates.js'

type Queryable = Pick<mysql.Pool, 'query'>

const tablesOf = (mod: Record<string, unknown>) =>
  Object.values(mod).filter((v): v is MySqlTable => typeof v === 'object' && v !== null && 'getSQL' in v)
const bridgeTables = tablesOf(bridge).map((t) => getTableConfig(t).name)

/** Every CiviCRM table and column the bridge uses: the linking's list, and each declared table's columns (the pages'). */
export const civicrmRequirements: Record<string, string[]> = (() => {
  const req: Record<string, Set<string>> = {}
  const add = (table: string, cols: string[]) => { for (const c of cols) (req[table] ??= new Set()).add(c) }
  for (const [table, cols] of Object.entries(civicrm.requiredCivicrmColumns)) add(table, cols)
  for (const t of tablesOf(civicrm)) add(getTableConfig(t).name, getTableConfig(t).columns.map((c) => c.name))
  return Object.fromEntries(Object.entries(req).map(([t, cols]) => [t, [...cols]]))
})()

/** The columns of Joomla's users table the sync reads. */
export const JOOMLA_USER_COLUMNS = ['id', 'name', 'username', 'email', 'block']

/** Joomla's users table: where it is (JOOMLA_DB_URL's pool) and its prefix (JOOMLA_DB_PREFIX). */
export interface JoomlaTarget { pool: Queryable, prefix: string }

async function columnsOf (q: Queryable, tableNames?: string[]): Promise<{ db: string, have: Map<string, Set<string>> }> {
  const only = tableNames ? ' AND TABLE_NAME IN (?)' : ''
  const [rows] = await q.query(
    `SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()${only}`,
    tableNames ? [tableNames] : [])
  const have = new Map<string, Set<string>>()
  for (const { t, c } of rows as Array<{ t: string, c: string }>) {
    if (!have.has(t)) have.set(t, new Set())
    have.get(t)!.add(c)
  }
  const [[{ db }]] = await q.query('SELECT DATABASE() AS db') as unknown as [[{ db: string }]]
  return { db, have }
}

/** CiviCRM's tables the linking needs that are not in the database: `migrate` refuses to run without them. */
export async function missingCivicrmTables (database: Pick<Database, 'pool'>): Promise<string[]> {
  const { have } = await columnsOf(database.pool, Object.keys(civicrm.requiredCivicrmColumns))
  return Object.keys(civicrm.requiredCivicrmColumns).filter((t) => !have.has(t))
}

/** Whether civicrm_email has CiviCRM's email index, which the sync's candidates read names (manyCandidates). */
async function hasEmailIndex (q: Queryable): Promise<boolean> {
  const [rows] = await q.query(`SELECT 1 FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ? AND SEQ_IN_INDEX = 1 AND COLUMN_NAME = ?`,
  [EMAIL_INDEX.table, EMAIL_INDEX.name, EMAIL_INDEX.column])
  return (rows as unknown[]).length > 0
}

/** One line naming what is missing (and the setting to fix), or null when the schema is usable. */
export async function schemaProblem (
  database: Database, opts: { required?: Record<string, string[]>, joomla?: JoomlaTarget, domains?: number[] } = {}
): Promise<string | null> {
  const required = opts.required ?? civicrmRequirements
  const { have } = await columnsOf(database.pool)
  const missingTables = Object.keys(required).filter((t) => !have.has(t))
  if (missingTables.length) return `CiviCRM tables missing in database ${database.name}: ${missingTables.join(', ')} (check CIVICRM_DB_URL)`
  const missingColumns = Object.entries(required).flatMap(([t, cols]) => cols.filter((c) => !have.get(t)!.has(c)).map((c) => `${t}.${c}`))
  if (missingColumns.length) {
    return `CiviCRM columns missing in database ${database.name}: ${missingColumns.join(', ')} (CiviCRM 5.x expected)`
  }
  if (!await hasEmailIndex(database.pool)) {
    const index = `${EMAIL_INDEX.table}.${EMAIL_INDEX.name} (${EMAIL_INDEX.column})`
    return `CiviCRM index ${index} missing in database ${database.name} (CiviCRM 5.x expected)`
  }
  const missingOwn = bridgeTables.filter((t) => !have.has(t))
  if (missingOwn.length) return `bridge tables missing (run: civicrm-bridge migrate): ${missingOwn.join(', ')}`
  const collation = await collationProblem(database.pool)
  if (collation) return collation
  // Every domain written to: CIVICRM_DOMAIN_ID's and each site's of BRIDGE_SITES_FILE.
  const domains = opts.domains ?? [database.domainId]
  const [found] = await database.pool.query('SELECT id FROM civicrm_domain WHERE id IN (?)', [domains])
  const missing = domains.filter((d) => !(found as Array<{ id: number }>).some((r) => r.id === d))
  if (missing.length) {
    return `CiviCRM domain ${missing.join(', ')} does not exist in database ${database.name} (CIVICRM_DOMAIN_ID or BRIDGE_SITES_FILE)`
  }
  if (opts.joomla) return joomlaProblem(opts.joomla)
  return null
}

/** Joomla's users table under the configured prefix, with the columns the sync reads. */
export async function joomlaProblem ({ pool, prefix }: JoomlaTarget): Promise<string | null> {
  const table = `${prefix}users`
  const { db, have } = await columnsOf(pool, [table])
  const cols = have.get(table)
  if (!cols) return `Joomla users table ${table} missing in database ${db} (check JOOMLA_DB_PREFIX and JOOMLA_DB_URL)`
  const missing = JOOMLA_USER_COLUMNS.filter((c) => !cols.has(c))
  if (missing.length) {
    return `Joomla users table ${table} in database ${db} lacks columns ${missing.join(', ')} (check JOOMLA_DB_PREFIX and JOOMLA_DB_URL)`
  }
  return null
}
