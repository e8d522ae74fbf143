<?php
/**
 * CivicrmBridge_Db over a Joomla 1.6 - 6.x database driver (JFactory::getDbo() on 1.6 - 3.x,
 * the injected DatabaseInterface on 4.x+). Duck-typed: every one of those drivers has
 * setQuery() (which replaces '#__'), quote(), loadAssocList() and getAffectedRows(). 3.x+ has
 * execute(), which throws on an SQL error; 1.6 - 2.5 only query(), which returns false (then
 * getErrorNum()/getErrorMsg() say why): both become an exception for the core to catch.
 * Joomla 1.5 has its own (adapters/j15: Quote(), query(), and a lazily created outbox table).
 *
 * With debug on, 1.5 - 2.5's query() raises JError::raiseError(500) on an SQL error, whose default
 * handler renders the error page and exits: past any catch. Around each statement on those
 * versions, JError's E_ERROR/E_WARNING handling is set to 'ignore' and put back afterwards.
 */
class CivicrmBridge_JoomlaDb implements CivicrmBridge_Db
{
    private $db;

    /** @param object $db the site's database driver */
    public function __construct($db)
    {
        $this->db = $db;
    }

    public function quote($value)
    {
        return $this->db->quote((string) $value);
    }

    public function execute($sql)
    {
        $saved = $this->legacy() ? self::quietJError() : null;
        try {
            $this->db->setQuery($sql);
            $ok = method_exists($this->db, 'execute') ? $this->db->execute() : $this->db->query();
        } catch (Exception $e) {
            self::restoreJError($saved);
            throw $e;
        }
        self::restoreJError($saved);
        if ($ok === false) {
            throw new RuntimeException('civicrmbridge: database error ' . $this->errorText());
        }
        return (int) $this->db->getAffectedRows();
    }

    public function fetchAll($sql)
    {
        $saved = $this->legacy() ? self::quietJError() : null;
        try {
            $this->db->setQuery($sql);
            $rows = $this->db->loadAssocList();
        } catch (Exception $e) {
            self::restoreJError($saved);
            throw $e;
        }
        self::restoreJError($saved);
        if (!is_array($rows)) {
            if (method_exists($this->db, 'getErrorNum') && $this->db->getErrorNum()) {
                throw new RuntimeException('civicrmbridge: database error ' . $this->errorText());
            }
            return array();
        }
        return $rows;
    }

    /** 1.6 - 2.5: query() only (3.0+ has execute(), which throws instead of raising JError). */
    private function legacy()
    {
        return !method_exists($this->db, 'execute') || (defined('JVERSION') && version_compare(JVERSION, '3.0', '<'));
    }

    /**
     * Sets JError's handling of E_ERROR and E_WARNING to 'ignore' (1.5 - 2.5) and returns what it
     * was, for restoreJError(); null when there is no JError. Does not throw.
     */
    public static function quietJError()
    {
        if (!class_exists('JError', false) || !method_exists('JError', 'getErrorHandling')) {
            return null;
        }
        $saved = array();
        foreach (array(E_ERROR, E_WARNING) as $level) {
            $saved[$level] = JError::getErrorHandling($level);
            JError::setErrorHandling($level, 'ignore');
        }
        return $saved;
    }

    /** Puts back what quietJError() changed. */
    public static function restoreJError($saved)
    {
        if (!is_array($saved)) {
            return;
        }
        foreach ($saved as $level => $handling) {
            if (is_array($handling) && isset($handling['mode'])) {
                JError::setErrorHandling($level, $handling['mode'], isset($handling['options']) ? $handling['options'] : null);
            }
        }
    }

    private function errorText()
    {
        return method_exists($this->db, 'getErrorMsg') ? (string) $this->db->getErrorMsg() : 'unknown';
    }
}
