// A browser's cookie jar over Fastify's inject, enough for the server-rendered pages: it keeps
// the cookies the pages set and posts forms with their CSRF token.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'

export class CookieJar {
  readonly cookies = new Map<string, string>()
  /** `extra`: headers sent with every request (a proxy's X-Forwarded-*, a browser's Origin). */
  constructor (protected readonly app: FastifyInstance, readonly extra: Record<string, string> = {}) {}

  private keep (res: LightMyRequestResponse) {
    for (const c of res.cookies) {
      if (c.maxAge === 0 || c.value === '') this.cookies.delete(c.name)
      else this.cookies.set(c.name, c.value)
    }
    return res
  }

  get header () { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') }
  async get (url: string) {
    return this.keep(await this.app.inject({ method: 'GET', url, headers: { ...this.extra, cookie: this.header } }))
  }

  async post (url: string, form: Record<string, string>, headers: Record<string, string> = {}) {
    const all = { ...this.extra, ...headers, cookie: this.header, 'content-type': 'application/x-www-form-urlencoded' }
    return this.keep(await this.app.inject({ method: 'POST', url, payload: new URLSearchParams(form).toString(), headers: all }))
  }

  /**
   * Follows a sign-in link as a person does: opens it, then clicks "Continue as …" (the page's
   * POST). Returns the page when it has no such button.
   */
  async arrive (url: string) {
    const page = await this.get(url)
    if (!page.body.includes('action="/civicrm/session"')) return page
    const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(page.body)![1].replaceAll('&amp;', '&')
    return this.post('/civicrm/session', { _csrf: field('_csrf'), assertion: field('assertion'), to: field('to') })
  }

  /** GETs the page holding the form (formUrl), then posts it to url with the page's CSRF token ('' when it has none) and these fields. */
  async submit (url: string, form: Record<string, string> = {}, formUrl = url) {
    const page = await this.get(formUrl)
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)
    return this.post(url, { _csrf: csrf ? csrf[1] : '', ...form })
  }
}
