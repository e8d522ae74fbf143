// Administration: Synchronize Users to Contacts as a JSON API (admin token, or the admin
// session for reads) and as pages (admin login, the confirm step, a live progress bar, the
// final message), the Change Log (contacts created or modified in a window, from civicrm_log)
// and a contact's details. The session cookie and the routes' guards are
// plugins/admin-session.ts; the HTML is views/admin.ts.
import type { FastifyPluginAsync } from 'fastify'
import { adminJobs } from './jobs.js'
import apiRoutes from './api.js'
import loginRoutes from './login.js'
import pageRoutes from './pages.js'

const routes: FastifyPluginAsync = async (app) => {
  const jobs = adminJobs(app)
  await app.register(apiRoutes, { jobs })
  await app.register(loginRoutes)
  await app.register(pageRoutes, { jobs })
}
export default routes
