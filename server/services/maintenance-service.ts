// The bridge's own tables, looked after from the command line: created or upgraded (migrate), and
// their old event records and used tokens deleted (prune).
import type { Database } from '../data/db.js'
import { pruneBefore } from '../data/event-store.js'
import { migrateBridgeTables } from '../data/migrate.js'
import { schemaProblem } from '../data/schema-check.js'

export class MaintenanceService {
  constructor (private readonly database: Database) {}

  /**
   * Creates or upgrades the bridge's tables (NotCivicrmError, nothing created, on a database
   * without CiviCRM's), then returns what the schema check of CiviCRM's side still finds for
   * these domains, or null.
   */
  async migrate (domains: number[]): Promise<string | null> {
    await migrateBridgeTables(this.database)
    return schemaProblem(this.database, { domains })
  }

  /** Deletes the event records received, and the single-use tokens used, before `before`; how many of each went. */
  prune (before: Date): Promise<{ events: number, tokens: number }> {
    return pruneBefore(this.database, before)
  }
}
