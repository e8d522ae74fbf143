// Server-rendered HTML of the admin pages: login, Synchronize Users to Contacts (button,
// confirm step, live progress, final message), Change Log and a contact's details. Plain,
// accessible HTML; every value is escaped; the only script is /admin/static/sync.js.
import type { ChangeRow, ContactDetails } from '../../data/admin-store.js'

import { escapeHtml, htmlDocument } from '../views/html.js'

export type { ChangeRow, ContactDetails }

// Every value that reaches the HTML goes through esc.
const esc = escapeHtml

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2327}
header{background:#1d2327;color:#fff;padding:.5rem 2rem}header a{color:#fff;margin-right:1.5rem}
header form{display:inline}header button{margin:0;padding:.2rem .8rem;background:#50575e}
main{max-width:52rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:6px;box-shadow:0 1px 3px #0002}
h1{font-size:1.5rem;margin-top:0}
label{display:block;font-weight:600;margin-top:1rem}
input{font:inherit;padding:.4rem;border:1px solid #8c8f94;border-radius:4px}
button,.button{display:inline-block;font:inherit;margin-top:1rem;padding:.5rem 1.25rem;background:#2271b1;color:#fff;border:0;border-radius:4px;cursor:pointer;text-decoration:none}
.secondary{background:#fff;color:#2271b1;border:1px solid #2271b1}
.error{background:#fcf0f1;border-left:4px solid #d63638;padding:.5rem 1rem}
.ok{background:#edfaef;border-left:4px solid #00a32a;padding:.5rem 1rem}
.notice{background:#fcf9e8;border-left:4px solid #dba617;padding:.5rem 1rem}
progress{width:100%;height:1.5rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #dcdcde}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}
.inline label{display:inline-block;margin-right:.5rem}
.visually-hidden{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
`

export function page (title: string, body: string, opts: { nav?: boolean, csrf?: string, scripts?: string[] } = {}): string {
  const nav = opts.nav === false
    ? ''
    : `<header><nav aria-label="Administration"><a href="/admin/sync">Synchronize Users to Contacts</a><a href="/admin/change-log">Change Log</a>
<form method="post" action="/admin/logout"><input type="hidden" name="_csrf" value="${esc(opts.csrf)}"><button type="submit">Log out</button></form></nav></header>\n`
  const head = (opts.scripts ?? []).map((s) => `<script src="${esc(s)}" defer></script>\n`).join('')
  return htmlDocument({ title, tabTitle: `${title} | CiviCRM bridge`, style: STYLE, head, header: nav, body })
}

export function loginPage (csrf: string, next: string, error: string | null): string {
  return page('Administrator login', `${error ? `<div class="error" role="alert"><p>${esc(error)}</p></div>` : ''}
<form method="post" action="/admin/login">
<input type="hidden" name="_csrf" value="${esc(csrf)}">
<input type="hidden" name="next" value="${esc(next)}">
<label for="token">Administrator token</label>
<input id="token" name="token" type="password" required autocomplete="current-password" size="50"${error ? ' aria-invalid="true"' : ''}>
<div><button type="submit">Log in</button></div>
</form>`, { nav: false })
}

const num = (n: number) => n.toLocaleString('en-US')
const dateTime = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })
/** "28 Nov 2026, 22:15 UTC": how an admin reads a time (stored times are UTC). */
export const humanTime = (iso: string | Date): string => `${dateTime.format(new Date(iso))} UTC`

/** A skipped user as the job page names them. */
export interface SkippedUser { id: number, username: string | null, name: string | null, reason: string }

/** Why a user was skipped, in words (the reasons the sync records). */
export function skipReason (reason: string): string {
  const holder = /^email-linked-to-user:([0-9]+)$/.exec(reason)
  if (holder) return `their email belongs to Joomla user ${holder[1]}, who is linked to a contact already`
  const words: Record<string, string> = {
    'missing-email': 'no email address',
    'invalid-email': 'the email address is not valid',
    'email-too-long': 'the email address is too long for CiviCRM',
    'duplicate-email': 'another user in the same batch has the same email address',
  }
  return words[reason] ?? reason
}

function skippedList (job: JobView, skipped: SkippedUser[]): string {
  if (skipped.length === 0) return ''
  const more = job.counts.skipped > skipped.length ? ` (the first ${num(skipped.length)} of ${num(job.counts.skipped)})` : ''
  return `<h2 id="skipped-heading">Skipped users${more}</h2>
<ul id="skipped-users" aria-labelledby="skipped-heading">${skipped.map((u) => `<li>${u.username === null ? `Joomla user ${u.id} (no longer in Joomla)` : `${esc(u.name)} (${esc(u.username)}, Joomla user ${u.id})`}: ${esc(skipReason(u.reason))}</li>`).join('')}</ul>`
}

/** A failed chunk, in words: what happened and what to do; the database's own words last. */
export const failureText = (job: Pick<JobView, 'done' | 'total' | 'error'>): string =>
  `The synchronization stopped after ${num(job.done)} of ${num(job.total)} users because of an error. Start it again: it resumes where it stopped. (Details: ${job.error})`

export interface JobView {
  id: number
  status: 'running' | 'done' | 'interrupted'
  done: number
  total: number
  percent: number
  counts: { checked: number, matched: number, created: number, skipped: number, skippedInvalid: number, skippedTaken: number }
  rate: number | null
  etaS: number | null
  message: string | null
  error: string | null
  startedAt: string
  finishedAt: string | null
}

function lastJob (job: JobView | null, skipped: SkippedUser[]): string {
  if (!job) return '<p>No synchronization has run yet.</p>'
  if (job.status === 'done') {
    return `<h2>Last synchronization</h2><div class="ok" role="status"><p>${esc(job.message)}</p></div>
<p>Finished ${esc(job.finishedAt === null ? 'at an unknown time' : humanTime(job.finishedAt))}. <a href="/admin/change-log?from=${esc(job.startedAt.slice(0, 10))}&amp;to=${esc((job.finishedAt ?? job.startedAt).slice(0, 10))}">See the contacts it created in the Change Log</a>.</p>
${skippedList(job, skipped)}`
  }
  return `<h2>Unfinished synchronization</h2><div class="notice" role="status"><p>Job ${job.id} (started ${esc(humanTime(job.startedAt))}) is ${job.status === 'running' ? 'running' : 'interrupted'}: ${num(job.done)} of ${num(job.total)} users checked.</p></div>
<p><a href="/admin/sync/jobs/${job.id}">Follow its progress</a>${job.status === 'interrupted' ? '; starting a synchronization resumes it' : ''}.</p>`
}

export function syncPage (latest: JobView | null, csrf: string, error: string | null, skipped: SkippedUser[] = []): string {
  return page('Synchronize Users to Contacts', `${error ? `<div class="error" role="alert"><p>${esc(error)}</p></div>` : ''}
<p>Synchronize Users to Contacts checks each Joomla user record for a CiviCRM contact record. A user already linked stays linked;
a user whose email belongs to an existing contact is linked to it; for any other user a new contact record is created.</p>
${lastJob(latest, skipped)}
<form method="get" action="/admin/sync/confirm"><button type="submit">Synchronize Users to Contacts</button></form>`, { csrf })
}

export function confirmPage (csrf: string): string {
  return page('Synchronize Users to Contacts', `<div class="notice" role="alert" id="confirm-message">
<p>This will create a CiviCRM contact record for every Joomla user who does not already have one, and link each user to their contact.
It may take a while on a large site; you can follow its progress, and an interrupted synchronization resumes where it stopped.</p>
<p><strong>Click OK to proceed.</strong></p></div>
<form method="post" action="/admin/sync/start">
<input type="hidden" name="_csrf" value="${esc(csrf)}">
<button type="submit">OK</button> <a class="button secondary" href="/admin/sync">Cancel</a>
</form>`, { csrf })
}

export function jobPage (job: JobView, csrf: string, skipped: SkippedUser[] = []): string {
  const finished = job.status === 'done'
  return page('Synchronize Users to Contacts', `<div id="sync-job" data-job-id="${job.id}" data-status="${esc(job.status)}">
<p id="sync-label">Job ${job.id}, started ${esc(humanTime(job.startedAt))}</p>
<progress id="sync-progress" aria-labelledby="sync-label" max="${Math.max(job.total, 1)}" value="${finished ? Math.max(job.total, 1) : job.done}">${job.percent}%</progress>
<p id="sync-status" role="status" aria-live="polite">${esc(statusLine(job))}</p>
<div id="sync-message" class="ok" role="status" aria-live="polite"${finished ? '' : ' hidden'}><p>${esc(job.message)}</p></div>
<div id="sync-error" class="error" role="alert"${job.error && !finished ? '' : ' hidden'}><p>${job.error ? esc(failureText(job)) : ''}</p></div>
<p id="sync-after"${finished ? '' : ' hidden'}><a href="/admin/change-log?from=${esc(job.startedAt.slice(0, 10))}&amp;to=${esc((job.finishedAt ?? new Date().toISOString()).slice(0, 10))}">Find the new contacts in the Change Log</a></p>
<noscript><p><a href="/admin/sync/jobs/${job.id}">Refresh</a> to see the progress.</p></noscript>
${finished ? skippedList(job, skipped) : ''}
</div>`, { csrf, scripts: ['/admin/static/sync.js'] })
}

/** The status sentence, the same as sync.js writes it. */
export function statusLine (job: JobView): string {
  if (job.status === 'done') return `Completed: ${num(job.done)} of ${num(job.total)} users checked.`
  if (job.status === 'interrupted') return `Interrupted after ${num(job.done)} of ${num(job.total)} users; start the synchronization again to resume.`
  const eta = job.etaS === null ? '' : `, about ${num(Math.ceil(job.etaS))} s left`
  return `${num(job.done)} of ${num(job.total)} users checked (${job.percent}%)${job.rate ? `, ${num(Math.round(job.rate))} users/s` : ''}${eta}.`
}

/** A contact's page in CiviCRM itself, when CIVICRM_BASE_URL says where CiviCRM is. */
export function civicrmContactUrl (base: string | null, id: number): string | null {
  if (base === null) return null
  return `${base}civicrm/contact/view${base.includes('?') ? '&' : '?'}reset=1&cid=${id}`
}

/** A civicrm_log row's data in words: CiviCRM writes `<table>,<id>` when it saves a record. */
export function logText (data: string | null): string {
  const m = /^civicrm_contact,([0-9]+)$/.exec(data ?? '')
  if (m) return `contact record ${m[1]} saved`
  return data === null || data === '' ? '(no details)' : data
}

export interface ChangeLogPaging { page: number, pageSize: number, civicrmBaseUrl: string | null }

export function changeLogPage (from: string, to: string, rows: ChangeRow[], total: number, error: string | null, csrf: string, paging: ChangeLogPaging): string {
  const pages = Math.max(1, Math.ceil(total / paging.pageSize))
  const first = (paging.page - 1) * paging.pageSize + 1
  const link = (page: number, text: string, rel: string) =>
    `<a rel="${rel}" href="/admin/change-log?from=${esc(from)}&amp;to=${esc(to)}&amp;page=${page}">${text}</a>`
  const pager = pages === 1
    ? ''
    : `<nav aria-label="Pages" id="change-pages"><p>Page ${num(paging.page)} of ${num(pages)}${paging.page > 1 ? ` ${link(paging.page - 1, 'Previous page', 'prev')}` : ''}${paging.page < pages ? ` ${link(paging.page + 1, 'Next page', 'next')}` : ''}</p></nav>`
  const civicrm = (id: number) => {
    const url = civicrmContactUrl(paging.civicrmBaseUrl, id)
    return url === null ? '' : ` <a href="${esc(url)}">in CiviCRM</a>`
  }
  const table = rows.length === 0
    ? `<p>${total === 0 ? 'No contact was created or modified in this window.' : `There is no page ${num(paging.page)}: ${num(total)} contacts fill ${num(pages)} pages.`}</p>`
    : `<p id="change-count">${num(total)} contact${total === 1 ? '' : 's'} created or modified${total > rows.length ? ` (${num(first)} to ${num(first + rows.length - 1)} shown)` : ''}.</p>
<table><caption class="visually-hidden">Contacts changed between ${esc(from)} and ${esc(to)}</caption>
<thead><tr><th scope="col">Contact</th><th scope="col">Type</th><th scope="col">Change</th><th scope="col">Email</th><th scope="col">Joomla user</th><th scope="col">Changed at (UTC)</th></tr></thead>
<tbody>
${rows.map((r) => `<tr><td><a href="/admin/contacts/${r.id}">${esc(r.displayName ?? `Contact ${r.id}`)}</a>${civicrm(r.id)}</td><td>${esc(r.contactType)}</td><td>${esc(r.change)}</td><td>${esc(r.email ?? '—')}</td><td>${r.user === null ? '—' : `User ${r.user.ufId}${r.user.ufName === null ? '' : ` (${esc(r.user.ufName)})`}`}</td><td>${esc(r.lastAt.toISOString().replace('T', ' ').slice(0, 19))}</td></tr>`).join('\n')}
</tbody></table>`
  return page('Change Log', `${error ? `<div class="error" role="alert"><p>${esc(error)}</p></div>` : ''}
<form method="get" action="/admin/change-log" class="inline">
<label for="from">Modified from</label><input id="from" name="from" type="date" value="${esc(from)}" required>
<label for="to">to</label><input id="to" name="to" type="date" value="${esc(to)}" required>
<button type="submit">Search</button>
</form>
${table}
${pager}`, { csrf })
}

export function contactPage (c: ContactDetails, csrf: string, civicrmBaseUrl: string | null = null): string {
  const dd = (v: unknown) => `<dd>${esc(v ?? '—')}</dd>`
  const inCivicrm = civicrmContactUrl(civicrmBaseUrl, c.id)
  return page(c.displayName ?? `Contact ${c.id}`, `<dl>
<dt>Contact id</dt>${dd(c.id)}
<dt>Type</dt>${dd(c.contactType)}
<dt>First name</dt>${dd(c.firstName)}
<dt>Middle name</dt>${dd(c.middleName)}
<dt>Last name</dt>${dd(c.lastName)}
<dt>Sort name</dt>${dd(c.sortName)}
<dt>Source</dt>${dd(c.source)}
<dt>Created</dt>${dd(c.createdDate ? humanTime(c.createdDate) : null)}
<dt>In the trash</dt>${dd(c.isDeleted ? 'yes' : 'no')}
</dl>
<h2>Emails</h2>
${c.emails.length === 0 ? '<p>None.</p>' : `<ul>${c.emails.map((e) => `<li>${esc(e.email)} (${esc(e.location ?? 'no location')}${e.isPrimary ? ', primary' : ''})</li>`).join('')}</ul>`}
<h2>Joomla user</h2>
${c.users.length === 0 ? '<p>Not linked to a user.</p>' : `<ul>${c.users.map((u) => `<li>User ${u.ufId} (${esc(u.ufName)})</li>`).join('')}</ul>`}
<h2>Change log</h2>
${c.log.length === 0 ? '<p>No entries.</p>' : `<ul>${c.log.map((l) => `<li>${esc(l.modifiedDate ? humanTime(l.modifiedDate) : 'no date')}: ${esc(logText(l.data))}</li>`).join('')}</ul>`}
<p>${inCivicrm === null ? '' : `<a href="${esc(inCivicrm)}">Open in CiviCRM</a> · `}<a href="/admin/change-log">Back to the Change Log</a></p>`, { csrf })
}

export function notFoundPage (what: string, csrf: string): string {
  return page('Not found', `<div class="error" role="alert"><p>${esc(what)}</p></div><p><a href="/admin/sync">Synchronize Users to Contacts</a></p>`, { csrf })
}

/** The live progress bar: polls the JSON progress API (helmet's CSP forbids inline scripts). */
export const SYNC_JS = `// Live progress of a Synchronize Users to Contacts job: polls /v1/admin/sync/jobs/<id>.
(function () {
  'use strict'
  var box = document.getElementById('sync-job')
  if (!box) return
  var id = box.getAttribute('data-job-id')
  var bar = document.getElementById('sync-progress')
  var status = document.getElementById('sync-status')
  var message = document.getElementById('sync-message')
  var error = document.getElementById('sync-error')
  var after = document.getElementById('sync-after')
  function num (n) { return n.toLocaleString('en-US') }
  function line (j) {
    if (j.status === 'done') return 'Completed: ' + num(j.done) + ' of ' + num(j.total) + ' users checked.'
    if (j.status === 'interrupted') return 'Interrupted after ' + num(j.done) + ' of ' + num(j.total) + ' users; start the synchronization again to resume.'
    return num(j.done) + ' of ' + num(j.total) + ' users checked (' + j.percent + '%)' + (j.rate ? ', ' + num(Math.round(j.rate)) + ' users/s' : '') + (j.etaS === null ? '' : ', about ' + num(Math.ceil(j.etaS)) + ' s left') + '.'
  }
  function failure (j) {
    return 'The synchronization stopped after ' + num(j.done) + ' of ' + num(j.total) + ' users because of an error. Start it again: it resumes where it stopped. (Details: ' + j.error + ')'
  }
  function show (j) {
    bar.max = Math.max(j.total, 1)
    bar.value = j.status === 'done' ? bar.max : j.done
    bar.textContent = j.percent + '%'
    box.setAttribute('data-status', j.status)
    if (status.textContent !== line(j)) status.textContent = line(j)
    if (j.status === 'done') {
      message.querySelector('p').textContent = j.message
      message.hidden = false
      after.hidden = false
      // The skipped users are named on the finished page.
      if (j.counts.skipped > 0) window.location.reload()
    }
    if (j.error && j.status !== 'done') {
      error.querySelector('p').textContent = failure(j)
      error.hidden = false
    }
  }
  function poll () {
    fetch('/v1/admin/sync/jobs/' + id, { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json() })
      .then(function (j) { show(j); if (j.status === 'running') setTimeout(poll, 500) })
      .catch(function () { setTimeout(poll, 2000) })
  }
  if (box.getAttribute('data-status') === 'running') poll()
})()
`
