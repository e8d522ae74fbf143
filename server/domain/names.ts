// How CiviCRM names a contact it creates for a CMS user, except that no word of a long name
// is dropped (CiviCRM keeps only three).

export interface ContactNames {
  firstName: string | null
  middleName: string | null
  lastName: string | null
  displayName: string
  sortName: string
}

const NAME_MAX = 64 // civicrm_contact.first_name / middle_name / last_name
const DISPLAY_MAX = 128 // display_name, sort_name

const cut = (s: string, max: number): string => [...s].slice(0, max).join('')
const orNull = (s: string): string | null => (s === '' ? null : cut(s, NAME_MAX))

/** 1 word: first; 2: first last; 3: first middle last; 4+: first, every inner word as middle, last. */
export function splitName (name: string | null | undefined): { first: string, middle: string, last: string } {
  const words = (name ?? '').normalize('NFC').split(/\s+/u).filter(Boolean)
  if (words.length === 0) return { first: '', middle: '', last: '' }
  if (words.length === 1) return { first: words[0], middle: '', last: '' }
  return { first: words[0], middle: words.slice(1, -1).join(' '), last: words[words.length - 1] }
}

/** display_name 'First Last', sort_name 'Last, First'; both the email when there is no name. */
export function contactNames (name: string | null | undefined, email: string): ContactNames {
  const { first, middle, last } = splitName(name)
  const firstName = orNull(first)
  const middleName = orNull(middle)
  const lastName = orNull(last)
  const display = [firstName, lastName].filter(Boolean).join(' ')
  const sort = [lastName, firstName].filter(Boolean).join(', ')
  return {
    firstName,
    middleName,
    lastName,
    displayName: cut(display || email, DISPLAY_MAX),
    sortName: cut(sort || email, DISPLAY_MAX),
  }
}
