CREATE TABLE `civibridge_lock` (
	`domain_id` int unsigned NOT NULL,
	`lock_key` varchar(32) NOT NULL,
	`n` bigint unsigned NOT NULL DEFAULT 0,
	`holder` varchar(64),
	`holder_node` varchar(255),
	`holder_conn` bigint unsigned,
	`heartbeat_at` datetime(3),
	CONSTRAINT `civibridge_lock_domain_id_lock_key_pk` PRIMARY KEY(`domain_id`,`lock_key`)
);
