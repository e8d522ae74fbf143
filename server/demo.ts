// `npm run demo`: a demo database with CiviCRM's tables and a few Joomla users, the bridge on
// a free port, signed registration and login events, and the links that result.
import { createFixtureDatabase } from './dev/fixture.js'
import { buildApp } from './http/app.js'
import { loadConfig } from './config.js'
import { signEvent } from './protocol/sign.js'
import mysql from 'mysql2/promise'

const DEMO_SERVER = 'mysql://root@127.0.0.1:3306/test'
const DEMO_DB = 'civibridge_demo'

export async function runDemo (env: Record<string, string | undefined>, out: (line: string) => void): Promise<void> {
  const serverUrl = env.DEMO_DB_SERVER_URL ?? DEMO_SERVER
  const url = await createFixtureDatabase(serverUrl, DEMO_DB)
  out(`demo database ${DEMO_DB}: CiviCRM tables, jos_users, bridge tables`)

  const conn = await mysql.createConnection({ uri: url })
  try {
    // Ann gave money anonymously before (a contact with her email exists); Bob is new.
    await conn.query(`INSERT INTO civicrm_contact (id, contact_type, first_name, last_name, display_name, sort_name, hash)
      VALUES (100, 'Individual', 'Ann', 'Lee', 'Ann Lee', 'Lee, Ann', 'd3b07384d113edec49eaa6238ad5ff00')`)
    await conn.query('INSERT INTO civicrm_email (contact_id, location_type_id, email, is_primary) VALUES (100, 1, \'Ann@Example.org\', 1)')
    await conn.query(`INSERT INTO jos_users (id, name, username, email, params, registerDate) VALUES
      (42, 'Ann Lee', 'ann', 'ann@example.org', '{}', NOW()), (43, 'Bob van der Berg', 'bob', 'bob@example.org', '{}', NOW())`)
  } finally {
    await conn.end()
  }

  const secret = 'demo-secret-demo-secret-demo-secret-0001'
  const adminToken = 'demo-admin-token-demo-admin-token-0001'
  const config = loadConfig({ CIVICRM_DB_URL: url, BRIDGE_SECRET: secret, BRIDGE_ADMIN_TOKEN: adminToken, LOG_LEVEL: 'warn', PORT: '0' })
  const app = await buildApp(config)
  try {
    const address = await app.listen({ host: '127.0.0.1', port: 0 })
    out(`bridge listening on ${address}`)
    for (const user of [
      { id: 42, username: 'ann', email: 'ann@example.org', name: 'Ann Lee', block: 0 },
      { id: 43, username: 'bob', email: 'bob@example.org', name: 'Bob van der Berg', block: 0 },
    ]) {
      const body = JSON.stringify({ event: 'onUserAfterSave', user, isNew: true, success: true, occurredAt: new Date().toISOString() })
      const signed = signEvent(secret, 'demo-site', body)
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${signed.token}` }
      const res = await fetch(`${address}/v1/joomla/events`, { method: 'POST', headers, body })
      out(`registration of ${user.username} (user ${user.id}): HTTP ${res.status} ${await res.text()}`)
    }
    const check = await mysql.createConnection({ uri: url })
    try {
      const [rows] = await check.query(`SELECT m.uf_id, m.uf_name, c.id AS contact_id, c.display_name, c.sort_name, c.middle_name
        FROM civicrm_uf_match m JOIN civicrm_contact c ON c.id = m.contact_id ORDER BY m.uf_id`)
      out('civicrm_uf_match now holds:')
      for (const r of rows as Array<Record<string, unknown>>) {
        const names = `(sort "${r.sort_name}", middle "${r.middle_name ?? ''}")`
        out(`  user ${r.uf_id} <${r.uf_name}> -> contact ${r.contact_id} "${r.display_name}" ${names}`)
      }
    } finally {
      await check.end()
    }
  } finally {
    await app.close()
  }
}
