// The hand-written Drizzle definitions of CiviCRM's tables match the fixture (which mirrors
// CiviCRM 5.x) column by column; the start-up check names what is missing.
import t from 'tap'
import { getTableConfig, type MySqlTable } from 'drizzle-orm/mysql-core'
import * as civicrm from '../drizzle/schema/civicrm.js'
import * as bridge from '../drizzle/schema/bridge.js'
import { Database } from '../server/data/db.js'
import { schemaProblem } from '../server/data/schema-check.js'
import { migrateBridgeTables } from '../server/data/migrate.js'
import { collationProblem, convertBridgeTables } from '../server/data/collation.js'
import { testDatabase } from './helper.js'
import { readEventContext } from '../server/data/link-store.js'

const tables = (mod: Record<string, unknown>) => Object.values(mod).filter((v): v is MySqlTable => typeof v === 'object' && v !== null && 'getSQL' in v)

t.test('every Drizzle column exists in the database with the same type and NULL-ability', async (t) => {
  const db = await testDatabase(t)
  const cols = await db.rows<{ t: string, c: string, type: string, nullable: string }>(
    'SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS type, IS_NULLABLE AS nullable FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()')
  const have = new Map(cols.map((r) => [`${r.t}.${r.c}`, r]))
  for (const table of [...tables(civicrm), ...tables(bridge)]) {
    const cfg = getTableConfig(table)
    for (const col of cfg.columns) {
      const actual = have.get(`${cfg.name}.${col.name}`)
      if (!actual) { t.fail(`${cfg.name}.${col.name} missing`); continue }
      const declared = col.getSQLType().replace(/\s+/g, ' ')
      const normalize = (s: string) => s.replace(/^(int|bigint|tinyint)\(\d+\)/, '$1').replace(/^timestamp\(0\)/, 'timestamp').replace(/^datetime\(0\)/, 'datetime')
        // MariaDB stores JSON as LONGTEXT with a json_valid() check.
        .replace(/^json$/, 'longtext')
      const unsigned = (col as unknown as { unsigned?: boolean }).unsigned ? ' unsigned' : ''
      t.equal(normalize(actual.type), normalize(declared + unsigned), `${cfg.name}.${col.name} type`)
      t.equal(actual.nullable === 'NO', col.notNull || col.primary, `${cfg.name}.${col.name} NULL-ability`)
    }
  }
})

t.test('the fixture keeps CiviCRM\'s unique keys, foreign keys and created_date trigger', async (t) => {
  const db = await testDatabase(t)
  const uniques = await db.rows<{ t: string, k: string, cols: string }>(`SELECT TABLE_NAME AS t, INDEX_NAME AS k, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols
    FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY' AND TABLE_NAME = 'civicrm_uf_match' GROUP BY t, k ORDER BY k`)
  t.same(uniques.map((u) => `${u.k}(${u.cols})`), ['UI_contact_domain_id(contact_id,domain_id)', 'UI_uf_name_domain_id(uf_name,domain_id)'])
  const fks = await db.rows<{ name: string, rule: string }>(`SELECT CONSTRAINT_NAME AS name, DELETE_RULE AS rule FROM information_schema.REFERENTIAL_CONSTRAINTS
    WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME IN ('civicrm_uf_match', 'civicrm_email', 'civicrm_log') ORDER BY name`)
  t.same(fks, [
    { name: 'FK_civicrm_email_contact_id', rule: 'CASCADE' },
    { name: 'FK_civicrm_log_modified_id', rule: 'CASCADE' },
    { name: 'FK_civicrm_uf_match_contact_id', rule: 'CASCADE' },
    { name: 'FK_civicrm_uf_match_domain_id', rule: 'RESTRICT' },
  ])
  const triggers = await db.rows('SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()')
  t.same(triggers, [{ name: 'civicrm_contact_before_insert' }])
  const email = await db.rows<{ n: string }>("SELECT NON_UNIQUE AS n FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'civicrm_email' AND INDEX_NAME = 'UI_email'")
  t.same(email, [{ n: 1 }], 'email is not unique: many contacts may share one')
})

t.test('the start-up check passes on a complete schema and names what is missing', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url)
  t.teardown(() => database.close())
  t.equal(await schemaProblem(database), null)
  await db.sql.query('ALTER TABLE civicrm_contact DROP COLUMN hash')
  t.equal(await schemaProblem(database), `CiviCRM columns missing in database ${db.name}: civicrm_contact.hash (CiviCRM 5.x expected)`)
  await db.sql.query('ALTER TABLE civicrm_contact ADD COLUMN hash varchar(32) NULL; ALTER TABLE civicrm_email DROP INDEX UI_email')
  t.equal(await schemaProblem(database), `CiviCRM index civicrm_email.UI_email (email) missing in database ${db.name} (CiviCRM 5.x expected)`,
    'the sync\'s candidates read names the email index')
  await db.sql.query('SET FOREIGN_KEY_CHECKS = 0; DROP TABLE civicrm_uf_match; SET FOREIGN_KEY_CHECKS = 1')
  t.equal(await schemaProblem(database), `CiviCRM tables missing in database ${db.name}: civicrm_uf_match (check CIVICRM_DB_URL)`)
})

t.test('the check names every table and column the bridge uses: location types, the pages\' tables, Joomla\'s users table under its prefix', async (t) => {
  const db = await testDatabase(t)
  const database = new Database(db.url)
  t.teardown(() => database.close())
  const joomla = { pool: database.pool, prefix: 'jos_' }
  t.equal(await schemaProblem(database, { joomla }), null)
  t.equal(await schemaProblem(database, { joomla: { pool: database.pool, prefix: 'j4_' } }),
    `Joomla users table j4_users missing in database ${db.name} (check JOOMLA_DB_PREFIX and JOOMLA_DB_URL)`, 'a wrong JOOMLA_DB_PREFIX is named')
  await db.sql.query('ALTER TABLE jos_users DROP COLUMN block')
  t.equal(await schemaProblem(database, { joomla }), `Joomla users table jos_users in database ${db.name} lacks columns block (check JOOMLA_DB_PREFIX and JOOMLA_DB_URL)`)
  await db.sql.query('ALTER TABLE civicrm_uf_group DROP COLUMN title')
  t.equal(await schemaProblem(database, { joomla }), `CiviCRM columns missing in database ${db.name}: civicrm_uf_group.title (CiviCRM 5.x expected)`)
  await db.sql.query('DROP TABLE civicrm_uf_group')
  t.equal(await schemaProblem(database, { joomla }), `CiviCRM tables missing in database ${db.name}: civicrm_uf_group (check CIVICRM_DB_URL)`)
  await db.sql.query('CREATE TABLE civicrm_uf_group (id int unsigned PRIMARY KEY, name varchar(64) NOT NULL, title varchar(64) NOT NULL, is_active tinyint NOT NULL DEFAULT 1)')
  await db.sql.query('ALTER TABLE civicrm_location_type DROP COLUMN display_name')
  t.equal(await schemaProblem(database, { joomla }), `CiviCRM columns missing in database ${db.name}: civicrm_location_type.display_name (CiviCRM 5.x expected)`)
})

t.test('a domain id that is not in civicrm_domain is named at start; an event after the domain is gone fails clearly', async (t) => {
  const db = await testDatabase(t)
  const other = new Database(db.url, { domainId: 7 })
  t.teardown(() => other.close())
  t.equal(await schemaProblem(other), `CiviCRM domain 7 does not exist in database ${db.name} (CIVICRM_DOMAIN_ID or BRIDGE_SITES_FILE)`)
  await t.rejects(readEventContext(other.prepared, 7, 1, 'jti-1'), { message: 'CiviCRM domain 7 does not exist' })
})

t.test('without migrate, the check says to run it', async (t) => {
  const db = await testDatabase(t, { migrate: false })
  const database = new Database(db.url)
  t.teardown(() => database.close())
  t.match(await schemaProblem(database), /^bridge tables missing \(run: civicrm-bridge migrate\): civibridge_admin_session, civibridge_audit, civibridge_event/)
})

t.test('migrate creates only civibridge_ tables', async (t) => {
  const db = await testDatabase(t, { migrate: false })
  const tables = async () => (await db.rows<{ n: string }>('SELECT TABLE_NAME AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY n')).map((r) => r.n)
  const before = await tables()
  const database = new Database(db.url)
  t.teardown(() => database.close())
  await migrateBridgeTables(database)
  const added = (await tables()).filter((n) => !before.includes(n))
  t.ok(added.length > 0)
  t.same(added.filter((n) => !n.startsWith('civibridge_')), [])
})

t.test('migrate refuses a database without CiviCRM\'s tables and creates nothing in it', async (t) => {
  const db = await testDatabase(t, { civicrm: false, joomlaPrefix: null })
  const database = new Database(db.url)
  t.teardown(() => database.close())
  await t.rejects(migrateBridgeTables(database), { name: 'NotCivicrmError', message: `CiviCRM tables missing in database ${db.name}: civicrm_domain, civicrm_contact, civicrm_email, civicrm_uf_match, civicrm_log, civicrm_setting, civicrm_option_group, civicrm_option_value, civicrm_location_type; nothing created (check CIVICRM_DB_URL)` })
  t.same(await db.rows('SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()'), [])
  t.equal(await collationProblem(database.pool), null, 'no CiviCRM collation to compare with')
  t.same(await database.collation(), { charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci' }, 'the fixture\'s collation when CiviCRM has none yet')
  const gone = new Database(db.url.replace(/\/[^/]+$/, '/cbt12_no_such_database'))
  t.teardown(() => gone.close())
  await t.rejects(gone.collation(), { code: 'ER_BAD_DB_ERROR' })
  await t.rejects(gone.collation(), { code: 'ER_BAD_DB_ERROR' }, 'a failed read is not kept: read again')
})

t.test('the bridge\'s tables take CiviCRM\'s collation, not the database default; tables an earlier version created otherwise are converted by migrate', async (t) => {
  const db = await testDatabase(t)
  const collations = async () => db.rows<{ t: string, c: string, coll: string }>(`SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLLATION_NAME AS coll FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'civibridge\\_%' AND COLLATION_NAME IS NOT NULL ORDER BY t, c`)
  const [dbDefault] = await db.rows<{ coll: string }>('SELECT DEFAULT_COLLATION_NAME AS coll FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()')
  t.not(dbDefault.coll, 'utf8mb4_unicode_ci', 'the test database has the server default, not CiviCRM\'s collation')
  const cols = await collations()
  t.same(cols.filter((r) => r.coll !== 'utf8mb4_unicode_ci').map((r) => `${r.t}.${r.c} ${r.coll}`).sort(),
    ['civibridge_event.jti ascii_bin', 'civibridge_event.result utf8mb4_bin', 'civibridge_event.site ascii_bin', 'civibridge_used_token.jti ascii_bin', 'civibridge_used_token.site ascii_bin'], 'every text column in CiviCRM\'s collation but the exact ones')
  // As an earlier version left them: in the database default.
  const database = new Database(db.url)
  t.teardown(() => database.close())
  await db.sql.query(`ALTER TABLE civibridge_wanted_email CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
    ALTER TABLE civibridge_sync_job MODIFY message text CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL COMMENT 'the job''s message'`)
  t.equal(await schemaProblem(database), 'bridge columns not in CiviCRM\'s collation utf8mb4_unicode_ci (run: civicrm-bridge migrate): civibridge_sync_job.message (utf8mb4_general_ci), civibridge_wanted_email.email (utf8mb4_general_ci)')
  t.same(await convertBridgeTables(database.pool, { charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci' }), ['civibridge_sync_job', 'civibridge_wanted_email'])
  t.same(await collations(), cols, 'converted back')
  const [job] = await db.rows<{ nullable: string, comment: string }>("SELECT IS_NULLABLE AS nullable, COLUMN_COMMENT AS comment FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'civibridge_sync_job' AND COLUMN_NAME = 'message'")
  t.same(job, { nullable: 'YES', comment: 'the job\'s message' }, 'NULL-ability and comment kept')
  // A text column with a default (a later migration's), as MariaDB reports it: a quoted literal.
  await db.sql.query("ALTER TABLE civibridge_sync_skip ADD COLUMN note varchar(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL DEFAULT 'it''s'")
  t.same(await convertBridgeTables(database.pool, { charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci' }), ['civibridge_sync_skip'])
  t.same(await db.rows("SELECT COLLATION_NAME AS coll, COLUMN_DEFAULT AS def, IS_NULLABLE AS nullable FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'civibridge_sync_skip' AND COLUMN_NAME = 'note'"),
    [{ coll: 'utf8mb4_unicode_ci', def: "'it''s'", nullable: 'NO' }], 'the default kept')
  await db.sql.query('ALTER TABLE civibridge_sync_skip DROP COLUMN note')
  t.equal(await schemaProblem(database), null)
  await migrateBridgeTables(database)
  t.same(await convertBridgeTables(database.pool, { charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci' }), [], 'nothing left to convert')
  await t.rejects(convertBridgeTables(database.pool, { charset: 'utf8mb4', collation: 'x; DROP TABLE y' }), /unexpected collation/)
})
