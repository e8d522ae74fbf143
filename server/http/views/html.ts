// What every server-rendered page shares: escaping and the document around its content.

export const escapeHtml = (v: unknown): string => String(v ?? '')
  .replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;')

/** A whole page: `title` in the tab and as the heading, `head` and `header` as given (already HTML). */
export function htmlDocument (p: { title: string, tabTitle?: string, style: string, head?: string, header?: string, body: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(p.tabTitle ?? p.title)}</title>
<style>${p.style}</style>
${p.head ?? ''}</head>
<body>
${p.header ?? ''}<main>
<h1>${escapeHtml(p.title)}</h1>
${p.body}
</main>
</body>
</html>
`
}
