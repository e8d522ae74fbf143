// The bridge's errors, in one catalogue: each class has a code (no HTTP status: the http layer
// maps codes to statuses in http/errors.ts, the CLI recognises them by class). Driver errors
// keep their own codes (ER_DUP_ENTRY…); errorCode and isUnavailable read them.

export type BridgeErrorCode =
  | 'INVALID_INPUT' | 'NOT_FOUND' | 'ASSERTION_REJECTED' | 'CANNOT_LINK' | 'AUTH_REQUIRED' | 'SYNC_BUSY'
  | 'DATABASE_UNAVAILABLE' | 'NOT_CIVICRM' | 'CONFIG_INVALID' | 'CLI_FAILED' | 'USAGE'

export abstract class BridgeError extends Error {
  abstract readonly code: BridgeErrorCode
}

/** An input the bridge refuses: the field it names and why. Nothing is written. */
export class InvalidInput extends BridgeError {
  override name = 'InvalidInput'
  readonly code = 'INVALID_INPUT'
  constructor (readonly field: string, readonly reason: string) {
    super(`${field}: ${reason}`)
  }
}

/** A request that is well-formed but refers to something that is not there (an unknown profile). */
export class NotFound extends BridgeError {
  override name = 'NotFound'
  readonly code = 'NOT_FOUND'
}

/** The assertion is missing, expired, forged, used before or for another purpose. */
export class AssertionError extends BridgeError {
  override name = 'AssertionError'
  readonly code = 'ASSERTION_REJECTED'
}

/** The user cannot be linked (no usable email, or the email belongs to another user's link). */
export class CannotLink extends BridgeError {
  override name = 'CannotLink'
  readonly code = 'CANNOT_LINK'
  constructor (readonly reason: string) {
    super(`this account cannot be linked to a CiviCRM contact (${reason})`)
  }
}

/** A token or session is missing or wrong. */
export class AuthError extends BridgeError {
  override name = 'AuthError'
  readonly code = 'AUTH_REQUIRED'
}

/** A synchronization is running already (here or in another process); `job` is it when known. */
export class SyncBusyError extends BridgeError {
  override name = 'SyncBusyError'
  readonly code = 'SYNC_BUSY'
  constructor (message: string, readonly job: { id: number } | null) { super(message) }
}

/** The database cannot answer now; the HTTP layer answers 503 with Retry-After. */
export class DatabaseUnavailableError extends BridgeError {
  override name = 'DatabaseUnavailableError'
  readonly code = 'DATABASE_UNAVAILABLE'
  constructor (message: string, readonly cause?: unknown) { super(message) }
}

/** `migrate` was pointed at a database without CiviCRM's tables: nothing was created. */
export class NotCivicrmError extends BridgeError {
  override name = 'NotCivicrmError'
  readonly code = 'NOT_CIVICRM'
}

/** The environment does not make a valid configuration. */
export class ConfigError extends BridgeError {
  override name = 'ConfigError'
  readonly code: BridgeErrorCode = 'CONFIG_INVALID'
}

/** A failure the CLI reports as one line and a non-zero exit. */
export class CliError extends BridgeError {
  override name = 'CliError'
  readonly code: BridgeErrorCode = 'CLI_FAILED'
}

/** A wrong command line: one line naming what is wrong and where the help is. */
export class UsageError extends CliError {
  override name = 'UsageError'
  override readonly code: BridgeErrorCode = 'USAGE'
}

/** A statement the database did not answer in time (its connection is closed). */
export const STATEMENT_TIMEOUT = 'PROTOCOL_SEQUENCE_TIMEOUT'
const UNAVAILABLE = new Set([
  STATEMENT_TIMEOUT, 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'PROTOCOL_CONNECTION_LOST', 'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR', 'ENOTFOUND', 'EHOSTUNREACH', 'ER_GET_CONNECTION_TIMEOUT', 'POOL_CLOSED', 'ER_LOCK_WAIT_TIMEOUT',
])

/** A driver error's code (Drizzle wraps driver errors in `cause`), or a bridge error's. */
export function errorCode (err: unknown): string | undefined {
  const e = err as { code?: string, cause?: { code?: string } } | null
  return e?.code ?? e?.cause?.code
}

/** The database cannot be reached, or the connection died (Drizzle wraps driver errors in `cause`). */
export function isUnavailable (err: unknown): boolean {
  for (let e = err as { code?: string, fatal?: boolean, cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e instanceof DatabaseUnavailableError || e.fatal === true || (e.code !== undefined && UNAVAILABLE.has(e.code))) return true
    // mysql2 gives no code to a query queued for a connection when the pool closes (shutdown).
    if ((e as { message?: string }).message === 'Pool is closed.') return true
  }
  return false
}
