// How CiviCRM names an Individual: the Joomla name split by CRM_Utils_String::extractName, and
// display_name / sort_name rendered from the site's name formats by CRM_Utils_Address::format
// (as CRM_Contact_BAO_Individual::format does). Two deliberate improvements on extractName:
// every word of a long name is kept (CiviCRM drops the 4th word on), and an apostrophe inside
// a word stays (CiviCRM strips every ' and turns O'Brien into OBrien).

export interface NameParts { first: string, middle: string, last: string }

const NAME_MAX = 64 // civicrm_contact.first_name / middle_name / last_name
export const DISPLAY_MAX = 128 // display_name, sort_name

/** The first `max` characters (code points) of s; a string of at most `max` UTF-16 units is kept as it is without splitting it. */
export const cut = (s: string, max: number): string => (s.length <= max ? s : [...s].slice(0, max).join(''))

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

/** Whether every {contact.*} token of a format is one the bridge renders (remembered: a site has a handful of formats). */
export function canRender (format: string): boolean {
  let known = renderable.get(format)
  if (known === undefined) {
    known = [...format.matchAll(/\bcontact\.(\w+)/g)].every((m) => (RENDERABLE_TOKENS as readonly string[]).includes(m[1]))
    if (renderable.size >= 1000) renderable.clear()
    renderable.set(format, known)
  }
  return known
}
const renderable = new Map<string, boolean>()

/**
 * Each token's group pattern, compiled once. Its dot is left unescaped, as in CiviCRM's
 * preg_replace: `{contactXlast_name}` is a last-name group there too.
 */
const TOKEN_GROUPS = RENDERABLE_TOKENS.map((token) =>
  [token, new RegExp(`\\{([^{}]*)\\bcontact.${token}\\b([^{}]*)\\}`, 'gu')] as const)

/**
 * CRM_Utils_Address::format for a name: each `{…contact.x…}` group becomes its text with the
 * value when x has one, and vanishes otherwise; of the leftover groups (separators such as
 * `{ }`, `{, }`) one at the start or the end goes, and of consecutive ones only the first
 * stays; then the braces go and the result is trimmed. Through the format's plan (planOf)
 * when it has one and no value holds a brace or a line break; else by the patterns.
 */
export function renderFormat (format: string, values: TokenValues): string {
  const plan = planOf(format)
  return (plan && renderPlan(plan, values)) ?? renderByPatterns(format, values)
}

/** renderFormat as CiviCRM's code does it, pattern after pattern over the whole text (the reference: slower). */
export function renderByPatterns (format: string, values: TokenValues): string {
  let out = format
  for (const [token, group] of TOKEN_GROUPS) {
    const value = values[token]
    // A function replacer: a value is inserted as it is ($ is not special).
    out = out.replace(group, (_m, before: string, after: string) => (value ? `${before}${value}${after}` : ''))
  }
  // A leftover group at the start or the end goes; of sibling groups the first stays; then the braces.
  out = `\n${out}\n`.replace(/\n\{[^{}]*\}/gu, '\n').replace(/\{[^{}]*\}\n/gu, '\n')
  out = out.replace(/\{([^{}]*)\}(\{[^{}]*\})+/gu, '$1').replace(/[{}]/g, '')
  return out.trim()
}

/** A format cut into text, token groups (their text around the token) and leftover groups (their inside). */
type Segment = { text: string } | { token: RenderableToken, before: string, after: string } | { group: string }

const plans = new Map<string, Segment[] | null>()

/**
 * The plan of a format, made once (a site has a handful): null unless its groups are neither
 * nested nor unclosed, each holds at most one token, and it has no line break. Then, for values
 * without braces or line breaks, the patterns can only ever match the format's own groups, each
 * on its own: rendering the plan gives what they give, without running eight patterns and four
 * clean-ups over the text five times for every new contact (most of the sync's Node time).
 */
function planOf (format: string): Segment[] | null {
  let plan = plans.get(format)
  if (plan === undefined) {
    plan = makePlan(format)
    if (plans.size >= 1000) plans.clear()
    plans.set(format, plan)
  }
  return plan
}

function makePlan (format: string): Segment[] | null {
  if (format.includes('\n') || !/^(?:[^{}]|\{[^{}]*\})*$/u.test(format)) return null
  const plan: Segment[] = []
  for (const m of format.matchAll(/([^{}]+)|\{([^{}]*)\}/gu)) {
    if (m[1] !== undefined) {
      plan.push({ text: m[1] })
      continue
    }
    const matches = TOKEN_GROUPS.map(([token, group]) => [token, new RegExp(group.source, 'u').exec(m[0])] as const)
      .filter(([, found]) => found !== null)
    if (matches.length > 1) return null
    const [found] = matches
    plan.push(found ? { token: found[0], before: found[1]![1], after: found[1]![2] } : { group: m[2] })
  }
  return plan
}

/** The plan rendered, or null when a value holds a brace or a line break (renderByPatterns then). */
function renderPlan (plan: Segment[], values: TokenValues): string | null {
  const parts: Array<string | { group: string }> = []
  for (const s of plan) {
    if ('text' in s) parts.push(s.text)
    else if ('group' in s) parts.push(s)
    else {
      const value = values[s.token]
      if (!value) continue
      if (/[{}\n]/.test(value)) return null
      parts.push(`${s.before}${value}${s.after}`)
    }
  }
  // A leftover group at the start, then one at the end, goes; of sibling groups the first's inside stays.
  if (typeof parts[0] === 'object') parts.shift()
  if (typeof parts[parts.length - 1] === 'object') parts.pop()
  let out = ''
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]
    if (typeof p === 'string') out += p
    else if (typeof parts[i - 1] !== 'object') out += p.group
  }
  return out.trim()
}

/** CRM_Utils_String::stripSpaces, which greetings get after rendering: trimmed, runs of spaces made one. */
export const stripSpaces = (s: string): string => s.trim().replace(/\s{2,}/gu, ' ')

/** A name field as stored: null when empty, cut to the column. */
export const nameColumn = (s: string | null | undefined): string | null => (s ? cut(s, NAME_MAX) : null)
