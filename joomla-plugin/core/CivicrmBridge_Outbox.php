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

    /** Stores an event; a jti already stored is silently kept as it is (INSERT IGNORE). */
    public function add($jti, $event, $userId, $body, $error, $status, $nextAttemptAt)
    {
        $status = $status === 'failed' ? 'failed' : 'pending';
        $db = $this->db;
        return $db->execute('INSERT IGNORE INTO ' . self::TABLE
            . ' (jti, event, user_id, body, status, attempts, next_attempt_at, last_error, created_at) VALUES ('
            . $db->quote(substr((string) $jti, 0, 64)) . ', '
            . $db->quote(substr((string) $event, 0, 32)) . ', '
            . self::uint($userId) . ', '
            . $db->quote((string) $body) . ', '
            . $db->quote($status) . ', 0, '
            . self::uint($nextAttemptAt) . ', '
            . $this->errorSql($error) . ', '
            . self::uint(time()) . ')');
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
