<?php
/**
 * Events the bridge did not take yet (#__civicrm_bridge_outbox, sql/install.mysql.sql).
 * 'pending' rows are retried; 'failed' rows are kept for the admin and never retried.
 * Methods throw on SQL errors; CivicrmBridge_Bridge catches.
 */
class CivicrmBridge_Outbox
{
    const TABLE = '#__civicrm_bridge_outbox';
    const COLUMNS = 'id, jti, event, user_id, body, status, attempts, next_attempt_at, last_error, created_at';

    private $db;

    public function __construct(CivicrmBridge_Db $db)
    {
        $this->db = $db;
    }

    /**
     * Stores an event; a jti already stored is kept as it is. Portable SQL (MySQL/MariaDB and
     * PostgreSQL): INSERT ... SELECT ... WHERE NOT EXISTS instead of MySQL's INSERT IGNORE. The
     * derived table (SELECT 1) stands in for MySQL's DUAL, which PostgreSQL does not have.
     */
    public function add($jti, $event, $userId, $body, $error, $status, $nextAttemptAt)
    {
        $status = $status === 'failed' ? 'failed' : 'pending';
        $db = $this->db;
        $jti = $db->quote(substr((string) $jti, 0, 64));
        return $db->execute('INSERT INTO ' . self::TABLE
            . ' (jti, event, user_id, body, status, attempts, next_attempt_at, last_error, created_at) SELECT '
            . $jti . ', '
            . $db->quote(substr((string) $event, 0, 32)) . ', '
            . self::uint($userId) . ', '
            . $db->quote((string) $body) . ', '
            . $db->quote($status) . ', 0, '
            . self::uint($nextAttemptAt) . ', '
            . $this->errorSql($error) . ', '
            . self::uint(time())
            . ' FROM (SELECT 1 AS one) AS civicrmbridge_one WHERE NOT EXISTS (SELECT 1 FROM ' . self::TABLE
            . ' WHERE jti = ' . $jti . ')');
    }

    /** Pending rows due at $now, oldest first. */
    public function due($limit, $now)
    {
        return $this->db->fetchAll('SELECT ' . self::COLUMNS . ' FROM ' . self::TABLE
            . " WHERE status = 'pending' AND next_attempt_at <= " . self::uint($now)
            . ' ORDER BY id ASC LIMIT ' . max(1, (int) $limit));
    }

    /** The bridge took it: the row goes. */
    public function delivered($id)
    {
        return $this->db->execute('DELETE FROM ' . self::TABLE . ' WHERE id = ' . self::uint($id));
    }

    public function retryLater($id, $attempts, $error, $nextAttemptAt)
    {
        return $this->db->execute('UPDATE ' . self::TABLE
            . ' SET attempts = ' . self::uint($attempts)
            . ', last_error = ' . $this->errorSql($error)
            . ', next_attempt_at = ' . self::uint($nextAttemptAt)
            . ' WHERE id = ' . self::uint($id));
    }

    public function fail($id, $error)
    {
        return $this->db->execute('UPDATE ' . self::TABLE
            . " SET status = 'failed', last_error = " . $this->errorSql($error)
            . ' WHERE id = ' . self::uint($id));
    }

    /** Failed rows for the admin, newest first. */
    public function failed($limit)
    {
        return $this->db->fetchAll('SELECT ' . self::COLUMNS . ' FROM ' . self::TABLE
            . " WHERE status = 'failed' ORDER BY id DESC LIMIT " . max(1, (int) $limit));
    }

    /** "Retry now": every pending row becomes due. */
    public function makeDue()
    {
        return $this->db->execute('UPDATE ' . self::TABLE . " SET next_attempt_at = 0 WHERE status = 'pending'");
    }

    /** @return array|null the newest row that has a last_error (id, status, last_error), null when none */
    public function lastError()
    {
        $rows = $this->db->fetchAll('SELECT id, status, last_error FROM ' . self::TABLE
            . ' WHERE last_error IS NOT NULL ORDER BY id DESC LIMIT 1');
        return isset($rows[0]) ? $rows[0] : null;
    }

    /** @return int|null created_at of the oldest pending row, null when none waits */
    public function oldestPending()
    {
        $rows = $this->db->fetchAll('SELECT MIN(created_at) AS oldest FROM ' . self::TABLE . " WHERE status = 'pending'");
        return isset($rows[0]['oldest']) && $rows[0]['oldest'] !== null ? (int) $rows[0]['oldest'] : null;
    }

    /** @return array array('pending' => n, 'failed' => n) */
    public function counts()
    {
        $counts = array('pending' => 0, 'failed' => 0);
        $rows = $this->db->fetchAll('SELECT status, COUNT(*) AS n FROM ' . self::TABLE . ' GROUP BY status');
        foreach ($rows as $row) {
            if (isset($counts[$row['status']])) {
                $counts[$row['status']] = (int) $row['n'];
            }
        }
        return $counts;
    }

    /** last_error is VARCHAR(255); printable ASCII only, so a byte cut never breaks UTF-8. */
    private function errorSql($error)
    {
        if ($error === null || $error === '') {
            return 'NULL';
        }
        $error = preg_replace('/[^\x20-\x7E]+/', ' ', (string) $error);
        return $this->db->quote(substr($error, 0, 255));
    }

    /** A non-negative integer literal (ids and unix times; INT UNSIGNED columns). */
    private static function uint($value)
    {
        $value = (int) $value;
        return (string) ($value > 0 ? $value : 0);
    }
}
