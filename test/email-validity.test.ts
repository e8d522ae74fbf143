// CiviCRM's email validity is PHP's filter_var(FILTER_VALIDATE_EMAIL) (CRM_Utils_Rule::email):
// the bridge's isPhpValidEmail is checked against PHP itself (php-cli, a test requirement) on
// generated addresses, and on the addresses CiviCRM refuses that a looser rule would link.
import t from 'tap'
import fc from 'fast-check'
import { execFileSync } from 'node:child_process'
import { PROBLEMS_KEPT, emailProblem, isPhpValidEmail } from '../server/domain/email.js'

/** PHP's verdict on each email, in one php-cli run. */
function phpVerdicts (emails: string[]): boolean[] {
  const script = '$o = []; foreach (json_decode(stream_get_contents(STDIN)) as $e) $o[] = filter_var($e, FILTER_VALIDATE_EMAIL) !== false; echo json_encode($o);'
  return JSON.parse(execFileSync('php', ['-r', script], { input: JSON.stringify(emails) }).toString()) as boolean[]
}

const REFUSED_BY_CIVICRM = ['ann@exämple.org', '.dot@example.org', 'dot.@example.org', 'x@-example.org', 'x@ex_ample.org']

t.test('CiviCRM refuses ann@exämple.org, .dot@, dot.@, x@-example.org and x@ex_ample.org: so does the bridge, with the reason invalid-email', async (t) => {
  t.same(phpVerdicts(REFUSED_BY_CIVICRM), REFUSED_BY_CIVICRM.map(() => false), 'PHP refuses them')
  for (const e of REFUSED_BY_CIVICRM) t.equal(emailProblem(e), 'invalid-email', e)
  t.equal(emailProblem('Ann@Example.ORG'), null, 'case does not matter')
})

t.test('isPhpValidEmail agrees with PHP\'s filter_var on generated addresses (property)', async (t) => {
  const part = (alphabet: string, maxLength: number) => fc.array(fc.constantFrom(...alphabet), { maxLength }).map((a) => a.join(''))
  const any = 'abXY09.-_@"\\ []:!#+/=?^`{|}~\'(),;\tä\r\n'
  const gen = fc.oneof(
    part(any, 24),
    fc.tuple(part(any, 12), part(any, 12)).map(([a, b]) => `${a}@${b}`),
    fc.tuple(part('ab.-_"+', 8), part('ab.-_0', 10), fc.constantFrom('org', 'o', 'xn--p1ai', '0rg', 'or-g')).map(([a, b, tld]) => `${a}@${b}.${tld}`),
    fc.tuple(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 0, max: 260 })).map(([a, b, c]) => `${'a'.repeat(a)}@${'b'.repeat(b)}.${'c.'.repeat(c)}org`),
    fc.tuple(fc.nat(255), fc.nat(999), fc.constantFrom('', 'IPv6:', 'IPv6::')).map(([a, b, p]) => `x@[${p}${a}.${b}.1.2]`)
  )
  const samples = [...fc.sample(gen, { numRuns: 4000, seed: 16 }), ...fc.sample(gen, 2000)]
  const php = phpVerdicts(samples)
  const differ = samples.filter((s, i) => isPhpValidEmail(s) !== php[i])
  t.same(differ, [], 'no address on which the bridge and PHP disagree')
  t.ok(php.filter(Boolean).length > 300, 'the samples hold valid addresses too')
})

t.test('emailProblem gives the same answers once remembered, and after its memory filled and was cleared', async (t) => {
  const emails = ['Ann@Example.ORG', 'x@ex_ample.org', '', `${'a'.repeat(60)}@${'b'.repeat(40)}.${'c'.repeat(40)}.org`]
  const first = emails.map(emailProblem)
  t.same(first, [null, 'invalid-email', 'missing-email', 'email-too-long'])
  t.same(emails.map(emailProblem), first, 'asked again')
  for (let i = 0; i <= PROBLEMS_KEPT; i++) emailProblem(`user${i}@example.org`)
  t.same(emails.map(emailProblem), first, 'after more emails than it keeps')
})
