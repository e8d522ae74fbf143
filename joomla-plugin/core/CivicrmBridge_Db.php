<?php
/**
 * The little SQL the core needs. '#__' in a statement means the site's table prefix
 * (as in Joomla's own database layer, which replaces it outside quoted strings).
 */
interface CivicrmBridge_Db
{
    /** @return string an SQL string literal, quoted and escaped */
    public function quote($value);

    /** @return int affected rows; throws on an SQL error */
    public function execute($sql);

    /** @return array list of associative rows; throws on an SQL error */
    public function fetchAll($sql);
}
