-- Outbox of the CiviCRM bridge user plugin on PostgreSQL (Joomla 4/5/6): events the bridge has
-- not acknowledged yet. Same columns as install.mysql.sql; unix times in bigint.
CREATE TABLE IF NOT EXISTS "#__civicrm_bridge_outbox" (
  "id" serial NOT NULL,
  "jti" varchar(64) NOT NULL,
  "event" varchar(32) NOT NULL,
  "user_id" bigint NOT NULL DEFAULT 0,
  "body" text NOT NULL,
  "status" varchar(16) NOT NULL DEFAULT 'pending',
  "attempts" integer NOT NULL DEFAULT 0,
  "next_attempt_at" bigint NOT NULL DEFAULT 0,
  "last_error" varchar(255),
  "created_at" bigint NOT NULL,
  PRIMARY KEY ("id"),
  CONSTRAINT "#__civicrm_bridge_outbox_uniq_jti" UNIQUE ("jti")
);
CREATE INDEX IF NOT EXISTS "#__civicrm_bridge_outbox_idx_due" ON "#__civicrm_bridge_outbox" ("status", "next_attempt_at", "id");
