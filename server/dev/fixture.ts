// Builds a database holding CiviCRM's tables (test/fixtures, mirroring the 5.x schema), a
// Joomla users table and the bridge's tables: for the demo, the tests and the benchmarks.
// Never used against a real site.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import mysql from 'mysql2/promise'
import { Database } from '../data/db.js'
import { migrateBridgeTables } from '../data/migrate.js'

const fixtures = (name: string) => fileURLToPath(new URL(`../../test/fixtures/${name}`, import.meta.url))

/** mysql://user:pass@host:port/name with the database name replaced. */
export function withDatabaseName (url: string, name: string): string {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

export interface FixtureOptions {
  joomlaPrefix?: string | null
  civicrm?: boolean
  /** Runs `migrate` (default: when CiviCRM's tables are created). */
  migrate?: boolean
  /**
   * CiviCRM's tables in this character set and collation instead of the fixture's
   * utf8mb4_unicode_ci (a legacy `utf8` site: utf8mb3, utf8mb3_unicode_ci).
   */
  civicrmCollation?: { charset: string, collation: string }
  /** Joomla's users table in this character set and collation. */
  joomlaCollation?: { charset: string, collation: string }
}

/** The fixture's DDL with its tables' character set and collation replaced. */
function withCollation (ddl: string, c: { charset: string, collation: string } | undefined): string {
  if (!c) return ddl
  if (!/^[a-z0-9_]+$/.test(c.charset + c.collation)) throw new Error(`bad collation ${c.collation}`)
  return ddl.replaceAll('CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci', `CHARSET=${c.charset} COLLATE=${c.collation}`)
}

/** Creates (or re-creates) database `name` on the server of `serverUrl` and returns its URL. */
export async function createFixtureDatabase (serverUrl: string, name: string, opts: FixtureOptions = {}): Promise<string> {
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`bad database name ${name}`)
  const conn = await mysql.createConnection({ uri: withDatabaseName(serverUrl, ''), multipleStatements: true })
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${name}\``)
    // No COLLATE: the server's default, as a hosting panel creates a site's database (often
    // utf8mb4_general_ci while CiviCRM's tables carry utf8mb4_unicode_ci).
    await conn.query(`CREATE DATABASE \`${name}\``)
    await conn.query(`USE \`${name}\``)
    await conn.query("SET time_zone = '+00:00'")
    if (opts.civicrm !== false) {
      await conn.query(withCollation(await readFile(fixtures('civicrm-schema.sql'), 'utf8'), opts.civicrmCollation))
      await conn.query(await readFile(fixtures('civicrm-data.sql'), 'utf8'))
    }
    if (opts.joomlaPrefix !== null) {
      const ddl = await readFile(fixtures('joomla-users.sql'), 'utf8')
      await conn.query(withCollation(ddl, opts.joomlaCollation).replaceAll('{prefix}', opts.joomlaPrefix ?? 'jos_'))
    }
  } finally {
    await conn.end()
  }
  const url = withDatabaseName(serverUrl, name)
  // `migrate` refuses a database without CiviCRM's tables.
  if (opts.migrate ?? opts.civicrm !== false) {
    const db = new Database(url, { poolSize: 1 })
    try { await migrateBridgeTables(db) } finally { await db.close() }
  }
  return url
}

export async function dropDatabase (serverUrl: string, name: string): Promise<void> {
  const conn = await mysql.createConnection({ uri: withDatabaseName(serverUrl, '') })
  try { await conn.query(`DROP DATABASE IF EXISTS \`${name}\``) } finally { await conn.end() }
}
