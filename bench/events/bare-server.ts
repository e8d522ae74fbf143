// The bare servers of bench/events, no JWT, no schema, no bridge: Fastify and mysql2 only.
// (a) GET /uf/:id: one indexed SELECT on civicrm_uf_match per request.
// (g) POST /login: the login floor over HTTP: a login's body parsed, then the bridge's work for
//     it as the floor (f) does it (LoginFloor: the context reads of a millisecond batched, the event
//     and audit rows written behind), when CONTEXT_SQL gives the bridge's recorded context read.
import Fastify from 'fastify'
import mysql from 'mysql2/promise'
import { LoginFloor, floorPool } from './floors.js'

const size = Number(process.env.DB_POOL_SIZE ?? 20)
const pool = mysql.createPool({ uri: process.env.CIVICRM_DB_URL!, connectionLimit: size })
const app = Fastify({ logger: false })
app.get('/uf/:id', async (request) => {
  const [rows] = await pool.query('SELECT contact_id FROM civicrm_uf_match WHERE uf_id = ? AND domain_id = 1', [Number((request.params as { id: string }).id)])
  return { contactId: (rows as Array<{ contact_id: number }>)[0]?.contact_id ?? null }
})
const contextSql = process.env.CONTEXT_SQL
const loginPool = contextSql ? floorPool(process.env.CIVICRM_DB_URL!, size) : null
const logins = loginPool && contextSql ? new LoginFloor(loginPool, contextSql) : null
if (logins) {
  app.post('/login', async (request) => {
    const { user } = request.body as { user: { id: number } }
    await logins.login(user.id)
    return { action: 'already-linked', contactId: user.id + 1000, reason: null }
  })
}
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) })
process.on('SIGTERM', async () => {
  await app.close()
  await logins?.close()
  await Promise.all([pool.end(), loginPool?.end()])
  process.exit(0)
})
