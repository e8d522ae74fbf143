// An Individual as CiviCRM writes it (CRM_Contact_BAO_Contact::create, Individual::format,
// Contact::processGreetings), from the site's own configuration (SiteSettings, read by
// server/data/site-settings.ts). Framework-free.
import { DISPLAY_MAX, canRender, cut, extractName, nameColumn, renderFormat, stripSpaces, type TokenValues } from './names.js'
import { normalizeEmail, typedEmail } from './email.js'

export const GREETINGS = ['email_greeting', 'postal_greeting', 'addressee'] as const
export type GreetingType = typeof GREETINGS[number]

/** A greeting option of the site: its value (the contact's <greeting>_id) and its template (the option's label). */
export interface Greeting { id: number, template: string }

/** What CiviCRM's configuration says about new and edited contacts. */
export interface SiteSettings {
  displayNameFormat: string
  sortNameFormat: string
  /** contact_default_language resolved (lcMessages for '*default*'), null for 'undefined'. */
  preferredLanguage: string | null
  /** The default communication_style option's value, null when there is none. */
  communicationStyleId: number | null
  /** The default option of each greeting for Individuals, null when there is none. */
  defaultGreetings: Record<GreetingType, Greeting | null>
  /** Every active greeting option for Individuals, by greeting and value: a contact's own greeting is re-rendered on edits. */
  greetings: Record<GreetingType, Map<number, string>>
  prefixes: Map<number, string>
  suffixes: Map<number, string>
  /** civicrm_location_type.is_default: the location type of a new contact's email. */
  locationTypeId: number | null
  /** syncCMSEmail: an email change in the CMS changes the contact's primary email too. */
  syncCmsEmail: boolean
  /** The site's local wall-clock time of an instant, 'YYYY-MM-DD HH:MM:SS', as CiviCRM writes its datetime columns. */
  localTime: (at: Date) => string
}

/** CiviCRM's own defaults (settings/*.setting.php and the stock option values of civicrm_data). */
export const CIVICRM_DEFAULTS = {
  displayNameFormat: '{contact.individual_prefix}{ }{contact.first_name}{ }{contact.last_name}{ }{contact.individual_suffix}',
  sortNameFormat: '{contact.last_name}{, }{contact.first_name}',
  lcMessages: 'en_US',
  contactDefaultLanguage: '*default*',
  syncCmsEmail: true,
  greetings: {
    email_greeting: 'Dear {contact.first_name}',
    postal_greeting: 'Dear {contact.first_name}',
    addressee: '{contact.individual_prefix}{ } {contact.first_name}{ }{contact.middle_name}{ }{contact.last_name}' +
      '{ }{contact.individual_suffix}',
  } satisfies Record<GreetingType, string>,
}

/** A site with every setting at CiviCRM's default and no option values (also a test aid). */
export function defaultSiteSettings (over: Partial<SiteSettings> = {}): SiteSettings {
  const none = () => ({
    email_greeting: new Map<number, string>(), postal_greeting: new Map<number, string>(), addressee: new Map<number, string>(),
  })
  return {
    displayNameFormat: CIVICRM_DEFAULTS.displayNameFormat,
    sortNameFormat: CIVICRM_DEFAULTS.sortNameFormat,
    preferredLanguage: CIVICRM_DEFAULTS.lcMessages,
    communicationStyleId: null,
    defaultGreetings: { email_greeting: null, postal_greeting: null, addressee: null },
    greetings: none(),
    prefixes: new Map(),
    suffixes: new Map(),
    locationTypeId: null,
    syncCmsEmail: CIVICRM_DEFAULTS.syncCmsEmail,
    localTime: (at) => at.toISOString().slice(0, 19).replace('T', ' '),
    ...over,
  }
}

/** The names of an Individual: the columns and what display_name / sort_name render to. */
export interface ContactNames {
  firstName: string | null
  middleName: string | null
  lastName: string | null
  displayName: string
  sortName: string
}

export interface RenderedGreetings {
  emailGreetingId: number | null
  emailGreetingDisplay: string | null
  postalGreetingId: number | null
  postalGreetingDisplay: string | null
  addresseeId: number | null
  addresseeDisplay: string | null
}

/** A new Individual with everything Contact::create sets for it. */
export interface NewContact extends ContactNames, RenderedGreetings {
  /** The primary email row's value: CiviCRM stores emails lowercased. */
  email: string
  preferredLanguage: string | null
  communicationStyleId: number | null
}

/** What a name format or greeting is rendered from. */
export interface NameFields {
  firstName: string | null
  middleName: string | null
  lastName: string | null
  prefixId?: number | null
  suffixId?: number | null
  formalTitle?: string | null
  nickName?: string | null
  /** As typed: the fallback display name. */
  email: string
}

const tokenValues = (f: NameFields, site: SiteSettings): TokenValues => ({
  individual_prefix: f.prefixId == null ? null : site.prefixes.get(f.prefixId) ?? null,
  formal_title: f.formalTitle ?? null,
  first_name: f.firstName,
  middle_name: f.middleName,
  last_name: f.lastName,
  individual_suffix: f.suffixId == null ? null : site.suffixes.get(f.suffixId) ?? null,
  nick_name: f.nickName ?? null,
  email: f.email,
})

/** A format the bridge cannot render (a token it does not know) falls back to CiviCRM's default. */
const usable = (format: string, fallback: string): string => (canRender(format) ? format : fallback)

/**
 * display_name and sort_name from the site's formats (Individual::format): rendered only when
 * the contact has a first, middle or last name; otherwise, or when they render empty, the email.
 */
export function renderNames (f: NameFields, site: SiteSettings): ContactNames {
  return namesOf(f, site, tokenValues(f, site))
}

/** renderNames from the contact's token values (a new contact's are made once, for its names and greetings). */
function namesOf (f: NameFields, site: SiteSettings, values: TokenValues): ContactNames {
  const named = Boolean(f.firstName || f.middleName || f.lastName)
  const display = named ? renderFormat(usable(site.displayNameFormat, CIVICRM_DEFAULTS.displayNameFormat), values) : ''
  const sort = named ? renderFormat(usable(site.sortNameFormat, CIVICRM_DEFAULTS.sortNameFormat), values) : ''
  return {
    firstName: f.firstName,
    middleName: f.middleName,
    lastName: f.lastName,
    displayName: cut(display || f.email, DISPLAY_MAX),
    sortName: cut(sort || f.email, DISPLAY_MAX),
  }
}

const DISPLAY_COLUMN_MAX = 255 // <greeting>_display

/** processGreetings: each greeting's template rendered from the contact's names, spaces stripped. */
export function renderGreeting (type: GreetingType, template: string, f: NameFields, site: SiteSettings): string {
  return greetingOf(type, template, tokenValues(f, site))
}

const greetingOf = (type: GreetingType, template: string, values: TokenValues): string =>
  cut(stripSpaces(renderFormat(usable(template, CIVICRM_DEFAULTS.greetings[type]), values)), DISPLAY_COLUMN_MAX)

/** A new contact's greetings: the site's default of each, rendered from its token values. */
function greetingsOf (greetings: Record<GreetingType, Greeting | null>, values: TokenValues): RenderedGreetings {
  const one = (type: GreetingType): [number | null, string | null] => {
    const g = greetings[type]
    return g === null ? [null, null] : [g.id, greetingOf(type, g.template, values)]
  }
  const [emailGreetingId, emailGreetingDisplay] = one('email_greeting')
  const [postalGreetingId, postalGreetingDisplay] = one('postal_greeting')
  const [addresseeId, addresseeDisplay] = one('addressee')
  return { emailGreetingId, emailGreetingDisplay, postalGreetingId, postalGreetingDisplay, addresseeId, addresseeDisplay }
}

export type GreetingDisplays = Partial<Record<'emailGreetingDisplay' | 'postalGreetingDisplay' | 'addresseeDisplay', string | null>>

const DISPLAY_FIELD = {
  email_greeting: 'emailGreetingDisplay', postal_greeting: 'postalGreetingDisplay', addressee: 'addresseeDisplay',
} as const

/**
 * processGreetings on an edited contact: each greeting it has (an option, not a custom text)
 * rendered again from its new names; a custom greeting or none is left as it is.
 */
export function greetingsOnSave (
  ids: Record<GreetingType, number | null>, custom: Record<GreetingType, string | null>, f: NameFields, site: SiteSettings
): GreetingDisplays {
  const out: GreetingDisplays = {}
  for (const type of GREETINGS) {
    const id = ids[type]
    const template = id === null || custom[type] ? undefined : site.greetings[type].get(id)
    if (template !== undefined) out[DISPLAY_FIELD[type]] = renderGreeting(type, template, f, site)
  }
  return out
}

/** A new Individual of these names, with the site's defaults (Contact::create). */
export function newIndividual (fields: NameFields, site: SiteSettings): NewContact {
  const values = tokenValues(fields, site)
  return {
    ...namesOf(fields, site, values),
    ...greetingsOf(site.defaultGreetings, values),
    email: normalizeEmail(fields.email),
    preferredLanguage: site.preferredLanguage,
    communicationStyleId: site.communicationStyleId,
  }
}

/** The Individual CiviCRM creates for a CMS user (synchronizeUFMatch: extractName, then createProfileContact). */
export function newContact (name: string | null | undefined, email: string, site: SiteSettings): NewContact {
  const parts = extractName(name)
  const [firstName, middleName, lastName] = [nameColumn(parts.first), nameColumn(parts.middle), nameColumn(parts.last)]
  return newIndividual({ firstName, middleName, lastName, email: typedEmail(email) }, site)
}
