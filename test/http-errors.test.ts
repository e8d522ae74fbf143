// The one mapping from errors to HTTP answers (server/http/errors.ts): statuses and headers.
import t from 'tap'
import { CannotLink, DatabaseUnavailableError, InvalidInput, SyncBusyError } from '../server/errors.js'
import { httpHeaders, httpStatus, RETRY_AFTER_S } from '../server/http/errors.js'

t.test('an unavailable database is 503 with Retry-After, whatever says so; other errors carry no header', async (t) => {
  for (const err of [new DatabaseUnavailableError('down'), Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })]) {
    t.equal(httpStatus(err), 503, err.message)
    t.same(httpHeaders(err), { 'retry-after': String(RETRY_AFTER_S) }, err.message)
  }
  for (const [err, status] of [
    [new InvalidInput('email', 'bad'), 400], [new CannotLink('taken'), 409], [new SyncBusyError('busy', null), 409],
    [Object.assign(new Error('dup'), { code: 'ER_DUP_ENTRY' }), 409], [new Error('bug'), 500],
  ] as const) {
    t.equal(httpStatus(err), status, err.message)
    t.same(httpHeaders(err), {}, err.message)
  }
})
