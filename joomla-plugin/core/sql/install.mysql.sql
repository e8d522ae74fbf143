-- Outbox of the CiviCRM bridge user plugin: events the bridge has not acknowledged yet.
CREATE TABLE IF NOT EXISTS `#__civicrm_bridge_outbox` (
  `id` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  `jti` VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  `event` VARCHAR(32) NOT NULL,
  `user_id` INT UNSIGNED NOT NULL DEFAULT 0,
  `body` MEDIUMTEXT NOT NULL,
  `status` VARCHAR(16) NOT NULL DEFAULT 'pending',
  `attempts` INT UNSIGNED NOT NULL DEFAULT 0,
  `next_attempt_at` INT UNSIGNED NOT NULL DEFAULT 0,
  `last_error` VARCHAR(255) NULL,
  `created_at` INT UNSIGNED NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uniq_jti` (`jti`),
  KEY `idx_due` (`status`, `next_attempt_at`, `id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 DEFAULT COLLATE=utf8mb4_unicode_ci;
