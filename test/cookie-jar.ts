// A browser's cookie jar over Fastify's inject, enough for the server-rendered pages: it keeps
// the cookies the pages set and posts forms with their CSRF token.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'

export class CookieJar {
  readonly cookies = new Map<string, string>()
  constructor (protected readonly app: FastifyInstance) {}

  private keep (res: LightMyRequestResponse) {
    for (const c of res.cookies) {
      if (c.maxAge === 0 || c.value === '') this.cookies.delete(c.name)
      else this.cookies.set(c.name, c.value)
    }
    return res
  }

  get header () { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') }
  async get (url: string) { return this.keep(await this.app.inject({ method: 'GET', url, headers: { cookie: this.header } })) }
  async post (url: string, form: Record<string, string>) {
    return this.keep(await this.app.inject({ method: 'POST', url, payload: new URLSearchParams(form).toString(), headers: { cookie: this.header, 'content-type': 'application/x-www-form-urlencoded' } }))
  }

  /** GETs the page holding the form (formUrl), then posts it to url with the page's CSRF token ('' when it has none) and these fields. */
  async submit (url: string, form: Record<string, string> = {}, formUrl = url) {
    const page = await this.get(formUrl)
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)
    return this.post(url, { _csrf: csrf ? csrf[1] : '', ...form })
  }
}
