CREATE TABLE `civibridge_sync_chunk` (
	`job_id` int unsigned NOT NULL,
	`first_user_id` bigint unsigned NOT NULL,
	`last_user_id` bigint unsigned NOT NULL,
	`done_at` datetime(3) NOT NULL,
	CONSTRAINT `civibridge_sync_chunk_job_id_first_user_id_pk` PRIMARY KEY(`job_id`,`first_user_id`)
);
