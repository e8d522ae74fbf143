// The framework-free rules: names, emails, event names, candidate choice.
import t from 'tap'
import { splitName, contactNames } from '../server/domain/names.js'
import { emailProblem, maskEmail, normalizeEmail } from '../server/domain/email.js'
import { eventEffect, EVENT_NAMES } from '../server/domain/events.js'
import { firstFreeCandidate, lockKeys, LOCK_STRIPES } from '../server/domain/link-user.js'

t.test('a name is split as CiviCRM does, but a long name keeps every word', async (t) => {
  t.same(splitName('Ann'), { first: 'Ann', middle: '', last: '' })
  t.same(splitName('Ann Lee'), { first: 'Ann', middle: '', last: 'Lee' })
  t.same(splitName('Ann Marie Lee'), { first: 'Ann', middle: 'Marie', last: 'Lee' })
  t.same(splitName('  Jan   van der   Berg '), { first: 'Jan', middle: 'van der', last: 'Berg' })
  t.same(splitName(''), { first: '', middle: '', last: '' })
  t.same(splitName(null), { first: '', middle: '', last: '' })
})

t.test('display_name is "First Last" and sort_name "Last, First"', async (t) => {
  t.same(contactNames('Jan van der Berg', 'jan@example.org'), {
    firstName: 'Jan', middleName: 'van der', lastName: 'Berg', displayName: 'Jan Berg', sortName: 'Berg, Jan',
  })
  t.same(contactNames('Cher', 'cher@example.org'), { firstName: 'Cher', middleName: null, lastName: null, displayName: 'Cher', sortName: 'Cher' })
})

t.test('without a name, display_name and sort_name are the email', async (t) => {
  const n = contactNames('   ', 'x@example.org')
  t.equal(n.displayName, 'x@example.org')
  t.equal(n.sortName, 'x@example.org')
  t.equal(n.firstName, null)
})

t.test('names are cut to the column sizes, by characters not bytes', async (t) => {
  const long = '😀'.repeat(100)
  const n = contactNames(`${long} ${long}`, 'x@example.org')
  t.equal([...n.firstName!].length, 64)
  t.equal([...n.lastName!].length, 64)
  t.equal([...n.displayName].length, 128)
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
  t.equal(emailProblem(`${'a'.repeat(120)}@example.org`), 'email-too-long')
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
