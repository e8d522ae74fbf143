// The services, built once for the app from the database plugin's pools (services/index.ts, the
// factory the CLI uses too). Routes and plugins reach the database only through them.
import fp from 'fastify-plugin'
import { buildAppServices, type AppServices } from '../../services/index.js'

declare module 'fastify' {
  interface FastifyInstance { services: AppServices }
}

export default fp(async (app) => {
  app.decorate('services', buildAppServices({ database: app.database, joomla: app.joomla, config: app.config, eventLog: app.eventLog }))
})
