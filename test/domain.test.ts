// The framework-free rules: names, emails, event names, candidate choice.
import t from 'tap'
import fc from 'fast-check'
import { RENDERABLE_TOKENS, canRender, extractName, renderByPatterns, renderFormat } from '../server/domain/names.js'
import { CIVICRM_DEFAULTS, defaultSiteSettings, greetingsOnSave, newContact, renderNames } from '../server/domain/contact.js'
import { emailProblem, maskEmail, normalizeEmail } from '../server/domain/email.js'
import { eventEffect, EVENT_NAMES } from '../server/domain/events.js'
import { firstFreeCandidate, lockKeys, LOCK_STRIPES } from '../server/domain/link-user.js'
import { localTimeIn, parseTimeZone } from '../server/domain/time.js'

const name = (first: string, middle = '', last = '') => ({ first, middle, last })

t.test('renderFormat through a format\'s plan gives what the patterns give, whatever the format and the values', async (t) => {
  const piece = fc.constantFrom('{', '}', ' ', ', ', 'Dear ', '\n', 'x', '.', '{ }', '{, }', '{}', 'contact.first_name', 'contactXlast_name',
    ...RENDERABLE_TOKENS.flatMap((k) => [`{contact.${k}}`, `{(contact.${k}) }`, `contact.${k}`]), '{contact.first_name contact.last_name}', '{contact.first_names}')
  const value = fc.option(fc.array(fc.constantFrom('A', 'n', ' ', '{', '}', '\n', '$1', 'contact.last_name', 'é'), { maxLength: 4 }).map((a) => a.join('')), { nil: null })
  const values = fc.record(Object.fromEntries(RENDERABLE_TOKENS.map((k) => [k, value]))) as fc.Arbitrary<Record<typeof RENDERABLE_TOKENS[number], string | null>>
  // fc.assert throws with the smallest counterexample it finds.
  fc.assert(fc.property(fc.array(piece, { maxLength: 12 }), values, (pieces, v) => renderFormat(pieces.join(''), v) === renderByPatterns(pieces.join(''), v)), { numRuns: 3000 })
  t.pass('3,000 formats and values rendered alike')
  // A counterexample fast-check once found: CiviCRM's patterns leave the dot of contact.x unescaped.
  t.equal(renderByPatterns('{contactXlast_name}', { last_name: 'A' }), 'A')
  t.equal(renderFormat('{contactXlast_name}', { last_name: 'A' }), 'A')
  // What canRender remembers stays bounded: past 1,000 formats it starts again.
  for (let i = 0; i <= 1000; i++) t.equal(canRender(`{contact.first_name}${i}`), true)
  t.equal(canRender('{contact.street_address}'), false)
  for (const format of [CIVICRM_DEFAULTS.displayNameFormat, CIVICRM_DEFAULTS.sortNameFormat, ...Object.values(CIVICRM_DEFAULTS.greetings)]) {
    t.equal(renderFormat(format, { first_name: 'Ann', last_name: 'Lee' }), renderByPatterns(format, { first_name: 'Ann', last_name: 'Lee' }))
  }
})

t.test('extractName: CiviCRM\'s own cases (StringTest::testExtractName)', async (t) => {
  t.same(extractName('Alan'), name('Alan'))
  t.same(extractName('Alan Arkin'), name('Alan', '', 'Arkin'))
  t.same(extractName('"Alan Arkin"'), name('Alan', '', 'Arkin'), 'quotes stripped')
  t.same(extractName('Alan A Arkin'), name('Alan', 'A', 'Arkin'))
  t.same(extractName('Adams, Amy'), name('Amy', '', 'Adams'), '"Last, First" with a comma')
  t.same(extractName('Adams, Amy A'), name('Amy', 'A', 'Adams'))
  t.same(extractName('"Adams, Amy A"'), name('Amy', 'A', 'Adams'))
})

t.test('extractName, the deliberate improvements: every word of a long name kept, an apostrophe inside a word kept', async (t) => {
  t.same(extractName('  Jan   van der   Berg '), name('Jan', 'van der', 'Berg'), 'CiviCRM would drop Berg')
  t.same(extractName('Adams, Amy Anne Beth'), name('Amy', 'Anne Beth', 'Adams'))
  t.same(extractName('Seán O\'Brien'), name('Seán', '', 'O\'Brien'), 'CiviCRM would store OBrien')
  t.same(extractName('\'Alan Arkin\''), name('Alan', '', 'Arkin'), 'quoting single quotes still go')
  t.same(extractName(''), name(''))
  t.same(extractName(null), name(''))
  t.same(extractName('Adams,'), name('', '', 'Adams'))
})

t.test('name formats render as CRM_Utils_Address::format: separators only between values', async (t) => {
  const f = CIVICRM_DEFAULTS.displayNameFormat
  t.equal(renderFormat(f, { first_name: 'Paula', last_name: 'Prefixed', individual_prefix: 'Dr.' }), 'Dr. Paula Prefixed')
  t.equal(renderFormat(f, { first_name: 'Paula', last_name: 'Prefixed', individual_suffix: 'Jr.' }), 'Paula Prefixed Jr.')
  t.equal(renderFormat(f, { last_name: 'Prefixed' }), 'Prefixed')
  t.equal(renderFormat(CIVICRM_DEFAULTS.sortNameFormat, { first_name: 'Amy', last_name: 'Adams' }), 'Adams, Amy')
  t.equal(renderFormat(CIVICRM_DEFAULTS.sortNameFormat, { first_name: 'Cher' }), 'Cher')
  t.equal(renderFormat('{contact.last_name}{, }{contact.first_name}', { first_name: '$1', last_name: 'A' }), 'A, $1', 'a value is inserted as it is')
  t.equal(renderFormat('{contact.last_name}{, }{contact.first_name}', { first_name: 'B{x}y', last_name: 'A' }), 'A, Bxy', 'braces in a value go, as in CiviCRM')
  t.ok(canRender(f))
  t.notOk(canRender('{contact.custom_12} {contact.first_name}'))
})

const site = defaultSiteSettings({
  prefixes: new Map([[4, 'Dr.']]),
  suffixes: new Map([[1, 'Jr.']]),
  displayNameFormat: '{contact.first_name}{ }{contact.last_name}{ }({contact.email})',
  sortNameFormat: '{contact.last_name}{, }{contact.first_name}{ }{contact.middle_name}',
})

t.test('display and sort names follow the site\'s formats; a format with a token the bridge cannot render falls back to CiviCRM\'s default', async (t) => {
  t.same(renderNames({ firstName: 'Ann', middleName: 'M', lastName: 'Lee', email: 'Ann@X.org' }, site),
    { firstName: 'Ann', middleName: 'M', lastName: 'Lee', displayName: 'Ann Lee (Ann@X.org)', sortName: 'Lee, Ann M' })
  const custom = defaultSiteSettings({ prefixes: site.prefixes, displayNameFormat: '{contact.custom_3}{ }{contact.first_name}', sortNameFormat: '{contact.external_identifier}' })
  t.same(renderNames({ firstName: 'Paula', middleName: null, lastName: 'Prefixed', prefixId: 4, email: 'p@x.org' }, custom),
    { firstName: 'Paula', middleName: null, lastName: 'Prefixed', displayName: 'Dr. Paula Prefixed', sortName: 'Prefixed, Paula' })
})

t.test('a prefix or suffix id the site does not know renders as nothing', async (t) => {
  t.equal(renderNames({ firstName: 'Ann', middleName: null, lastName: 'Lee', prefixId: 99, suffixId: 1, email: 'a@x.org' }, site).displayName, 'Ann Lee (a@x.org)')
  t.equal(renderNames({ firstName: 'Ann', middleName: null, lastName: 'Lee', prefixId: 4, suffixId: 98, email: 'a@x.org' }, defaultSiteSettings({ prefixes: site.prefixes })).displayName, 'Dr. Ann Lee')
  t.equal(defaultSiteSettings().localTime(new Date('2026-03-04T05:06:07Z')), '2026-03-04 05:06:07', 'the default site is on UTC')
})

t.test('without a name, display_name and sort_name are the email as typed', async (t) => {
  const n = newContact('   ', ' X@Example.org ', defaultSiteSettings())
  t.equal(n.displayName, 'X@Example.org')
  t.equal(n.sortName, 'X@Example.org')
  t.equal(n.email, 'x@example.org', 'the email row is lowercased, as CiviCRM stores it')
  t.equal(n.firstName, null)
})

t.test('names are cut to the column sizes, by characters not bytes', async (t) => {
  const long = '😀'.repeat(100)
  const n = newContact(`${long} ${long}`, 'x@example.org', defaultSiteSettings())
  t.equal([...n.firstName!].length, 64)
  t.equal([...n.lastName!].length, 64)
  t.equal([...n.displayName].length, 128)
})

t.test('greetings are rendered as processGreetings does; an edit re-renders an option greeting, never a custom one', async (t) => {
  const g = defaultSiteSettings({
    prefixes: new Map([[4, 'Dr.']]),
    greetings: { email_greeting: new Map([[2, 'Dear {contact.individual_prefix} {contact.first_name} {contact.last_name}']]), postal_greeting: new Map([[1, 'Dear {contact.nick_name}{contact.custom_1}']]), addressee: new Map([[1, CIVICRM_DEFAULTS.greetings.addressee]]) },
  })
  const f = { firstName: 'Paula', middleName: null, lastName: 'Prefixed', prefixId: 4, email: 'p@x.org' }
  t.same(greetingsOnSave({ email_greeting: 2, postal_greeting: 1, addressee: 1 }, { email_greeting: null, postal_greeting: null, addressee: null }, f, g),
    { emailGreetingDisplay: 'Dear Dr. Paula Prefixed', postalGreetingDisplay: 'Dear Paula', addresseeDisplay: 'Dr. Paula Prefixed' }, 'an unrenderable token: CiviCRM\'s default greeting')
  t.same(greetingsOnSave({ email_greeting: 2, postal_greeting: null, addressee: 9 }, { email_greeting: 'Hi you', postal_greeting: null, addressee: null }, f, g), {})
})

t.test('the site\'s local time: an IANA zone or a fixed offset', async (t) => {
  const at = new Date('2026-07-01T10:00:00Z')
  t.equal(localTimeIn(parseTimeZone('Europe/Berlin')!)(at), '2026-07-01 12:00:00', 'summer time')
  t.equal(localTimeIn(parseTimeZone('Europe/Berlin')!)(new Date('2026-01-01T00:30:00Z')), '2026-01-01 01:30:00')
  t.equal(localTimeIn(parseTimeZone('-05:30')!)(at), '2026-07-01 04:30:00')
  t.equal(parseTimeZone('Mars/Olympus'), null)
  t.equal(parseTimeZone('+15:00'), null)
  t.equal(parseTimeZone('+02:60'), null)
})

t.test('emails are compared trimmed and lowercased', async (t) => {
  t.equal(normalizeEmail('  Ann@Example.ORG '), 'ann@example.org')
  t.equal(normalizeEmail(undefined), '')
})

t.test('an email that cannot be linked says why', async (t) => {
  t.equal(emailProblem(''), 'missing-email')
  t.equal(emailProblem('   '), 'missing-email')
  t.equal(emailProblem(null), 'missing-email')
  t.equal(emailProblem('not-an-email'), 'invalid-email')
  t.equal(emailProblem('a@b'), 'invalid-email')
  t.equal(emailProblem('a b@example.org'), 'invalid-email')
  t.equal(emailProblem('a..b@example.org'), 'invalid-email')
  t.equal(emailProblem('a\u0000b@example.org'), 'invalid-email')
  t.equal(emailProblem(`${'a'.repeat(60)}@${'b'.repeat(60)}.example.org`), 'email-too-long')
  t.equal(emailProblem(`${'a'.repeat(65)}@example.org`), 'invalid-email', 'PHP allows 64 characters before the @')
  t.equal(emailProblem('Ann@Example.org'), null)
})

t.test('logs see a masked email only', async (t) => {
  t.equal(maskEmail('ann@example.org'), 'a***@example.org')
  t.equal(maskEmail(''), '')
  t.equal(maskEmail('garbage'), '***')
})

t.test('every Joomla generation\'s event names are known, and nothing else', async (t) => {
  t.equal(EVENT_NAMES.length, 15, '12 user events of four generations and 3 CiviCRM page events')
  t.equal(eventEffect('onUserAfterSave'), 'link-on-save')
  t.equal(eventEffect('onAfterStoreUser'), 'link-on-save')
  t.equal(eventEffect('onLoginUser'), 'link-on-login')
  t.equal(eventEffect('onUserAfterDelete'), 'unlink')
  t.equal(eventEffect('onUserLogout'), 'acknowledge')
  t.equal(eventEffect('toString'), null)
  t.equal(eventEffect('onUserAfterSaveX'), null)
})

t.test('the first candidate not linked to another user wins', async (t) => {
  t.same(firstFreeCandidate([{ contactId: 1, linkedUfId: 9 }, { contactId: 2, linkedUfId: null }], 5), { contactId: 2, linkedUfId: null })
  t.same(firstFreeCandidate([{ contactId: 1, linkedUfId: 5 }], 5), { contactId: 1, linkedUfId: 5 })
  t.equal(firstFreeCandidate([{ contactId: 1, linkedUfId: 9 }], 5), null)
})

t.test('lock keys fall into a fixed set of stripes: stable, blind to an email\'s case and spaces, and spread', async (t) => {
  t.equal(lockKeys.user(42), lockKeys.user(42))
  t.equal(lockKeys.email(' Ann@Example.ORG '), lockKeys.email('ann@example.org'))
  t.match(lockKeys.user(1), /^s:[0-9]+$/)
  const users = new Set(Array.from({ length: 2000 }, (_, i) => lockKeys.user(i + 1)))
  const emails = new Set(Array.from({ length: 2000 }, (_, i) => lockKeys.email(`user${i}@example.org`)))
  t.ok([...users, ...emails].every((k) => Number(k.slice(2)) < LOCK_STRIPES), `every key is one of ${LOCK_STRIPES} stripes`)
  t.ok(users.size > LOCK_STRIPES * 0.9 && emails.size > LOCK_STRIPES * 0.9, 'consecutive ids and similar emails spread over the stripes')
})
