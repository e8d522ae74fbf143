// The site's CiviCRM configuration the bridge writes contacts by: settings (civicrm_setting,
// PHP-serialized values), option values (prefixes, suffixes, greetings, communication style)
// and the default location type. Read in four queries, at most once a minute per process.
import { CIVICRM_DEFAULTS, GREETINGS, type Greeting, type GreetingType, type SiteSettings } from '../domain/contact.js'
import { localTimeIn, type SiteTimeZone } from '../domain/time.js'

type Run = (text: string, values: unknown[]) => Promise<unknown>

/** How long settings read from the database are used before they are read again. */
export const SETTINGS_TTL_MS = 60_000

const SETTING_NAMES = ['display_name_format', 'sort_name_format', 'contact_default_language', 'lcMessages', 'syncCMSEmail'] as const

/**
 * The value of a PHP-serialized scalar as CiviCRM stores settings (s:N:"…"; i:N; b:N; d:N;),
 * or undefined for anything else (then CiviCRM's default applies).
 */
export function unserializeScalar (text: string | null): string | number | boolean | undefined {
  if (text === null) return undefined
  const s = /^s:\d+:"([\s\S]*)";$/.exec(text)
  if (s) return s[1]
  const n = /^[id]:(-?[0-9.eE+-]+);$/.exec(text)
  if (n && Number.isFinite(Number(n[1]))) return Number(n[1])
  const b = /^b:([01]);$/.exec(text)
  if (b) return b[1] === '1'
  return undefined
}

const stringSetting = (v: string | number | boolean | undefined, fallback: string): string => (typeof v === 'string' ? v : fallback)

/** contact_default_language as CRM_Core_I18n::getContactDefaultLanguage resolves it ('current_site_language': the site's locale). */
function preferredLanguage (setting: string | number | boolean | undefined, lcMessages: string): string | null {
  const v = typeof setting === 'string' ? setting : CIVICRM_DEFAULTS.contactDefaultLanguage
  if (v === 'undefined') return null
  const lang = v === '' || v === '*default*' || v === 'current_site_language' ? lcMessages : v
  // civicrm_contact.preferred_language is varchar(5).
  return lang === '' ? null : [...lang].slice(0, 5).join('')
}

interface OptionRow { grp: string, value: string, label: string, filter: number | null, is_default: number | null }

const SELECT_SETTINGS = 'SELECT name, value FROM civicrm_setting WHERE name IN (?) AND domain_id = ? AND contact_id IS NULL'
/** The database server's offset from UTC now, in minutes. */
const SELECT_SERVER_OFFSET =
  "SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', @@global.time_zone)) AS off"

export async function readSiteSettings (run: Run, domainId: number, timeZone: SiteTimeZone | null): Promise<SiteSettings> {
  const settings = await run(SELECT_SETTINGS, [SETTING_NAMES, domainId]) as Array<{ name: string, value: string | null }>
  const setting = new Map(settings.map((s) => [s.name, unserializeScalar(s.value)]))
  const options = await run(`SELECT g.name AS grp, v.value, v.label, v.filter, v.is_default
      FROM civicrm_option_group g JOIN civicrm_option_value v ON v.option_group_id = g.id
     WHERE g.name IN ('individual_prefix', 'individual_suffix', 'communication_style', 'email_greeting', 'postal_greeting', 'addressee')
       AND g.is_active = 1 AND v.is_active = 1 AND (v.domain_id IS NULL OR v.domain_id = ?)
     ORDER BY g.name, v.weight, v.id`, [domainId]) as OptionRow[]
  const [location] = await run('SELECT id FROM civicrm_location_type WHERE is_default = 1 ORDER BY id LIMIT 1', []) as Array<{ id: number }>
  // Without a zone of its own the site runs on the database server's: its offset now.
  // (NULL, read as 0, only if the server's zone is a name its time zone tables do not know.)
  const zone = timeZone ?? { offsetMinutes: Number((await run(SELECT_SERVER_OFFSET, []) as Array<{ off: number | null }>)[0].off) }

  const labels = (grp: string) => new Map(options.filter((o) => o.grp === grp).map((o) => [Number(o.value), o.label]))
  // Greetings for Individuals: filter 1, or 0 (any contact type), as defaultGreeting and PseudoConstant::greeting choose.
  const greetings = {} as Record<GreetingType, Map<number, string>>
  const defaultGreetings = {} as Record<GreetingType, Greeting | null>
  for (const type of GREETINGS) {
    const rows = options.filter((o) => o.grp === type && (o.filter === 1 || o.filter === 0))
    greetings[type] = new Map(rows.map((o) => [Number(o.value), o.label]))
    const def = rows.find((o) => o.is_default === 1)
    defaultGreetings[type] = def ? { id: Number(def.value), template: def.label } : null
  }
  // Contact::create takes the last default communication style (array_pop).
  const styles = options.filter((o) => o.grp === 'communication_style' && o.is_default === 1)
  const sync = setting.get('syncCMSEmail')
  return {
    displayNameFormat: stringSetting(setting.get('display_name_format'), CIVICRM_DEFAULTS.displayNameFormat),
    sortNameFormat: stringSetting(setting.get('sort_name_format'), CIVICRM_DEFAULTS.sortNameFormat),
    preferredLanguage: preferredLanguage(
      setting.get('contact_default_language'), stringSetting(setting.get('lcMessages'), CIVICRM_DEFAULTS.lcMessages)
    ),
    communicationStyleId: styles.length > 0 ? Number(styles[styles.length - 1].value) : null,
    defaultGreetings,
    greetings,
    prefixes: labels('individual_prefix'),
    suffixes: labels('individual_suffix'),
    locationTypeId: location?.id ?? null,
    // PHP's loose truth: '0', 0, false and '' are off.
    syncCmsEmail: sync === undefined ? CIVICRM_DEFAULTS.syncCmsEmail : !(sync === '0' || sync === '' || sync === 0 || sync === false),
    localTime: localTimeIn(zone),
  }
}

/** readSiteSettings once per SETTINGS_TTL_MS; concurrent callers share one read. */
export class SiteSettingsCache {
  private pending: Promise<SiteSettings> | null = null
  private readAt = 0

  constructor (
    private readonly run: Run,
    private readonly domainId: number,
    private readonly timeZone: SiteTimeZone | null,
    private readonly now: () => number = Date.now
  ) {}

  get (): Promise<SiteSettings> {
    if (this.pending === null || this.now() - this.readAt > SETTINGS_TTL_MS) {
      this.readAt = this.now()
      const read = readSiteSettings(this.run, this.domainId, this.timeZone)
      // A failed read is not kept: the next caller tries again.
      read.catch(() => { if (this.pending === read) this.pending = null })
      this.pending = read
    }
    return this.pending
  }
}
