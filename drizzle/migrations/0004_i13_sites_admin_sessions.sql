-- #13: a jti is unique per site (site, jti); site ids compare exactly (ascii_bin, like jti); admin sessions server-side.
CREATE TABLE `civibridge_admin_session` (
	`id_sha256` char(64) NOT NULL,
	`token_fingerprint` char(64) NOT NULL,
	`created_at` datetime(3) NOT NULL,
	`expires_at` datetime(3) NOT NULL,
	CONSTRAINT `civibridge_admin_session_id_sha256` PRIMARY KEY(`id_sha256`)
);
--> statement-breakpoint
ALTER TABLE `civibridge_event` MODIFY `site` varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, DROP PRIMARY KEY, ADD PRIMARY KEY(`site`,`jti`);--> statement-breakpoint
ALTER TABLE `civibridge_used_token` ADD `site` varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '' FIRST, DROP PRIMARY KEY, ADD PRIMARY KEY(`site`,`jti`);--> statement-breakpoint
CREATE INDEX `idx_civibridge_admin_session_expires` ON `civibridge_admin_session` (`expires_at`);
