// The bridge's own tables (prefix civibridge_). drizzle-kit generates their migrations into
// drizzle/migrations; `civicrm-bridge migrate` applies them.
import { mysqlTable, int, bigint, varchar, char, datetime, json, tinyint, primaryKey, index, text } from 'drizzle-orm/mysql-core'

/** One row per signed event received: the idempotency record (a jti is unique per site) and its first result. */
export const bridgeEvent = mysqlTable('civibridge_event', {
  jti: varchar('jti', { length: 64 }).notNull(),
  site: varchar('site', { length: 64 }).notNull(),
  bodySha256: char('body_sha256', { length: 64 }).notNull(),
  event: varchar('event', { length: 32 }).notNull(),
  ufId: int('uf_id', { unsigned: true }),
  occurredAt: datetime('occurred_at', { mode: 'date', fsp: 3 }).notNull(),
  receivedAt: datetime('received_at', { mode: 'date', fsp: 3 }).notNull(),
  result: json('result').$type<{ action: string, contactId: number | null, reason?: string | null }>().notNull(),
}, (t) => [primaryKey({ columns: [t.site, t.jti] }), index('idx_civibridge_event_received').on(t.receivedAt)])

/** Every linking decision, for admins (GET /v1/users/:id/link). */
export const bridgeAudit = mysqlTable('civibridge_audit', {
  id: bigint('id', { mode: 'number', unsigned: true }).primaryKey().autoincrement(),
  domainId: int('domain_id', { unsigned: true }).notNull(),
  ufId: int('uf_id', { unsigned: true }).notNull(),
  trigger: varchar('trigger', { length: 32 }).notNull(),
  action: varchar('action', { length: 32 }).notNull(),
  contactId: int('contact_id', { unsigned: true }),
  reason: varchar('reason', { length: 255 }),
  createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
}, (t) => [index('idx_civibridge_audit_user').on(t.domainId, t.ufId, t.id)])

/** Last delete seen per user: a save or login that happened before it never relinks. */
export const bridgeUserTombstone = mysqlTable('civibridge_user_tombstone', {
  domainId: int('domain_id', { unsigned: true }).notNull(),
  ufId: int('uf_id', { unsigned: true }).notNull(),
  deletedAt: datetime('deleted_at', { mode: 'date', fsp: 3 }).notNull(),
}, (t) => [primaryKey({ columns: [t.domainId, t.ufId] })])

/**
 * A linked user's email change that waits: the email was another user's uf_name when the change
 * arrived. When that user changes away from it or is deleted, the waiting user (the oldest
 * first) takes it, in the same unit of work (server/domain/link-user.ts, handOver).
 */
export const bridgeWantedEmail = mysqlTable('civibridge_wanted_email', {
  domainId: int('domain_id', { unsigned: true }).notNull(),
  ufId: int('uf_id', { unsigned: true }).notNull(),
  email: varchar('email', { length: 128 }).notNull(),
  createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
}, (t) => [primaryKey({ columns: [t.domainId, t.ufId] }), index('idx_civibridge_wanted_email_email').on(t.domainId, t.email)])

/** Single-use tokens other than events (signed assertions of the lazy-linking pages): a jti is unique per site. */
export const bridgeUsedToken = mysqlTable('civibridge_used_token', {
  site: varchar('site', { length: 64 }).notNull().default(''),
  jti: varchar('jti', { length: 64 }).notNull(),
  purpose: varchar('purpose', { length: 32 }).notNull(),
  usedAt: datetime('used_at', { mode: 'date', fsp: 3 }).notNull(),
}, (t) => [primaryKey({ columns: [t.site, t.jti] })])

/**
 * Admin sessions, held here so that logging out or rotating the admin token ends them: the
 * cookie carries a random id, this table its SHA-256 and a fingerprint of the admin token it
 * was opened with.
 */
export const bridgeAdminSession = mysqlTable('civibridge_admin_session', {
  idSha256: char('id_sha256', { length: 64 }).primaryKey(),
  tokenFingerprint: char('token_fingerprint', { length: 64 }).notNull(),
  createdAt: datetime('created_at', { mode: 'date', fsp: 3 }).notNull(),
  expiresAt: datetime('expires_at', { mode: 'date', fsp: 3 }).notNull(),
}, (t) => [index('idx_civibridge_admin_session_expires').on(t.expiresAt)])

/** Synchronize Users to Contacts: one row per job, its checkpoint and running counts. */
export const bridgeSyncJob = mysqlTable('civibridge_sync_job', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  domainId: int('domain_id', { unsigned: true }).notNull(),
  status: varchar('status', { length: 16 }).notNull(),
  dryRun: tinyint('dry_run').notNull().default(0),
  batchSize: int('batch_size', { unsigned: true }).notNull(),
  lastUserId: bigint('last_user_id', { mode: 'number', unsigned: true }).notNull().default(0),
  checked: int('checked', { unsigned: true }).notNull().default(0),
  matched: int('matched', { unsigned: true }).notNull().default(0),
  created: int('created', { unsigned: true }).notNull().default(0),
  skipped: int('skipped', { unsigned: true }).notNull().default(0),
  totalUsers: int('total_users', { unsigned: true }),
  message: text('message'),
  error: text('error'),
  startedAt: datetime('started_at', { mode: 'date', fsp: 3 }).notNull(),
  heartbeatAt: datetime('heartbeat_at', { mode: 'date', fsp: 3 }).notNull(),
  finishedAt: datetime('finished_at', { mode: 'date', fsp: 3 }),
}, (t) => [index('idx_civibridge_sync_job_status').on(t.domainId, t.status)])

/**
 * The chunks of a job, each written in the chunk's own transaction: what a resumed job skips.
 * Two chunks are written at once and may commit in either order, so the job's last_user_id
 * (advanced once both have committed) is only where a resumed job starts reading.
 */
export const bridgeSyncChunk = mysqlTable('civibridge_sync_chunk', {
  jobId: int('job_id', { unsigned: true }).notNull(),
  firstUserId: bigint('first_user_id', { mode: 'number', unsigned: true }).notNull(),
  lastUserId: bigint('last_user_id', { mode: 'number', unsigned: true }).notNull(),
  doneAt: datetime('done_at', { mode: 'date', fsp: 3 }).notNull(),
}, (t) => [primaryKey({ columns: [t.jobId, t.firstUserId] })])

/** Users a sync skipped and why (kept per job so --json and the admin page can list them). */
export const bridgeSyncSkip = mysqlTable('civibridge_sync_skip', {
  jobId: int('job_id', { unsigned: true }).notNull(),
  ufId: int('uf_id', { unsigned: true }).notNull(),
  reason: varchar('reason', { length: 255 }).notNull(),
}, (t) => [primaryKey({ columns: [t.jobId, t.ufId] })])

/**
 * Lock rows (server/data/db.ts, Unit.lock): a unit of work writes the rows of its stripes first
 * thing, in its own transaction, so that two units touching the same stripe wait for each other
 * on one server and conflict at certification on Galera (one of them is re-run). The row
 * `sync` is the single-run claim of Synchronize Users to Contacts (check-and-set on holder).
 */
export const bridgeLock = mysqlTable('civibridge_lock', {
  domainId: int('domain_id', { unsigned: true }).notNull(),
  lockKey: varchar('lock_key', { length: 32 }).notNull(),
  n: bigint('n', { mode: 'number', unsigned: true }).notNull().default(0),
  holder: varchar('holder', { length: 64 }),
  holderNode: varchar('holder_node', { length: 255 }),
  holderConn: bigint('holder_conn', { mode: 'number', unsigned: true }),
  heartbeatAt: datetime('heartbeat_at', { mode: 'date', fsp: 3 }),
}, (t) => [primaryKey({ columns: [t.domainId, t.lockKey] })])
