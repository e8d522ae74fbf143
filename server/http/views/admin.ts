// Server-rendered HTML of the admin pages: login, Synchronize Users to Contacts (button,
// confirm step, live progress, final message), Change Log and a contact's details. Plain,
// accessible HTML built with the `html` tag (every value escaped); the only script is the
// static file /admin/static/sync.js (static/sync.js beside this file).
import type { ChangeRow, ContactDetails } from '../../services/admin-service.js'
import type { EmailProblem } from '../../domain/email.js'
import { html, htmlDocument, trusted, type SafeHtml } from './html.js'

export type { ChangeRow, ContactDetails }

const STYLE = trusted(`
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2327}
header{background:#1d2327;color:#fff;padding:.5rem 2rem}header a{color:#fff;margin-right:1.5rem}
header form{display:inline}header button{margin:0;padding:.2rem .8rem;background:#50575e}
main{max-width:52rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:6px;box-shadow:0 1px 3px #0002}
h1{font-size:1.5rem;margin-top:0}
label{display:block;font-weight:600;margin-top:1rem}
input{font:inherit;padding:.4rem;border:1px solid #8c8f94;border-radius:4px}
button,.button{display:inline-block;font:inherit;margin-top:1rem;padding:.5rem 1.25rem;background:#2271b1;color:#fff;border:0;
  border-radius:4px;cursor:pointer;text-decoration:none}
.secondary{background:#fff;color:#2271b1;border:1px solid #2271b1}
.error{background:#fcf0f1;border-left:4px solid #d63638;padding:.5rem 1rem}
.ok{background:#edfaef;border-left:4px solid #00a32a;padding:.5rem 1rem}
.notice{background:#fcf9e8;border-left:4px solid #dba617;padding:.5rem 1rem}
progress{width:100%;height:1.5rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #dcdcde}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}
.inline label{display:inline-block;margin-right:.5rem}
.visually-hidden{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;
  border:0}
`)

export function page (title: string, body: SafeHtml, opts: { nav?: boolean, csrf?: string, scripts?: string[] } = {}): string {
  const links = html`<a href="/admin/sync">Synchronize Users to Contacts</a><a href="/admin/change-log">Change Log</a>`
  const csrf = html`<input type="hidden" name="_csrf" value="${opts.csrf}">`
  const nav = opts.nav === false
    ? html``
    : html`<header><nav aria-label="Administration">${links}
<form method="post" action="/admin/logout">${csrf}<button type="submit">Log out</button></form></nav></header>\n`
  const head = (opts.scripts ?? []).map((s) => html`<script src="${s}" defer></script>\n`)
  return htmlDocument({ title, tabTitle: `${title} | CiviCRM bridge`, style: STYLE, head: html`${head}`, header: nav, body })
}

const errorBox = (error: string | null) => error ? html`<div class="error" role="alert"><p>${error}</p></div>` : null

export function loginPage (csrf: string, next: string, error: string | null): string {
  const invalid = error ? html` aria-invalid="true"` : null
  return page('Administrator login', html`${errorBox(error)}
<form method="post" action="/admin/login">
<input type="hidden" name="_csrf" value="${csrf}">
<input type="hidden" name="next" value="${next}">
<label for="token">Administrator token</label>
<input id="token" name="token" type="password" required autocomplete="current-password" size="50"${invalid}>
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
  // Keyed by the email problems' type (domain/email.ts EMAIL_PROBLEMS): a new one cannot go without its words.
  const words: Record<EmailProblem | 'duplicate-email', string> = {
    'missing-email': 'no email address',
    'invalid-email': 'the email address is not valid',
    'email-too-long': 'the email address is too long for CiviCRM',
    'duplicate-email': 'another user in the same batch has the same email address',
  }
  return (words as Record<string, string>)[reason] ?? reason
}

function skippedList (job: JobView, skipped: SkippedUser[]): SafeHtml | null {
  if (skipped.length === 0) return null
  const more = job.counts.skipped > skipped.length ? ` (the first ${num(skipped.length)} of ${num(job.counts.skipped)})` : ''
  const named = (u: SkippedUser) =>
    u.username === null ? `Joomla user ${u.id} (no longer in Joomla)` : `${u.name} (${u.username}, Joomla user ${u.id})`
  const items = skipped.map((u) => html`<li>${named(u)}: ${skipReason(u.reason)}</li>`)
  return html`<h2 id="skipped-heading">Skipped users${more}</h2>
<ul id="skipped-users" aria-labelledby="skipped-heading">${items}</ul>`
}

/** A failed chunk, in words: what happened and what to do; the database's own words last. */
export const failureText = (job: Pick<JobView, 'done' | 'total' | 'error'>): string =>
  `The synchronization stopped after ${num(job.done)} of ${num(job.total)} users because of an error. ` +
  `Start it again: it resumes where it stopped. (Details: ${job.error})`

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

/** The Change Log's address for the days a job ran (until `end` when it has not finished). */
const changeLogUrl = (job: JobView, end: string) =>
  `/admin/change-log?from=${job.startedAt.slice(0, 10)}&to=${(job.finishedAt ?? end).slice(0, 10)}`

function lastJob (job: JobView | null, skipped: SkippedUser[]): SafeHtml {
  if (!job) return html`<p>No synchronization has run yet.</p>`
  if (job.status === 'done') {
    const finished = job.finishedAt === null ? 'at an unknown time' : humanTime(job.finishedAt)
    return html`<h2>Last synchronization</h2><div class="ok" role="status"><p>${job.message}</p></div>
<p>Finished ${finished}. <a href="${changeLogUrl(job, job.startedAt)}">See the contacts it created in the Change Log</a>.</p>
${skippedList(job, skipped)}`
  }
  const state = `Job ${job.id} (started ${humanTime(job.startedAt)}) is ${job.status === 'running' ? 'running' : 'interrupted'}: ` +
    `${num(job.done)} of ${num(job.total)} users checked.`
  const resume = job.status === 'interrupted' ? '; starting a synchronization resumes it' : ''
  return html`<h2>Unfinished synchronization</h2><div class="notice" role="status"><p>${state}</p></div>
<p><a href="/admin/sync/jobs/${job.id}">Follow its progress</a>${resume}.</p>`
}

export function syncPage (latest: JobView | null, csrf: string, error: string | null, skipped: SkippedUser[] = []): string {
  return page('Synchronize Users to Contacts', html`${errorBox(error)}
<p>Synchronize Users to Contacts checks each Joomla user record for a CiviCRM contact record. A user already linked stays linked;
a user whose email belongs to an existing contact is linked to it; for any other user a new contact record is created.</p>
${lastJob(latest, skipped)}
<form method="get" action="/admin/sync/confirm"><button type="submit">Synchronize Users to Contacts</button></form>`, { csrf })
}

export function confirmPage (csrf: string): string {
  return page('Synchronize Users to Contacts', html`<div class="notice" role="alert" id="confirm-message">
<p>This will create a CiviCRM contact record for every Joomla user who does not already have one, and link each user to their contact.
It may take a while on a large site; you can follow its progress, and an interrupted synchronization resumes where it stopped.</p>
<p><strong>Click OK to proceed.</strong></p></div>
<form method="post" action="/admin/sync/start">
<input type="hidden" name="_csrf" value="${csrf}">
<button type="submit">OK</button> <a class="button secondary" href="/admin/sync">Cancel</a>
</form>`, { csrf })
}

export function jobPage (job: JobView, csrf: string, skipped: SkippedUser[] = []): string {
  const finished = job.status === 'done'
  const hidden = (shown: boolean) => shown ? null : html` hidden`
  const max = Math.max(job.total, 1)
  const now = new Date().toISOString()
  const failure = job.error ? failureText(job) : null
  return page('Synchronize Users to Contacts', html`<div id="sync-job" data-job-id="${job.id}" data-status="${job.status}">
<p id="sync-label">Job ${job.id}, started ${humanTime(job.startedAt)}</p>
<progress id="sync-progress" aria-labelledby="sync-label" max="${max}" value="${finished ? max : job.done}">${job.percent}%</progress>
<p id="sync-status" role="status" aria-live="polite">${statusLine(job)}</p>
<div id="sync-message" class="ok" role="status" aria-live="polite"${hidden(finished)}><p>${job.message}</p></div>
<div id="sync-error" class="error" role="alert"${hidden(job.error !== null && !finished)}><p>${failure}</p></div>
<p id="sync-after"${hidden(finished)}><a href="${changeLogUrl(job, now)}">Find the new contacts in the Change Log</a></p>
<noscript><p><a href="/admin/sync/jobs/${job.id}">Refresh</a> to see the progress.</p></noscript>
${finished ? skippedList(job, skipped) : null}
</div>`, { csrf, scripts: ['/admin/static/sync.js'] })
}

/** The status sentence, the same as sync.js writes it. */
export function statusLine (job: JobView): string {
  if (job.status === 'done') return `Completed: ${num(job.done)} of ${num(job.total)} users checked.`
  if (job.status === 'interrupted') {
    return `Interrupted after ${num(job.done)} of ${num(job.total)} users; start the synchronization again to resume.`
  }
  const rate = job.rate ? `, ${num(Math.round(job.rate))} users/s` : ''
  const eta = job.etaS === null ? '' : `, about ${num(Math.ceil(job.etaS))} s left`
  return `${num(job.done)} of ${num(job.total)} users checked (${job.percent}%)${rate}${eta}.`
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

const CHANGE_LOG_HEAD = html`<thead><tr><th scope="col">Contact</th><th scope="col">Type</th><th scope="col">Change</th>\
<th scope="col">Email</th><th scope="col">Joomla user</th><th scope="col">Changed at (UTC)</th></tr></thead>`

export function changeLogPage (
  from: string, to: string, rows: ChangeRow[], total: number, error: string | null, csrf: string, paging: ChangeLogPaging
): string {
  const pages = Math.max(1, Math.ceil(total / paging.pageSize))
  const first = (paging.page - 1) * paging.pageSize + 1
  const link = (page: number, text: string, rel: string) =>
    html` <a rel="${rel}" href="/admin/change-log?from=${from}&amp;to=${to}&amp;page=${page}">${text}</a>`
  const previous = paging.page > 1 ? link(paging.page - 1, 'Previous page', 'prev') : null
  const next = paging.page < pages ? link(paging.page + 1, 'Next page', 'next') : null
  const pager = pages === 1
    ? null
    : html`<nav aria-label="Pages" id="change-pages"><p>Page ${num(paging.page)} of ${num(pages)}${previous}${next}</p></nav>`
  const civicrm = (id: number) => {
    const url = civicrmContactUrl(paging.civicrmBaseUrl, id)
    return url === null ? null : html` <a href="${url}">in CiviCRM</a>`
  }
  // The user's email in CiviCRM (uf_name) is NULL-able.
  const user = (u: ChangeRow['user']) => u === null ? '—' : `User ${u.ufId}${u.ufName === null ? '' : ` (${u.ufName})`}`
  const row = (r: ChangeRow) => {
    const contact = html`<a href="/admin/contacts/${r.id}">${r.displayName ?? `Contact ${r.id}`}</a>${civicrm(r.id)}`
    const at = r.lastAt.toISOString().replace('T', ' ').slice(0, 19)
    return html`<tr><td>${contact}</td><td>${r.contactType}</td><td>${r.change}</td><td>${r.email ?? '—'}</td>\
<td>${user(r.user)}</td><td>${at}</td></tr>`
  }
  const none = total === 0
    ? 'No contact was created or modified in this window.'
    : `There is no page ${num(paging.page)}: ${num(total)} contacts fill ${num(pages)} pages.`
  const shown = total > rows.length ? ` (${num(first)} to ${num(first + rows.length - 1)} shown)` : ''
  const table = rows.length === 0
    ? html`<p>${none}</p>`
    : html`<p id="change-count">${num(total)} contact${total === 1 ? '' : 's'} created or modified${shown}.</p>
<table><caption class="visually-hidden">Contacts changed between ${from} and ${to}</caption>
${CHANGE_LOG_HEAD}
<tbody>
${rows.map((r, i) => html`${i > 0 ? '\n' : ''}${row(r)}`)}
</tbody></table>`
  return page('Change Log', html`${errorBox(error)}
<form method="get" action="/admin/change-log" class="inline">
<label for="from">Modified from</label><input id="from" name="from" type="date" value="${from}" required>
<label for="to">to</label><input id="to" name="to" type="date" value="${to}" required>
<button type="submit">Search</button>
</form>
${table}
${pager}`, { csrf })
}

export function contactPage (c: ContactDetails, csrf: string, civicrmBaseUrl: string | null = null): string {
  const dd = (v: unknown) => html`<dd>${v ?? '—'}</dd>`
  const inCivicrm = civicrmContactUrl(civicrmBaseUrl, c.id)
  const openInCivicrm = inCivicrm === null ? null : html`<a href="${inCivicrm}">Open in CiviCRM</a> · `
  /** A list of items in words, or a sentence when there is none. */
  const list = <T>(items: T[], none: string, text: (item: T) => string) =>
    items.length === 0 ? html`<p>${none}</p>` : html`<ul>${items.map((item) => html`<li>${text(item)}</li>`)}</ul>`
  return page(c.displayName ?? `Contact ${c.id}`, html`<dl>
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
${list(c.emails, 'None.', (e) => `${e.email} (${e.location ?? 'no location'}${e.isPrimary ? ', primary' : ''})`)}
<h2>Joomla user</h2>
${list(c.users, 'Not linked to a user.', (u) => `User ${u.ufId} (${u.ufName})`)}
<h2>Change log</h2>
${list(c.log, 'No entries.', (l) => `${l.modifiedDate ? humanTime(l.modifiedDate) : 'no date'}: ${logText(l.data)}`)}
<p>${openInCivicrm}<a href="/admin/change-log">Back to the Change Log</a></p>`, { csrf })
}

export function notFoundPage (what: string, csrf: string): string {
  const body = html`<div class="error" role="alert"><p>${what}</p></div><p><a href="/admin/sync">Synchronize Users to Contacts</a></p>`
  return page('Not found', body, { csrf })
}
