// The one mapping from errors to HTTP statuses: the catalogue's codes (server/errors.ts), the
// database's unavailability and key races, and the 4xx that Fastify and its plugins set.
// plugins/errors.ts renders it as JSON, page-errors.ts and the admin pages as HTML.
import { BridgeError, errorCode, isUnavailable, type BridgeErrorCode } from '../errors.js'

const STATUS: Record<BridgeErrorCode, number> = {
  INVALID_INPUT: 400,
  NOT_FOUND: 404,
  ASSERTION_REJECTED: 401,
  AUTH_REQUIRED: 401,
  CANNOT_LINK: 409,
  SYNC_BUSY: 409,
  DATABASE_UNAVAILABLE: 503,
  // Start-up and command-line failures never reach a request.
  NOT_CIVICRM: 500,
  CONFIG_INVALID: 500,
  CLI_FAILED: 500,
  USAGE: 500,
}

/** Seconds a client is told to wait when the database is unavailable. */
export const RETRY_AFTER_S = 5

/** The headers of an error's answer, whoever renders it (JSON, a page, /ready): Retry-After when the database is unavailable. */
export function httpHeaders (err: unknown): Record<string, string> {
  return httpStatus(err) === 503 ? { 'retry-after': String(RETRY_AFTER_S) } : {}
}

export function httpStatus (err: unknown): number {
  if (err instanceof BridgeError) return STATUS[err.code]
  if (isUnavailable(err)) return 503
  // A concurrent change won a unique key: a conflict, never a 500.
  if (errorCode(err) === 'ER_DUP_ENTRY') return 409
  const status = (err as { statusCode?: number }).statusCode
  return status !== undefined && status >= 400 && status < 500 ? status : 500
}
