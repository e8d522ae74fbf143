<?php
/**
 * CivicrmBridge_Db over a Joomla 1.6 - 6.x database driver (JFactory::getDbo() on 1.6 - 3.x,
 * the injected DatabaseInterface on 4.x+). Duck-typed: every one of those drivers has
 * setQuery() (which replaces '#__'), quote(), loadAssocList() and getAffectedRows(). 3.x+ has
 * execute(), which throws on an SQL error; 1.6 - 2.5 only query(), which returns false (then
 * getErrorNum()/getErrorMsg() say why): both become an exception for the core to catch.
 * Joomla 1.5 has its own (adapters/j15: Quote(), query(), and a lazily created outbox table).
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
        $this->db->setQuery($sql);
        $ok = method_exists($this->db, 'execute') ? $this->db->execute() : $this->db->query();
        if ($ok === false) {
            throw new RuntimeException('civicrmbridge: database error ' . $this->errorText());
        }
        return (int) $this->db->getAffectedRows();
    }

    public function fetchAll($sql)
    {
        $this->db->setQuery($sql);
        $rows = $this->db->loadAssocList();
        if (!is_array($rows)) {
            if (method_exists($this->db, 'getErrorNum') && $this->db->getErrorNum()) {
                throw new RuntimeException('civicrmbridge: database error ' . $this->errorText());
            }
            return array();
        }
        return $rows;
    }

    private function errorText()
    {
        return method_exists($this->db, 'getErrorMsg') ? (string) $this->db->getErrorMsg() : 'unknown';
    }
}
