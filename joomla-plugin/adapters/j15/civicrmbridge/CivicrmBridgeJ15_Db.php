<?php
/**
 * CivicrmBridge_Db over Joomla 1.5's JDatabase (JFactory::getDBO()). 1.5 has no install SQL for
 * plugins, so the outbox table is created lazily: a statement on it that fails because the table
 * does not exist (MySQL error 1146) creates it and runs again, once per request at most. No check
 * runs on the way when the table is there (no CREATE TABLE IF NOT EXISTS on every login).
 * utf8 rather than utf8mb4: 1.5 sites run on MySQL versions that may predate utf8mb4. The queued
 * body is ASCII-only JSON (CivicrmBridge_Json escapes every non-ASCII character), so a 4-byte
 * character survives this table too.
 *
 * With debug on, 1.5's query() raises JError::raiseError(500) on an SQL error (the error page,
 * then exit: past any catch): JError is set to 'ignore' around each statement and put back.
 */
defined('_JEXEC') or die('Restricted access');

class CivicrmBridgeJ15_Db implements CivicrmBridge_Db
{
    var $_db;
    /** @var bool the table was created by this request already (never try twice) */
    var $_created = false;

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
        $this->_statement($sql, false);
        return (int) $this->_db->getAffectedRows();
    }

    function fetchAll($sql)
    {
        return $this->_statement($sql, true);
    }

    /** Runs one statement (creating the outbox table when it is missing); throws on an SQL error. */
    function _statement($sql, $fetch)
    {
        $result = $this->_try($sql, $fetch);
        if ($result === false && (int) $this->_db->getErrorNum() === 1146 && !$this->_created
            && stripos($sql, 'civicrm_bridge_outbox') !== false) {
            $this->_created = true;
            if ($this->_try(CivicrmBridgeJ15_Db::outboxDdl(), false) === false) {
                $this->_fail();
            }
            $result = $this->_try($sql, $fetch);
        }
        if ($result === false) {
            $this->_fail();
        }
        return $result;
    }

    /** @return mixed the rows (fetch) or true; false on an SQL error (errno/message on the driver) */
    function _try($sql, $fetch)
    {
        $saved = CivicrmBridge_JoomlaDb::quietJError();
        $this->_db->setQuery($sql);
        if ($fetch) {
            $rows = $this->_db->loadAssocList();
            $result = is_array($rows) ? $rows : ($this->_db->getErrorNum() ? false : array());
        } else {
            $result = $this->_db->query() ? true : false;
        }
        CivicrmBridge_JoomlaDb::restoreJError($saved);
        return $result;
    }

    function _fail()
    {
        throw new Exception('civicrmbridge: database error ' . $this->_db->getErrorNum() . ': ' . $this->_db->getErrorMsg());
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
