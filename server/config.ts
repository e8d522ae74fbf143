// Configuration from the environment, validated once at start. A bad value is one line on
// stderr and a non-zero exit (see cli.ts); nothing starts half-configured.
import envSchema from 'env-schema'
import { Type, type Static } from 'typebox'

const DbUrl = Type.String({ pattern: '^mysql://[^/]+/[A-Za-z0-9_$-]+(\\?.*)?$' })
// 32 characters are at least 32 bytes.
const Secret = Type.String({ minLength: 32 })

const EnvSchema = Type.Object({
  CIVICRM_DB_URL: DbUrl,
  JOOMLA_DB_URL: Type.Optional(DbUrl),
  JOOMLA_DB_PREFIX: Type.String({ pattern: '^[A-Za-z0-9_]{0,32}$', default: 'jos_' }),
  CIVICRM_DOMAIN_ID: Type.Integer({ minimum: 1, default: 1 }),
  BRIDGE_SECRET: Secret,
  // Accepted as well as BRIDGE_SECRET while a secret is being rotated.
  BRIDGE_SECRET_PREVIOUS: Type.Optional(Secret),
  BRIDGE_ADMIN_TOKEN: Secret,
  // Comma-separated site ids (the JWT iss) allowed to send events; empty: any.
  BRIDGE_SITES: Type.String({ default: '' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  DB_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 500, default: 20 }),
  // How long one statement may wait for the database's answer: past it the request gets 503.
  DB_QUERY_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
  // How long a client may take to send a whole request (headers and body): a slow sender is cut off.
  HTTP_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 1000, maximum: 600_000, default: 20_000 }),
  // How long a connection may stay silent (no byte either way) before it is closed.
  HTTP_IDLE_TIMEOUT_MS: Type.Integer({ minimum: 1000, maximum: 600_000, default: 60_000 }),
  // How long a read-only decision's event and audit rows may wait to be written in a batch.
  EVENT_LOG_FLUSH_MS: Type.Integer({ minimum: 0, maximum: 1000, default: 10 }),
})

type Env = Static<typeof EnvSchema>

export interface Config {
  civicrmDbUrl: string
  joomlaDbUrl: string
  joomlaDbPrefix: string
  domainId: number
  secrets: string[]
  adminToken: string
  sites: string[]
  host: string
  port: number
  logLevel: string
  dbPoolSize: number
  eventLogFlushMs: number
  dbQueryTimeoutMs: number
  httpRequestTimeoutMs: number
  httpIdleTimeoutMs: number
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Reads and validates the environment; throws ConfigError with a one-line message. */
export function loadConfig (env: Record<string, string | undefined> = process.env): Config {
  let parsed: Env
  try {
    parsed = envSchema<Env>({ schema: EnvSchema, data: env, dotenv: false })
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${(err as Error).message.replace(/\s+/g, ' ')}`)
  }
  return {
    civicrmDbUrl: parsed.CIVICRM_DB_URL,
    joomlaDbUrl: parsed.JOOMLA_DB_URL ?? parsed.CIVICRM_DB_URL,
    joomlaDbPrefix: parsed.JOOMLA_DB_PREFIX,
    domainId: parsed.CIVICRM_DOMAIN_ID,
    secrets: [parsed.BRIDGE_SECRET, ...(parsed.BRIDGE_SECRET_PREVIOUS ? [parsed.BRIDGE_SECRET_PREVIOUS] : [])],
    adminToken: parsed.BRIDGE_ADMIN_TOKEN,
    sites: parsed.BRIDGE_SITES.split(',').map((s) => s.trim()).filter(Boolean),
    host: parsed.HOST,
    port: parsed.PORT,
    logLevel: parsed.LOG_LEVEL,
    dbPoolSize: parsed.DB_POOL_SIZE,
    eventLogFlushMs: parsed.EVENT_LOG_FLUSH_MS,
    dbQueryTimeoutMs: parsed.DB_QUERY_TIMEOUT_MS,
    httpRequestTimeoutMs: parsed.HTTP_REQUEST_TIMEOUT_MS,
    httpIdleTimeoutMs: parsed.HTTP_IDLE_TIMEOUT_MS,
  }
}
