// CiviCRM's own tables, the columns the bridge reads or writes. Written by hand (drizzle-kit
// pull is unreliable on CiviCRM) and checked against information_schema by
// test/schema-civicrm.test.ts. The bridge never creates or alters these tables.
import { mysqlTable, int, varchar, tinyint, timestamp, datetime, text } from 'drizzle-orm/mysql-core'

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
  prefixId: int('prefix_id', { unsigned: true }),
  suffixId: int('suffix_id', { unsigned: true }),
  formalTitle: varchar('formal_title', { length: 64 }),
  nickName: varchar('nick_name', { length: 128 }),
  preferredLanguage: varchar('preferred_language', { length: 5 }),
  communicationStyleId: int('communication_style_id', { unsigned: true }),
  emailGreetingId: int('email_greeting_id', { unsigned: true }),
  emailGreetingCustom: varchar('email_greeting_custom', { length: 128 }),
  emailGreetingDisplay: varchar('email_greeting_display', { length: 255 }),
  postalGreetingId: int('postal_greeting_id', { unsigned: true }),
  postalGreetingCustom: varchar('postal_greeting_custom', { length: 128 }),
  postalGreetingDisplay: varchar('postal_greeting_display', { length: 255 }),
  addresseeId: int('addressee_id', { unsigned: true }),
  addresseeCustom: varchar('addressee_custom', { length: 128 }),
  addresseeDisplay: varchar('addressee_display', { length: 255 }),
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

export const civicrmUfGroup = mysqlTable('civicrm_uf_group', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  name: varchar('name', { length: 64 }).notNull(),
  title: varchar('title', { length: 64 }).notNull(),
  isActive: tinyint('is_active').notNull().default(1),
})

/** CiviCRM's location types: new contacts' emails get Home; the admin page shows their names. */
export const civicrmLocationType = mysqlTable('civicrm_location_type', {
  id: int('id', { unsigned: true }).primaryKey().autoincrement(),
  name: varchar('name', { length: 64 }).notNull(),
  displayName: varchar('display_name', { length: 64 }).notNull(),
})

/**
 * Tables and columns the bridge's linking needs, beyond those declared above (every declared
 * table and column is needed too: the pages read them); `check`, `serve` and /ready verify them.
 */
export const requiredCivicrmColumns: Record<string, string[]> = {
  civicrm_domain: ['id'],
  civicrm_contact: ['id', 'contact_type', 'display_name', 'sort_name', 'first_name', 'middle_name', 'last_name', 'hash', 'source', 'is_deleted', 'created_date', 'modified_date',
    'prefix_id', 'suffix_id', 'formal_title', 'nick_name', 'preferred_language', 'communication_style_id', 'email_greeting_id', 'email_greeting_custom', 'email_greeting_display',
    'postal_greeting_id', 'postal_greeting_custom', 'postal_greeting_display', 'addressee_id', 'addressee_custom', 'addressee_display'],
  civicrm_email: ['id', 'contact_id', 'location_type_id', 'email', 'is_primary', 'is_billing', 'on_hold', 'is_bulkmail'],
  civicrm_uf_match: ['id', 'domain_id', 'uf_id', 'uf_name', 'contact_id', 'language'],
  civicrm_log: ['id', 'entity_table', 'entity_id', 'data', 'modified_id', 'modified_date'],
  civicrm_setting: ['name', 'value', 'domain_id', 'contact_id'],
  civicrm_option_group: ['id', 'name', 'is_active'],
  civicrm_option_value: ['option_group_id', 'label', 'value', 'filter', 'is_default', 'weight', 'is_active', 'domain_id'],
  civicrm_location_type: ['id', 'is_default'],
}
