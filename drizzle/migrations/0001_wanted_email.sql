CREATE TABLE `civibridge_wanted_email` (
	`domain_id` int unsigned NOT NULL,
	`uf_id` int unsigned NOT NULL,
	`email` varchar(128) NOT NULL,
	`created_at` datetime(3) NOT NULL,
	CONSTRAINT `civibridge_wanted_email_domain_id_uf_id_pk` PRIMARY KEY(`domain_id`,`uf_id`)
);
--> statement-breakpoint
CREATE INDEX `idx_civibridge_wanted_email_email` ON `civibridge_wanted_email` (`domain_id`,`email`);