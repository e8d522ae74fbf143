CREATE TABLE `civibridge_audit` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`domain_id` int unsigned NOT NULL,
	`uf_id` int unsigned NOT NULL,
	`trigger` varchar(32) NOT NULL,
	`action` varchar(32) NOT NULL,
	`contact_id` int unsigned,
	`reason` varchar(255),
	`created_at` datetime(3) NOT NULL,
	CONSTRAINT `civibridge_audit_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `civibridge_event` (
	`jti` varchar(64) NOT NULL,
	`site` varchar(64) NOT NULL,
	`body_sha256` char(64) NOT NULL,
	`event` varchar(32) NOT NULL,
	`uf_id` int unsigned,
	`occurred_at` datetime(3) NOT NULL,
	`received_at` datetime(3) NOT NULL,
	`result` json NOT NULL,
	CONSTRAINT `civibridge_event_jti` PRIMARY KEY(`jti`)
);
--> statement-breakpoint
CREATE TABLE `civibridge_sync_job` (
	`id` int unsigned AUTO_INCREMENT NOT NULL,
	`domain_id` int unsigned NOT NULL,
	`status` varchar(16) NOT NULL,
	`dry_run` tinyint NOT NULL DEFAULT 0,
	`batch_size` int unsigned NOT NULL,
	`last_user_id` bigint unsigned NOT NULL DEFAULT 0,
	`checked` int unsigned NOT NULL DEFAULT 0,
	`matched` int unsigned NOT NULL DEFAULT 0,
	`created` int unsigned NOT NULL DEFAULT 0,
	`skipped` int unsigned NOT NULL DEFAULT 0,
	`total_users` int unsigned,
	`message` text,
	`error` text,
	`started_at` datetime(3) NOT NULL,
	`heartbeat_at` datetime(3) NOT NULL,
	`finished_at` datetime(3),
	CONSTRAINT `civibridge_sync_job_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `civibridge_sync_skip` (
	`job_id` int unsigned NOT NULL,
	`uf_id` int unsigned NOT NULL,
	`reason` varchar(255) NOT NULL,
	CONSTRAINT `civibridge_sync_skip_job_id_uf_id_pk` PRIMARY KEY(`job_id`,`uf_id`)
);
--> statement-breakpoint
CREATE TABLE `civibridge_used_token` (
	`jti` varchar(64) NOT NULL,
	`purpose` varchar(32) NOT NULL,
	`used_at` datetime(3) NOT NULL,
	CONSTRAINT `civibridge_used_token_jti` PRIMARY KEY(`jti`)
);
--> statement-breakpoint
CREATE TABLE `civibridge_user_tombstone` (
	`domain_id` int unsigned NOT NULL,
	`uf_id` int unsigned NOT NULL,
	`deleted_at` datetime(3) NOT NULL,
	CONSTRAINT `civibridge_user_tombstone_domain_id_uf_id_pk` PRIMARY KEY(`domain_id`,`uf_id`)
);
--> statement-breakpoint
CREATE INDEX `idx_civibridge_audit_user` ON `civibridge_audit` (`domain_id`,`uf_id`,`id`);--> statement-breakpoint
CREATE INDEX `idx_civibridge_event_received` ON `civibridge_event` (`received_at`);--> statement-breakpoint
CREATE INDEX `idx_civibridge_sync_job_status` ON `civibridge_sync_job` (`domain_id`,`status`);