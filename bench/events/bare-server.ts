// Baseline (a): a bare Fastify route doing one indexed SELECT on civicrm_uf_match.
import Fastify from 'fastify'
import mysql from 'mysql2/promise'

const pool = mysql.createPool({ uri: process.env.CIVICRM_DB_URL!, connectionLimit: Number(process.env.DB_POOL_SIZE ?? 20) })
const app = Fastify({ logger: false })
app.get('/uf/:id', async (request) => {
  const [rows] = await pool.query('SELECT contact_id FROM civicrm_uf_match WHERE uf_id = ? AND domain_id = 1', [Number((request.params as { id: string }).id)])
  return { contactId: (rows as Array<{ contact_id: number }>)[0]?.contact_id ?? null }
})
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) })
process.on('SIGTERM', async () => { await app.close(); await pool.end(); process.exit(0) })
