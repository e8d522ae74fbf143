// How CiviCRM names an Individual: the Joomla name split by CRM_Utils_String::extractName, and
// display_name / sort_name rendered from the site's name formats by CRM_Utils_Address::format
// (as CRM_Contact_BAO_Individual::format does). Two deliberate improvements on extractName:
// every word of a long name is kept (CiviCRM drops the 4th word on), and an apostrophe inside
// a word stays (CiviCRM strips every ' and turns O'Brien into OBrien).

export interface NameParts { first: string, middle: string, last: string }

const NAME_MAX = 64 // civicrm_contact.first_name / middle_name / last_name
export const DISPLAY_MAX = 128 // display_name, sort_name

export const cut = (s: string, max: number): string => [...s].slice(0, max).join('')

const words = (s: string): string[] => s.split(/\s+/u).filter(Boolean)

/**
 * extractName: quotes stripped; with a comma "Last, First [Middle…]"; otherwise 1 word first,
 * 2 first last, 3 or more first, middle (every inner word), last.
 */
export function extractName (name: string | null | undefined): NameParts {
  // Double quotes go; a single quote only at a word's edge ('Alan' → Alan, O'Brien stays).
  const s = (name ?? '').normalize('NFC').replace(/"/g, '').replace(/(^|\s)'+|'+(?=\s|$)/gu, '$1').trim()
  const comma = s.indexOf(',')
  if (comma !== -1) {
    // CiviCRM reads only the part after the first comma; the rest is kept as middle names here.
    const rest = words(s.slice(comma + 1).replace(/,/g, ' '))
    return { first: rest[0] ?? '', middle: rest.slice(1).join(' '), last: s.slice(0, comma).trim() }
  }
  const w = words(s)
  if (w.length === 0) return { first: '', middle: '', last: '' }
  if (w.length === 1) return { first: w[0], middle: '', last: '' }
  return { first: w[0], middle: w.slice(1, -1).join(' '), last: w[w.length - 1] }
}

/** The contact fields a name format or a greeting may use, by token name (contact.<name>). */
export type TokenValues = Partial<Record<RenderableToken, string | null>>

/** The tokens the bridge renders, in the order CRM_Utils_Address::format replaces them. */
export const RENDERABLE_TOKENS = [
  'individual_prefix', 'formal_title', 'first_name', 'middle_name', 'last_name', 'individual_suffix', 'nick_name', 'email',
] as const
export type RenderableToken = typeof RENDERABLE_TOKENS[number]

/** Whether every {contact.*} token of a format is one the bridge renders. */
export function canRender (format: string): boolean {
  for (const m of format.matchAll(/\bcontact\.(\w+)/g)) if (!(RENDERABLE_TOKENS as readonly string[]).includes(m[1])) return false
  return true
}

/**
 * CRM_Utils_Address::format for a name: each `{…contact.x…}` group becomes its text with the
 * value when x has one, and vanishes otherwise; of the leftover groups (separators such as
 * `{ }`, `{, }`) one at the start or the end goes, and of consecutive ones only the first
 * stays; then the braces go and the result is trimmed.
 */
export function renderFormat (format: string, values: TokenValues): string {
  let out = format
  for (const token of RENDERABLE_TOKENS) {
    const value = values[token]
    const group = new RegExp(`\\{([^{}]*)\\bcontact.${token}\\b([^{}]*)\\}`, 'gu')
    // A function replacer: a value is inserted as it is ($ is not special).
    out = out.replace(group, (_m, before: string, after: string) => (value ? `${before}${value}${after}` : ''))
  }
  // A leftover group at the start or the end goes; of sibling groups the first stays; then the braces.
  out = `\n${out}\n`.replace(/\n\{[^{}]*\}/gu, '\n').replace(/\{[^{}]*\}\n/gu, '\n')
  out = out.replace(/\{([^{}]*)\}(\{[^{}]*\})+/gu, '$1').replace(/[{}]/g, '')
  return out.trim()
}

/** CRM_Utils_String::stripSpaces, which greetings get after rendering: trimmed, runs of spaces made one. */
export const stripSpaces = (s: string): string => s.trim().replace(/\s{2,}/gu, ' ')

/** A name field as stored: null when empty, cut to the column. */
export const nameColumn = (s: string | null | undefined): string | null => (s ? cut(s, NAME_MAX) : null)
