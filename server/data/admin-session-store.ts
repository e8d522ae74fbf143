// Admin sessions, server-side (civibridge_admin_session): a session exists while its row does,
// so logging out deletes it and a copied cookie is worth nothing afterwards.
import type mysql from 'mysql2/promise'

type Queryable = Pick<mysql.Pool, 'query'>
type Header = { affectedRows: number }

const INSERT_SESSION = 'INSERT INTO civibridge_admin_session (id_sha256, token_fingerprint, created_at, expires_at) VALUES (?, ?, ?, ?)'
const SELECT_OPEN_SESSION = 'SELECT 1 AS ok FROM civibridge_admin_session WHERE id_sha256 = ? AND token_fingerprint = ? AND expires_at > ?'

/** Opens a session; expired rows go at the same time, so the table stays small. */
export async function insertAdminSession (
  pool: Queryable, idSha256: string, tokenFingerprint: string, now: Date, expiresAt: Date
): Promise<void> {
  await pool.query('DELETE FROM civibridge_admin_session WHERE expires_at <= ? LIMIT 1000', [now])
  await pool.query(INSERT_SESSION, [idSha256, tokenFingerprint, now, expiresAt])
}

/** The session is open, unexpired, and was opened with the current admin token. */
export async function adminSessionOpen (pool: Queryable, idSha256: string, tokenFingerprint: string, now: Date): Promise<boolean> {
  const [rows] = await pool.query(SELECT_OPEN_SESSION, [idSha256, tokenFingerprint, now])
  return (rows as unknown[]).length === 1
}

/** Ends a session: true when there was one. */
export async function deleteAdminSession (pool: Queryable, idSha256: string): Promise<boolean> {
  const [res] = await pool.query('DELETE FROM civibridge_admin_session WHERE id_sha256 = ?', [idSha256])
  return (res as unknown as Header).affectedRows === 1
}
