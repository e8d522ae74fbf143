// How a server-rendered page leaves: HTML, never stored by a cache (pages show live state and
// carry CSRF tokens). The admin pages send theirs as they are; a person's pages ("Edit my
// details") with the Joomla site's name and a link back to it.
import type { FastifyReply } from 'fastify'
import { withSite } from './views/pages.js'

export const sendHtml = (reply: FastifyReply, status: number, body: string): FastifyReply =>
  reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body)

/** A person's page, under the name of the site they came from (JOOMLA_SITE_NAME, JOOMLA_SITE_URL). */
export const sendSitePage = (reply: FastifyReply, status: number, body: string): FastifyReply =>
  sendHtml(reply, status, withSite(body, { name: reply.server.config.joomlaSiteName, url: reply.server.config.joomlaSiteUrl }))
