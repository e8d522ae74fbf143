// The bridge's tables compare their text with CiviCRM's (jti aside), so they must carry the
// collation of CiviCRM's own columns, not the database's default (a hosting panel creates
// databases in the server's default, often utf8mb4_general_ci, while CiviCRM's tables carry
// utf8mb4_unicode_ci, or utf8mb3_unicode_ci on sites never converted to utf8mb4). Two columns
// of one character set and different collations cannot be compared ("Illegal mix of
// collations"); of different sets, the index of one side is not used.
import mysql from 'mysql2/promise'

type Queryable = Pick<mysql.Pool, 'query'>

export interface Collation { charset: string, collation: string }

/** The table prefix of the bridge's own tables: every one of them takes CiviCRM's collation. */
export const BRIDGE_TABLE_PREFIX = 'civibridge_'

/**
 * The character set and collation of civicrm_email.email (CiviCRM gives all its text columns
 * one), or null when there is no such column.
 */
export async function civicrmCollation (q: Queryable): Promise<Collation | null> {
  const [rows] = await q.query(`SELECT CHARACTER_SET_NAME AS charset, COLLATION_NAME AS collation FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'civicrm_email' AND COLUMN_NAME = 'email'`)
  const row = (rows as Collation[])[0]
  return row ?? null
}

interface ColumnRow { t: string, c: string, type: string, nullable: string, def: string | null, coll: string, comment: string }

/**
 * The text columns of the bridge's tables that are not in `target`. Binary collations (`_bin`)
 * are kept: they are chosen on purpose (jti values compare exactly).
 */
async function mismatchedColumns (q: Queryable, target: Collation): Promise<ColumnRow[]> {
  const [rows] = await q.query(`SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS type, IS_NULLABLE AS nullable,
      COLUMN_DEFAULT AS def, COLLATION_NAME AS coll, COLUMN_COMMENT AS comment
    FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ? AND COLLATION_NAME IS NOT NULL AND COLLATION_NAME <> ?
      AND COLLATION_NAME NOT LIKE '%\\_bin' AND DATA_TYPE IN ('char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext')
    ORDER BY TABLE_NAME, ORDINAL_POSITION`, [`${BRIDGE_TABLE_PREFIX.replace('_', '\\_')}%`, target.collation])
  return rows as ColumnRow[]
}

async function mismatchedTables (q: Queryable, target: Collation): Promise<string[]> {
  const [rows] = await q.query(`SELECT TABLE_NAME AS t FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ? AND TABLE_TYPE = 'BASE TABLE' AND TABLE_COLLATION <> ? ORDER BY TABLE_NAME`,
  [`${BRIDGE_TABLE_PREFIX.replace('_', '\\_')}%`, target.collation])
  return (rows as Array<{ t: string }>).map((r) => r.t)
}

/** One line naming the bridge's columns not in CiviCRM's collation, or null. */
export async function collationProblem (q: Queryable): Promise<string | null> {
  const target = await civicrmCollation(q)
  if (!target) return null
  const columns = await mismatchedColumns(q, target)
  if (columns.length === 0) return null
  const names = columns.map((r) => `${r.t}.${r.c} (${r.coll})`).join(', ')
  return `bridge columns not in CiviCRM's collation ${target.collation} (run: civicrm-bridge migrate): ${names}`
}

/**
 * Gives every bridge table (whichever migration created it) CiviCRM's character set and
 * collation, as its default and on each of its text columns (binary ones kept), keeping each
 * column's type, nullability, default and comment. Returns the tables altered.
 */
export async function convertBridgeTables (q: Queryable, target: Collation): Promise<string[]> {
  if (!/^[A-Za-z0-9_]+$/.test(target.charset + target.collation)) throw new Error(`unexpected collation ${target.collation}`)
  const byTable = new Map<string, string[]>()
  for (const t of await mismatchedTables(q, target)) byTable.set(t, [])
  for (const r of await mismatchedColumns(q, target)) {
    // MariaDB reports a default as an SQL expression (a literal quoted); the bridge's text columns have none but NULL.
    const def = r.def === null || r.def === 'NULL' ? '' : ` DEFAULT ${r.def}`
    const comment = r.comment === '' ? '' : ` COMMENT ${mysql.escape(r.comment)}`
    const nullable = r.nullable === 'YES' ? 'NULL' : 'NOT NULL'
    const clause = `MODIFY \`${r.c}\` ${r.type} CHARACTER SET ${target.charset} COLLATE ${target.collation} ${nullable}${def}${comment}`
    const list = byTable.get(r.t) ?? []
    list.push(clause)
    byTable.set(r.t, list)
  }
  for (const [table, clauses] of byTable) {
    const columns = clauses.map((c) => `, ${c}`).join('')
    await q.query(`ALTER TABLE \`${table}\` DEFAULT CHARACTER SET ${target.charset} COLLATE ${target.collation}${columns}`)
  }
  return [...byTable.keys()].sort()
}
