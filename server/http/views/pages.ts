// Server-rendered HTML of "Edit my details": plain, accessible forms (labels, required
// fields, an error summary announced to screen readers), no script. Built with the `html` tag:
// every value is escaped.
import { escapeHtml, html, htmlDocument, trusted, type SafeHtml } from './html.js'

export { escapeHtml }

const STYLE = trusted(`
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2327}
main{max-width:36rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:6px;box-shadow:0 1px 3px #0002}
h1{font-size:1.5rem;margin-top:0}
label{display:block;font-weight:600;margin-top:1rem}
input{font:inherit;padding:.4rem;width:100%;box-sizing:border-box;border:1px solid #8c8f94;border-radius:4px}
button{font:inherit;margin-top:1.5rem;padding:.5rem 1.25rem;background:#2271b1;color:#fff;border:0;border-radius:4px;cursor:pointer}
.error{background:#fcf0f1;border-left:4px solid #d63638;padding:.5rem 1rem}
.ok{background:#edfaef;border-left:4px solid #00a32a;padding:.5rem 1rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}
header.site{max-width:36rem;margin:1rem auto 0;padding:0 2rem}
`)

// Where the site's name and link go; filled in by withSite (the pages' one way out), so that
// no view needs the site passed along. A value in a page is escaped, so it cannot forge this.
const SITE_SLOT = '<!--site-->'

function layout (title: string, body: SafeHtml): string {
  return htmlDocument({ title, style: STYLE, header: trusted(SITE_SLOT), body })
}

/** The Joomla site the person came from (JOOMLA_SITE_NAME, JOOMLA_SITE_URL). */
export interface Site { name: string | null, url: string | null }

/** The page with the site's name, and a link back to it, at the top and in the tab's title. */
export function withSite (page: string, site: Site): string {
  const name = site.name ?? (site.url === null ? null : new URL(site.url).host)
  if (name === null) return page.replace(SITE_SLOT, '')
  const link = site.url === null ? html`<strong>${name}</strong>` : html`<a href="${site.url}">Back to ${name}</a>`
  const header = html`<header class="site"><p>${link}</p></header>\n`.value
  // The title as the page has it (escaped already), then the site's name.
  const titled = page.replace(/<title>([^<]*)<\/title>/, (_m, t: string) => `<title>${t} | ${escapeHtml(name)}</title>`)
  return titled.replace(SITE_SLOT, header)
}

export interface FieldError { field: string, message: string }

/** Field errors name the field as its label says. */
const LABELS: Record<string, string> = { email: 'Email', first_name: 'First name', last_name: 'Last name' }

/**
 * "Email is required": the field's label, then what is wrong (a field without a label keeps the
 * message as it is).
 */
export function fieldErrorText (error: FieldError): string {
  const label = LABELS[error.field]
  return label === undefined ? error.message : `${label} ${error.message.replace(/^[\w.]+: /, '')}`
}

function errorSummary (error: FieldError | null): SafeHtml | null {
  if (!error) return null
  const link = html`<a href="#${error.field}">${fieldErrorText(error)}</a>`
  return html`<div class="error" role="alert" id="form-error"><p>Please correct this: ${link}</p></div>`
}

interface InputOptions { type?: string, required?: boolean, autocomplete: string, error?: FieldError | null }

function input (name: string, label: string, value: string | null, opts: InputOptions): SafeHtml {
  const invalid = opts.error?.field === name ? html` aria-invalid="true" aria-describedby="form-error"` : null
  const required = opts.required ? html` required` : null
  return html`<label for="${name}">${label}${opts.required ? html` <span aria-hidden="true">*</span>` : null}</label>
<input id="${name}" name="${name}" type="${opts.type ?? 'text'}" value="${value}"${required} autocomplete="${opts.autocomplete}"${invalid}>`
}

export type Values = Record<string, string | null | undefined>

/** Form fields, one a line. */
const lines = (parts: SafeHtml[]): SafeHtml => html`${parts.map((p, i) => html`${i > 0 ? '\n' : ''}${p}`)}`

const form = (action: string, csrf: string, fields: SafeHtml, submit: string): SafeHtml =>
  html`<form method="post" action="${action}" novalidate>
<input type="hidden" name="_csrf" value="${csrf}">
${fields}
<button type="submit">${submit}</button>
</form>`

export function profileForm (p: { title: string, action: string, csrf: string, values: Values, error?: FieldError | null }): string {
  const error = p.error ?? null
  return layout(p.title, html`${errorSummary(error)}
<p>Edit your details as this site's CiviCRM holds them.</p>
${form(p.action, p.csrf, lines([
    input('first_name', 'First name', p.values.first_name ?? null, { autocomplete: 'given-name', error }),
    input('last_name', 'Last name', p.values.last_name ?? null, { autocomplete: 'family-name', error }),
    input('email', 'Email', p.values.email ?? null, { type: 'email', required: true, autocomplete: 'email', error }),
  ]), 'Save')}`)
}

export interface SavedProfile { title: string, editUrl: string, firstName: string | null, lastName: string | null, email: string | null }

export function profileSaved (p: SavedProfile): string {
  return layout(p.title, html`<div class="ok" role="status"><p>Your details have been saved.</p></div>
<dl><dt>First name</dt><dd>${p.firstName}</dd><dt>Last name</dt><dd>${p.lastName}</dd><dt>Email</dt><dd>${p.email}</dd></dl>
<p><a href="${p.editUrl}">Edit again</a></p>`)
}

export function errorPage (title: string, message: string, advice: string): string {
  return layout(title, html`<div class="error" role="alert"><p>${message}</p></div>\n<p>${advice}</p>`)
}

/**
 * Where a sign-in link lands: it names the account and waits for the person's click. Only that
 * same-site POST opens the session, so a link made by someone else and opened here (login
 * CSRF) shows whose account it is and signs nobody in.
 */
export function continuePage (p: { csrf: string, assertion: string, to: string, name: string, email: string }): string {
  const shownAs = p.name || p.email
  const email = p.name ? ` (${p.email})` : ''
  return layout('Continue to your details', html`<p>You are about to continue as <strong>${shownAs}</strong>${email}.</p>
<form method="post" action="/civicrm/session">
<input type="hidden" name="_csrf" value="${p.csrf}">
<input type="hidden" name="assertion" value="${p.assertion}">
<input type="hidden" name="to" value="${p.to}">
<button type="submit">Continue as ${shownAs}</button>
</form>
<p class="hint">Not you? Do not continue: close this page and sign in to the site with your own account.</p>`)
}
