-- Outbox of the CiviCRM bridge user plugin, for Joomla 1.6 - 3.x: the same table as
-- install.mysql.sql in utf8, because the 1.6 - 3.4 installers run this file as it is and MySQL
-- before 5.5.3 has no utf8mb4 (3.5+ would downgrade it; older installers fail). Every value
-- stored is ASCII (the queued body is JSON with \uXXXX escapes), so utf8 loses nothing.
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
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
