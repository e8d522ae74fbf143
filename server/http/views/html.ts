// What every server-rendered page shares: the `html` template tag, which escapes every value
// put into it, and the document around a page's content. Escaping cannot be forgotten: a value
// is markup only when it is itself the result of `html` (a SafeHtml); a plain string, a number,
// anything else is escaped. A fragment written as a plain string by mistake shows up escaped
// on the page (and in the tests), never as markup.

export const escapeHtml = (v: unknown): string => String(v ?? '')
  .replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;')

/** Markup made by `html` (or `trusted` for the pages' own constant CSS). */
export class SafeHtml {
  constructor (readonly value: string) {}
  toString (): string { return this.value }
}

/** Escapes one interpolated value: markup passes, arrays are joined, null/undefined/false are nothing. */
function render (v: unknown): string {
  if (v instanceof SafeHtml) return v.value
  if (Array.isArray(v)) return v.map(render).join('')
  if (v === null || v === undefined || v === false) return ''
  return escapeHtml(v)
}

/** html`<p>${value}</p>`: every value escaped unless it is SafeHtml. */
export function html (strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]
  return new SafeHtml(out)
}

/** A constant of the code (never a value from a request or the database) used as markup. */
export const trusted = (constant: string): SafeHtml => new SafeHtml(constant)

/** What a whole page is made of. */
export interface HtmlDocument { title: string, tabTitle?: string, style: SafeHtml, head?: SafeHtml, header?: SafeHtml, body: SafeHtml }

/** A whole page: `title` in the tab and as the heading, `head` and `header` as given (markup). */
export function htmlDocument (p: HtmlDocument): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${p.tabTitle ?? p.title}</title>
<style>${p.style}</style>
${p.head}</head>
<body>
${p.header}<main>
<h1>${p.title}</h1>
${p.body}
</main>
</body>
</html>
`.value
}
