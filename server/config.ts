// Configuration from the environment, validated once at start. A bad value is one line on
// stderr and a non-zero exit (see cli.ts); nothing starts half-configured.
import { readFileSync } from 'node:fs'
import envSchema from 'env-schema'
import { Type, type Static } from 'typebox'
import { parseTimeZone, type SiteTimeZone } from './domain/time.js'
import { ConfigError } from './errors.js'

const DbUrl = Type.String({ pattern: '^mysql://[^/]+/[A-Za-z0-9_$-]+(\\?.*)?$' })
// 32 characters are at least 32 bytes.
const Secret = Type.String({ minLength: 32 })

const EnvSchema = Type.Object({
  CIVICRM_DB_URL: DbUrl,
  JOOMLA_DB_URL: Type.Optional(DbUrl),
  JOOMLA_DB_PREFIX: Type.String({ pattern: '^[A-Za-z0-9_]{0,32}$', default: 'jos_' }),
  CIVICRM_DOMAIN_ID: Type.Integer({ minimum: 1, default: 1 }),
  // The site's time zone (IANA name or ±HH:MM); unset: the database server's.
  CIVICRM_TIME_ZONE: Type.Optional(Type.String({ minLength: 1 })),
  // Required unless BRIDGE_SITES_FILE gives every site its own secret.
  BRIDGE_SECRET: Type.Optional(Secret),
  // Accepted as well as BRIDGE_SECRET while a secret is being rotated.
  BRIDGE_SECRET_PREVIOUS: Type.Optional(Secret),
  BRIDGE_ADMIN_TOKEN: Secret,
  // The key of the bridge's own cookies (admin and page sessions); default: derived from
  // BRIDGE_ADMIN_TOKEN. Never a Joomla site's secret, so no site can forge a session.
  BRIDGE_SESSION_SECRET: Type.Optional(Secret),
  // Comma-separated site ids (the JWT iss) allowed to send events; empty: any.
  BRIDGE_SITES: Type.String({ default: '' }),
  // Several Joomla sites, each with its own secret and CiviCRM domain (README, "Several sites").
  BRIDGE_SITES_FILE: Type.Optional(Type.String({ minLength: 1 })),
  // Fastify's trustProxy: true, a hop count, or comma-separated addresses/CIDRs of the proxies.
  TRUST_PROXY: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })),
  // When set, /metrics and /docs need it (Authorization: Bearer, or Basic with it as password).
  METRICS_TOKEN: Type.Optional(Secret),
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
  // The Joomla site the member pages belong to: its name on them, and a link back.
  JOOMLA_SITE_NAME: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  JOOMLA_SITE_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 500 })),
  // Where CiviCRM's pages are: the admin pages link to `<this>civicrm/contact/view…cid=N`.
  CIVICRM_BASE_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 500 })),
  // How long a read-only decision's event and audit rows may wait to be written in a batch.
  EVENT_LOG_FLUSH_MS: Type.Integer({ minimum: 0, maximum: 1000, default: 10 }),
})

type Env = Static<typeof EnvSchema>

/** What a site may do: sign with its secrets (the first signs, all verify), in its CiviCRM domain. */
export interface Site { secrets: string[], domainId: number }

export interface Config {
  civicrmDbUrl: string
  joomlaDbUrl: string
  joomlaDbPrefix: string
  /** The domain of the single-site settings, of the sync and of the admin pages. */
  domainId: number
  /** The CiviCRM site's time zone; null: the database server's. */
  timeZone: SiteTimeZone | null
  /** BRIDGE_SECRET (and the previous one); empty with a sites file. */
  secrets: string[]
  adminToken: string
  /** Key of the bridge's own session cookies. */
  sessionSecret: string
  sites: string[]
  /** From BRIDGE_SITES_FILE: each site's secrets and domain; null with the single-site settings. */
  siteFile: ReadonlyMap<string, Site> | null
  trustProxy: boolean | number | string
  metricsToken: string | null
  host: string
  port: number
  logLevel: string
  dbPoolSize: number
  eventLogFlushMs: number
  dbQueryTimeoutMs: number
  httpRequestTimeoutMs: number
  httpIdleTimeoutMs: number
  joomlaSiteName: string | null
  joomlaSiteUrl: string | null
  /** Where CiviCRM's own pages are (links from the admin pages); null: no links. */
  civicrmBaseUrl: string | null
}

export { ConfigError }

const SECRET_HINT = 'at least 32 characters, e.g. the output of `openssl rand -hex 32`'
/** What each variable must be, in words, with an example value (config errors say this, never the schema's text). */
export const CONFIG_HINTS: Record<keyof Env, string> = {
  CIVICRM_DB_URL: 'a MySQL URL with a database name, e.g. mysql://civicrm:secret@127.0.0.1:3306/civicrm',
  JOOMLA_DB_URL: 'a MySQL URL with a database name, e.g. mysql://joomla:secret@127.0.0.1:3306/joomla',
  JOOMLA_DB_PREFIX: 'letters, digits and underscores (at most 32), e.g. jos_',
  CIVICRM_DOMAIN_ID: 'a whole number from 1, e.g. 1',
  CIVICRM_TIME_ZONE: 'the CiviCRM site\'s time zone, an IANA name or an offset, e.g. Europe/Amsterdam or +01:00',
  BRIDGE_SECRET: SECRET_HINT,
  BRIDGE_SECRET_PREVIOUS: SECRET_HINT,
  BRIDGE_ADMIN_TOKEN: SECRET_HINT,
  BRIDGE_SESSION_SECRET: SECRET_HINT,
  BRIDGE_SITES_FILE: 'the path of a readable JSON sites file, e.g. /etc/civicrm-bridge/sites.json',
  TRUST_PROXY: 'true, a hop count, or the proxies\' addresses, e.g. 127.0.0.1 or 10.0.0.0/8,::1',
  METRICS_TOKEN: SECRET_HINT,
  BRIDGE_SITES: 'comma-separated site ids, e.g. main-site,shop',
  HOST: 'an address to listen on, e.g. 127.0.0.1 or 0.0.0.0',
  PORT: 'a port number from 0 to 65535, e.g. 8080',
  LOG_LEVEL: 'one of fatal, error, warn, info, debug, trace, silent, e.g. info',
  DB_POOL_SIZE: 'a whole number from 1 to 500, e.g. 20',
  DB_QUERY_TIMEOUT_MS: 'a whole number of milliseconds from 100 to 600000, e.g. 10000',
  HTTP_REQUEST_TIMEOUT_MS: 'a whole number of milliseconds from 1000 to 600000, e.g. 20000',
  HTTP_IDLE_TIMEOUT_MS: 'a whole number of milliseconds from 1000 to 600000, e.g. 60000',
  EVENT_LOG_FLUSH_MS: 'a whole number of milliseconds from 0 to 1000, e.g. 10',
  JOOMLA_SITE_NAME: 'the site\'s name as members know it (1 to 100 characters), e.g. Example Association',
  JOOMLA_SITE_URL: 'the Joomla site\'s address, e.g. https://www.example.org/',
  CIVICRM_BASE_URL: 'the URL before civicrm/contact/view, e.g. https://example.org/ (Drupal, WordPress) or ' +
    'https://example.org/administrator/index.php?option=com_civicrm&task= (Joomla)',
}

interface AjvError { instancePath: string, keyword: string, params: { missingProperty?: string } }

/** One sentence per bad variable, in the order of the schema, on one line. */
export function describeConfigErrors (errors: AjvError[], env: Record<string, string | undefined>): string {
  const bad = new Set(errors.map((e) => e.keyword === 'required' ? e.params.missingProperty! : e.instancePath.split('/')[1]))
  const names = (Object.keys(CONFIG_HINTS) as (keyof Env)[]).filter((n) => bad.has(n))
  const sentence = (n: keyof Env) => `${n} ${env[n] === undefined ? 'is not set' : 'is not valid'}: it must be ${CONFIG_HINTS[n]}`
  return `invalid configuration: ${names.map(sentence).join('; ')}`
}

/** Reads and validates the environment; throws ConfigError with a one-line message. */
export function loadConfig (env: Record<string, string | undefined> = process.env): Config {
  let parsed: Env
  try {
    parsed = envSchema<Env>({ schema: EnvSchema, data: env, dotenv: false })
  } catch (err) {
    throw new ConfigError(describeConfigErrors((err as { errors: AjvError[] }).errors, env))
  }
  const timeZone = parsed.CIVICRM_TIME_ZONE === undefined ? null : parseTimeZone(parsed.CIVICRM_TIME_ZONE)
  if (parsed.CIVICRM_TIME_ZONE !== undefined && timeZone === null) {
    throw new ConfigError('invalid configuration: CIVICRM_TIME_ZONE must be an IANA time zone (Europe/Berlin) or an offset (+02:00), ' +
      `not ${JSON.stringify(parsed.CIVICRM_TIME_ZONE)}`)
  }
  const siteFile = parsed.BRIDGE_SITES_FILE === undefined ? null : loadSitesFile(parsed.BRIDGE_SITES_FILE)
  if (siteFile === null && parsed.BRIDGE_SECRET === undefined) {
    throw new ConfigError('invalid configuration: BRIDGE_SECRET is required (or BRIDGE_SITES_FILE)')
  }
  return {
    civicrmDbUrl: parsed.CIVICRM_DB_URL,
    joomlaDbUrl: parsed.JOOMLA_DB_URL ?? parsed.CIVICRM_DB_URL,
    joomlaDbPrefix: parsed.JOOMLA_DB_PREFIX,
    domainId: parsed.CIVICRM_DOMAIN_ID,
    timeZone,
    secrets: siteFile ? [] : [parsed.BRIDGE_SECRET!, ...(parsed.BRIDGE_SECRET_PREVIOUS ? [parsed.BRIDGE_SECRET_PREVIOUS] : [])],
    adminToken: parsed.BRIDGE_ADMIN_TOKEN,
    sessionSecret: parsed.BRIDGE_SESSION_SECRET ?? parsed.BRIDGE_ADMIN_TOKEN,
    sites: siteFile ? [...siteFile.keys()] : parsed.BRIDGE_SITES.split(',').map((s) => s.trim()).filter(Boolean),
    siteFile,
    trustProxy: parseTrustProxy(parsed.TRUST_PROXY),
    metricsToken: parsed.METRICS_TOKEN ?? null,
    host: parsed.HOST,
    port: parsed.PORT,
    logLevel: parsed.LOG_LEVEL,
    dbPoolSize: parsed.DB_POOL_SIZE,
    eventLogFlushMs: parsed.EVENT_LOG_FLUSH_MS,
    dbQueryTimeoutMs: parsed.DB_QUERY_TIMEOUT_MS,
    httpRequestTimeoutMs: parsed.HTTP_REQUEST_TIMEOUT_MS,
    httpIdleTimeoutMs: parsed.HTTP_IDLE_TIMEOUT_MS,
    civicrmBaseUrl: parsed.CIVICRM_BASE_URL ?? null,
    joomlaSiteName: parsed.JOOMLA_SITE_NAME ?? null,
    joomlaSiteUrl: parsed.JOOMLA_SITE_URL ?? null,
  }
}

/** TRUST_PROXY as Fastify's trustProxy takes it: a boolean, a hop count, or the proxies' addresses. */
export function parseTrustProxy (value: string | undefined): boolean | number | string {
  if (value === undefined || value === 'false') return false
  if (value === 'true') return true
  if (/^[0-9]{1,2}$/.test(value)) return Number(value)
  const addresses = value.split(',').map((a) => a.trim())
  // An IPv4/IPv6 address or CIDR, or one of proxy-addr's names (loopback, linklocal, uniquelocal).
  if (addresses.some((a) => !/^([0-9a-fA-F.:]+(\/[0-9]{1,3})?|loopback|linklocal|uniquelocal)$/.test(a))) {
    throw new ConfigError('invalid configuration: TRUST_PROXY must be true, a hop count, or comma-separated proxy addresses, ' +
      `not ${JSON.stringify(value.slice(0, 80))}`)
  }
  return addresses.join(',')
}

/** Site ids are JWT iss values (docs/protocol.md): printable ASCII, compared exactly (ascii_bin columns). */
export const SITE_ID_RE = /^[\x21-\x7e]{1,64}$/

/** Reads BRIDGE_SITES_FILE: {"sites": {"<id>": {"secret", "previousSecret"?, "domainId"}}}; any flaw is one ConfigError line. */
export function loadSitesFile (path: string): Map<string, Site> {
  const fail = (why: string): never => { throw new ConfigError(`invalid configuration: BRIDGE_SITES_FILE ${path}: ${why}`) }
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    return fail(`cannot be read (${(err as NodeJS.ErrnoException).code})`)
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    return fail('is not valid JSON')
  }
  const sites = (data as { sites?: unknown } | null)?.sites
  if (typeof sites !== 'object' || sites === null || Array.isArray(sites)) return fail('must hold {"sites": {"<site id>": {...}}}')
  const out = new Map<string, Site>()
  for (const [id, site] of Object.entries(sites as Record<string, unknown>)) {
    if (!SITE_ID_RE.test(id)) fail(`site id ${JSON.stringify(id.slice(0, 80))} must be 1-64 printable ASCII characters without spaces`)
    const s = site as { secret?: unknown, previousSecret?: unknown, domainId?: unknown } | null
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return fail(`site ${id} must be an object`)
    const unknownKeys = Object.keys(s).filter((k) => !['secret', 'previousSecret', 'domainId'].includes(k))
    if (unknownKeys.length) fail(`site ${id}: unknown setting ${unknownKeys[0]}`)
    const strong = (v: unknown) => typeof v === 'string' && Buffer.byteLength(v) >= 32
    if (!strong(s.secret)) fail(`site ${id}: secret must be a string of at least 32 bytes`)
    if (s.previousSecret !== undefined && !strong(s.previousSecret)) {
      fail(`site ${id}: previousSecret must be a string of at least 32 bytes`)
    }
    if (!Number.isSafeInteger(s.domainId) || (s.domainId as number) < 1) fail(`site ${id}: domainId must be a positive integer`)
    const secrets = [s.secret as string, ...(s.previousSecret === undefined ? [] : [s.previousSecret as string])]
    out.set(id, { secrets, domainId: s.domainId as number })
  }
  if (out.size === 0) fail('names no site')
  // A secret shared by two sites would let each sign for the other.
  const owner = new Map<string, string>()
  for (const [id, site] of out) {
    for (const secret of new Set(site.secrets)) {
      const other = owner.get(secret)
      if (other !== undefined) fail(`sites ${other} and ${id} share a secret; each site needs its own`)
      owner.set(secret, id)
    }
  }
  return out
}

/** The site a token's iss names, with its secrets and domain; null when it may not send anything. */
export function siteOf (config: Config, iss: string): Site | null {
  if (config.siteFile) return config.siteFile.get(iss) ?? null
  if (config.sites.length > 0 && !config.sites.includes(iss)) return null
  return { secrets: config.secrets, domainId: config.domainId }
}

/** Every CiviCRM domain the bridge writes to: the single-site one (sync, admin) and each site's. */
export function configDomains (config: Config): number[] {
  return [...new Set([config.domainId, ...[...config.siteFile?.values() ?? []].map((s) => s.domainId)])]
}
