// Two bridge processes on one database, hammered with concurrent events for the same new
// users: one contact and one link per user, and every caller gets a 200.
import t from 'tap'
import { signEvent } from '../server/protocol/sign.js'
import { testDatabase, eventBody, SECRET, SITE } from './helper.js'
import { startBridge } from './fault-helper.js'

t.test('concurrent events for new emails across two processes: one contact and one link per user, no error', async (t) => {
  const db = await testDatabase(t)
  const [a, b] = (await Promise.all([startBridge(t, db.url), startBridge(t, db.url)])).map((bridge) => bridge.url)
  const requests: Array<Promise<Response>> = []
  const users = Array.from({ length: 10 }, (_, i) => ({ id: 100 + i, email: `race${i}@example.org`, name: `Race User${i}` }))
  // 50 events for user 100 plus 5 for each other user, alternating processes and event types.
  const events = [...Array.from({ length: 50 }, () => users[0]), ...users.slice(1).flatMap((u) => Array.from({ length: 5 }, () => u))]
  events.forEach((u, i) => {
    const body = eventBody({ event: i % 3 === 0 ? 'onUserLogin' : 'onUserAfterSave', user: u, isNew: i % 3 !== 0 })
    const signed = signEvent(SECRET, SITE, body)
    requests.push(fetch(`${i % 2 ? a : b}/v1/joomla/events`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${signed.token}` }, body }))
  })
  const responses = await Promise.all(requests)
  t.same([...new Set(responses.map((r) => r.status))], [200], 'every caller got a 200')
  const actions = await Promise.all(responses.map(async (r) => (await r.json()).action))
  t.equal(actions.filter((x) => x === 'created-contact').length, users.length, 'one creation per user')
  t.same(await db.rows('SELECT COUNT(*) AS n FROM civicrm_contact WHERE contact_type = "Individual"'), [{ n: users.length }])
  t.same(await db.rows('SELECT COUNT(*) AS n, COUNT(DISTINCT uf_id) AS users, COUNT(DISTINCT contact_id) AS contacts FROM civicrm_uf_match'), [{ n: 10, users: 10, contacts: 10 }])
  t.same(await db.rows('SELECT COUNT(*) AS n FROM civicrm_email'), [{ n: users.length }], 'no duplicate email rows')
  t.same(await db.rows('SELECT COUNT(*) AS n FROM civicrm_log'), [{ n: users.length }])
})
