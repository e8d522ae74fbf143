// What the admin pages and API read besides the sync: the Change Log, a contact's details, a
// user's link report, and the admin's server-side sessions.
import type { Database } from '../data/db.js'
import { changeLog, contactDetails, CHANGE_LOG_PAGE_SIZE, type ChangeRow, type ContactDetails } from '../data/admin-store.js'
import { adminSessionOpen, deleteAdminSession, insertAdminSession } from '../data/admin-session-store.js'
import { userLinkReport } from '../data/event-store.js'

export { CHANGE_LOG_PAGE_SIZE, type ChangeRow, type ContactDetails }

export class AdminService {
  constructor (private readonly database: Database, private readonly domainId: number) {}

  /** Contacts changed in [from, to), a page of CHANGE_LOG_PAGE_SIZE at a time. */
  changeLog (from: Date, to: Date, page: number): Promise<{ rows: ChangeRow[], total: number }> {
    return changeLog(this.database.pool, this.domainId, from, to, page)
  }

  contactDetails (id: number): Promise<ContactDetails | null> {
    return contactDetails(this.database.pool, this.domainId, id)
  }

  /** A user's current link and the decisions that led to it. */
  userLink (ufId: number) {
    return userLinkReport(this.database.db, this.domainId, ufId)
  }
}

/** The admin's browser sessions, one row each, keyed by the sha256 of the cookie's id. */
export class AdminSessionService {
  constructor (private readonly database: Database) {}

  open (idSha256: string, tokenFingerprint: string, now: Date, expiresAt: Date): Promise<void> {
    return insertAdminSession(this.database.pool, idSha256, tokenFingerprint, now, expiresAt)
  }

  isOpen (idSha256: string, tokenFingerprint: string, now: Date): Promise<boolean> {
    return adminSessionOpen(this.database.pool, idSha256, tokenFingerprint, now)
  }

  close (idSha256: string): Promise<boolean> {
    return deleteAdminSession(this.database.pool, idSha256)
  }
}
