// CiviCRM's own tables, the columns the bridge reads or writes. Written by hand (drizzle-kit
// pull is unreliable on CiviCRM) and checked against information_schema by
// test/schema-civicrm.test.ts. The bridge never creates or alters these tables.
import { mysqlTable, int, varchar, tinyint, timestamp, datetime, text, decimal, date } from 'drizzle-orm/mysql-core'

export const civicrmDomain = mysqlTable('civicrm_domain', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  name: varchar('name', { length: 64 }),
  contactId: int('contact_id', { unsigned: true }),
})

export const civicrmContact = mysqlTable('civicrm_contact', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  contactType: varchar('contact_type', { length: 64 }),
  displayName: varchar('display_name', { length: 128 }),
  sortName: varchar('sort_name', { length: 128 }),
  firstName: varchar('first_name', { length: 64 }),
  middleName: varchar('middle_name', { length: 64 }),
  lastName: varchar('last_name', { length: 64 }),
  hash: varchar('hash', { length: 32 }),
  source: varchar('source', { length: 255 }),
  isDeleted: tinyint('is_deleted').notNull().default(0),
  createdDate: timestamp('created_date', { mode: 'date' }),
  modifiedDate: timestamp('modified_date', { mode: 'date' }),
})

export const civicrmEmail = mysqlTable('civicrm_email', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  contactId: int('contact_id', { unsigned: true }),
  locationTypeId: int('location_type_id', { unsigned: true }),
  email: varchar('email', { length: 254 }),
  isPrimary: tinyint('is_primary').notNull().default(0),
  isBilling: tinyint('is_billing').notNull().default(0),
  onHold: tinyint('on_hold').notNull().default(0),
  isBulkmail: tinyint('is_bulkmail').notNull().default(0),
})

export const civicrmUfMatch = mysqlTable('civicrm_uf_match', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  domainId: int('domain_id', { unsigned: true }).notNull(),
  ufId: int('uf_id', { unsigned: true }).notNull(),
  ufName: varchar('uf_name', { length: 128 }),
  contactId: int('contact_id', { unsigned: true }),
  language: varchar('language', { length: 5 }),
})

export const civicrmLog = mysqlTable('civicrm_log', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  entityTable: varchar('entity_table', { length: 64 }).notNull(),
  entityId: int('entity_id', { unsigned: true }).notNull(),
  data: text('data'),
  modifiedId: int('modified_id', { unsigned: true }),
  modifiedDate: datetime('modified_date', { mode: 'date' }),
})

export const civicrmFinancialType = mysqlTable('civicrm_financial_type', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  name: varchar('name', { length: 64 }).notNull(),
  isActive: tinyint('is_active').notNull().default(1),
})

export const civicrmContribution = mysqlTable('civicrm_contribution', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  contactId: int('contact_id', { unsigned: true }).notNull(),
  financialTypeId: int('financial_type_id', { unsigned: true }),
  receiveDate: datetime('receive_date', { mode: 'date' }),
  totalAmount: decimal('total_amount', { precision: 20, scale: 2 }).notNull(),
  invoiceId: varchar('invoice_id', { length: 255 }),
  trxnId: varchar('trxn_id', { length: 255 }),
  currency: varchar('currency', { length: 3 }),
  source: varchar('source', { length: 255 }),
  isTest: tinyint('is_test').notNull().default(0),
  isPayLater: tinyint('is_pay_later').notNull().default(0),
  contributionStatusId: int('contribution_status_id', { unsigned: true }),
})

export const civicrmMembershipType = mysqlTable('civicrm_membership_type', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  domainId: int('domain_id', { unsigned: true }).notNull(),
  name: varchar('name', { length: 128 }).notNull(),
  financialTypeId: int('financial_type_id', { unsigned: true }).notNull(),
  minimumFee: decimal('minimum_fee', { precision: 18, scale: 9 }),
  durationUnit: varchar('duration_unit', { length: 8 }).notNull(),
  durationInterval: int('duration_interval'),
  periodType: varchar('period_type', { length: 8 }).notNull(),
  isActive: tinyint('is_active').notNull().default(1),
})

export const civicrmMembershipStatus = mysqlTable('civicrm_membership_status', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  name: varchar('name', { length: 128 }).notNull(),
  isActive: tinyint('is_active').notNull().default(1),
})

export const civicrmMembership = mysqlTable('civicrm_membership', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  contactId: int('contact_id', { unsigned: true }).notNull(),
  membershipTypeId: int('membership_type_id', { unsigned: true }).notNull(),
  joinDate: date('join_date', { mode: 'string' }),
  startDate: date('start_date', { mode: 'string' }),
  endDate: date('end_date', { mode: 'string' }),
  source: varchar('source', { length: 128 }),
  statusId: int('status_id', { unsigned: true }).notNull(),
  isTest: tinyint('is_test').notNull().default(0),
  isPayLater: tinyint('is_pay_later').notNull().default(0),
})

export const civicrmUfGroup = mysqlTable('civicrm_uf_group', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  name: varchar('name', { length: 64 }).notNull(),
  title: varchar('title', { length: 64 }).notNull(),
  isActive: tinyint('is_active').notNull().default(1),
})

/** Tables and columns the bridge needs; `check` and server start verify them. */
export const requiredCivicrmColumns: Record<string, string[]> = {
  civicrm_domain: ['id'],
  civicrm_contact: ['id', 'contact_type', 'display_name', 'sort_name', 'first_name', 'middle_name', 'last_name', 'hash', 'source', 'is_deleted', 'created_date', 'modified_date'],
  civicrm_email: ['id', 'contact_id', 'location_type_id', 'email', 'is_primary', 'is_billing', 'on_hold', 'is_bulkmail'],
  civicrm_uf_match: ['id', 'domain_id', 'uf_id', 'uf_name', 'contact_id', 'language'],
  civicrm_log: ['id', 'entity_table', 'entity_id', 'data', 'modified_id', 'modified_date'],
}
