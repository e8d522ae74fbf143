<?php
/**
 * CivicrmBridge_Db over Joomla 1.5's JDatabase (JFactory::getDBO()). 1.5 has no install SQL for
 * plugins, so the outbox table is created lazily (CREATE TABLE IF NOT EXISTS), once per request,
 * before the first statement that touches it. utf8 rather than utf8mb4: 1.5 sites run on MySQL
 * versions that may predate utf8mb4. The queued body is ASCII-only JSON (CivicrmBridge_Json
 * escapes every non-ASCII character), so a 4-byte character survives this table too.
 */
defined('_JEXEC') or die('Restricted access');

class CivicrmBridgeJ15_Db implements CivicrmBridge_Db
{
    var $_db;
    var $_outboxReady = false;

    function __construct(&$db)
    {
        $this->_db =& $db;
    }

    function quote($value)
    {
        return $this->_db->Quote((string) $value);
    }

    function execute($sql)
    {
        $this->_ensureOutbox($sql);
        $this->_run($sql);
        return (int) $this->_db->getAffectedRows();
    }

    function fetchAll($sql)
    {
        $this->_ensureOutbox($sql);
        $this->_db->setQuery($sql);
        $rows = $this->_db->loadAssocList();
        if ($rows === null || $rows === false) {
            if ($this->_db->getErrorNum()) {
                throw new Exception('civicrmbridge: database error ' . $this->_db->getErrorNum() . ': ' . $this->_db->getErrorMsg());
            }
            return array();
        }
        return $rows;
    }

    function _run($sql)
    {
        $this->_db->setQuery($sql);
        if (!$this->_db->query()) {
            throw new Exception('civicrmbridge: database error ' . $this->_db->getErrorNum() . ': ' . $this->_db->getErrorMsg());
        }
    }

    function _ensureOutbox($sql)
    {
        if ($this->_outboxReady || stripos($sql, 'civicrm_bridge_outbox') === false) {
            return;
        }
        $this->_run(CivicrmBridgeJ15_Db::outboxDdl());
        $this->_outboxReady = true;
    }

    /** The core's outbox table (core/sql/install.mysql.sql), in utf8 for 1.5-era MySQL. */
    static function outboxDdl()
    {
        return 'CREATE TABLE IF NOT EXISTS `#__civicrm_bridge_outbox` ('
            . ' `id` INT UNSIGNED NOT NULL AUTO_INCREMENT,'
            . ' `jti` VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,'
            . ' `event` VARCHAR(32) NOT NULL,'
            . ' `user_id` INT UNSIGNED NOT NULL DEFAULT 0,'
            . ' `body` MEDIUMTEXT NOT NULL,'
            . ' `status` VARCHAR(16) NOT NULL DEFAULT \'pending\','
            . ' `attempts` INT UNSIGNED NOT NULL DEFAULT 0,'
            . ' `next_attempt_at` INT UNSIGNED NOT NULL DEFAULT 0,'
            . ' `last_error` VARCHAR(255) NULL,'
            . ' `created_at` INT UNSIGNED NOT NULL,'
            . ' PRIMARY KEY (`id`),'
            . ' UNIQUE KEY `uniq_jti` (`jti`),'
            . ' KEY `idx_due` (`status`, `next_attempt_at`, `id`)'
            . ') ENGINE=InnoDB DEFAULT CHARSET=utf8';
    }
}
