import { defineConfig } from 'drizzle-kit'

// Migrations cover the bridge's own tables only: CiviCRM's tables belong to CiviCRM.
export default defineConfig({
  dialect: 'mysql',
  schema: './drizzle/schema/bridge.ts',
  out: './drizzle/migrations',
})
