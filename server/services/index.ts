// The one place the services are built: the app (http/plugins/services.ts) and the CLI both call
// buildServices, so a service is wired the same way wherever it runs.
import type { Config } from '../config.js'
import type { Database } from '../data/db.js'
import type { BufferedEventLog } from '../data/event-log.js'
import { schemaProblem, type JoomlaTarget } from '../data/schema-check.js'
import { JoomlaUsers } from '../data/sync-store.js'
import { AdminService, AdminSessionService } from './admin-service.js'
import { EventService } from './event-service.js'
import { MaintenanceService } from './maintenance-service.js'
import { SyncService } from './sync-service.js'
import { TransactionService } from './transaction-service.js'

export type { JoomlaTarget }

/** Whether the bridge can serve: the database answers and the schema check passes. */
export class HealthService {
  constructor (private readonly database: Database, private readonly joomla: JoomlaTarget) {}

  ping (): Promise<boolean> { return this.database.ping() }

  /** What is missing or wrong in CiviCRM's and Joomla's schemas (for these domains), or null. */
  schemaProblem (domains?: number[]): Promise<string | null> {
    return schemaProblem(this.database, { joomla: this.joomla, domains })
  }
}

export interface Services {
  admin: AdminService
  adminSessions: AdminSessionService
  health: HealthService
  /** The bridge's own tables (the CLI's migrate and prune). */
  maintenance: MaintenanceService
  sync: SyncService
  /** Joomla's users (names for the pages). */
  joomlaUsers: JoomlaUsers
  /** The profile and link transactions of one domain (one service per domain, kept). */
  transactionsFor (domainId: number): TransactionService
}

export interface BuildOptions {
  database: Database
  /** Joomla's users table: its database's pool (CiviCRM's when they share one) and prefix. */
  joomla: JoomlaTarget
  config: Pick<Config, 'domainId'>
}

export function buildServices ({ database, joomla, config }: BuildOptions): Services {
  const joomlaUsers = new JoomlaUsers(joomla.pool, joomla.prefix)
  const transactions = new Map<number, TransactionService>()
  return {
    admin: new AdminService(database, config.domainId),
    adminSessions: new AdminSessionService(database),
    health: new HealthService(database, joomla),
    maintenance: new MaintenanceService(database),
    sync: new SyncService(database, joomlaUsers, config.domainId),
    joomlaUsers,
    transactionsFor (domainId) {
      let service = transactions.get(domainId)
      if (!service) transactions.set(domainId, service = new TransactionService(database, domainId))
      return service
    },
  }
}

/** The app's services: those of buildServices and the event route's, which writes behind through the app's event log. */
export interface AppServices extends Services { events: EventService }

export function buildAppServices (opts: BuildOptions & { eventLog: BufferedEventLog }): AppServices {
  return { ...buildServices(opts), events: new EventService(opts.database, opts.eventLog) }
}
