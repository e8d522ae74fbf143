<?php

use PHPUnit\Framework\TestCase;

/** The outbox on a real MariaDB database, through CivicrmBridge_PdoDb. */
final class OutboxTest extends TestCase
{
    private static CivicrmBridgeTestDb $testDb;
    private CivicrmBridge_Outbox $outbox;
    private PDO $pdo;

    public static function setUpBeforeClass(): void
    {
        self::$testDb = CivicrmBridgeTestDb::create();
        self::$testDb->install('jos_');
    }

    public static function tearDownAfterClass(): void
    {
        self::$testDb->drop();
    }

    protected function setUp(): void
    {
        $this->pdo = self::$testDb->pdo;
        $this->pdo->exec('TRUNCATE TABLE jos_civicrm_bridge_outbox');
        $this->outbox = new CivicrmBridge_Outbox(new CivicrmBridge_PdoDb($this->pdo, 'jos_'));
    }

    private function rows(): array
    {
        return $this->pdo->query('SELECT * FROM jos_civicrm_bridge_outbox ORDER BY id')->fetchAll(PDO::FETCH_ASSOC);
    }

    public function testInstallSqlCreatesTheSpecifiedTable(): void
    {
        $columns = $this->pdo->query('SHOW COLUMNS FROM jos_civicrm_bridge_outbox')->fetchAll(PDO::FETCH_ASSOC);
        $this->assertSame(['id', 'jti', 'event', 'user_id', 'body', 'status', 'attempts', 'next_attempt_at', 'last_error', 'created_at'], array_column($columns, 'Field'));
        $types = array_column($columns, 'Type', 'Field');
        $this->assertSame('mediumtext', $types['body']);
        $this->assertSame('int(10) unsigned', $types['next_attempt_at']);
        $indexes = $this->pdo->query('SHOW INDEX FROM jos_civicrm_bridge_outbox')->fetchAll(PDO::FETCH_ASSOC);
        $byKey = [];
        foreach ($indexes as $ix) {
            $byKey[$ix['Key_name']][] = $ix['Column_name'];
        }
        $this->assertSame(['jti'], $byKey['uniq_jti']);
        $this->assertSame(['status', 'next_attempt_at', 'id'], $byKey['idx_due']);
        // Idempotent (CREATE TABLE IF NOT EXISTS), and the uninstall file drops it.
        self::$testDb->install('jos_');
        $sql = str_replace('#__', 'jos_', file_get_contents(dirname(__DIR__, 2) . '/core/sql/uninstall.mysql.sql'));
        $this->pdo->exec($sql);
        $this->assertSame(0, $this->pdo->query("SHOW TABLES LIKE 'jos_civicrm_bridge_outbox'")->rowCount());
        self::$testDb->install('jos_');
    }

    public function testAddStoresEveryColumn(): void
    {
        $before = time();
        $body = '{"event":"onUserLogin","user":{"name":"Zoë 😀 #__users \' \\\\ \""}}';
        $this->assertSame(1, $this->outbox->add('jti-1', 'onUserLogin', 42, $body, 'HTTP 503', 'pending', 1800000000));
        $rows = $this->rows();
        $this->assertCount(1, $rows);
        $row = $rows[0];
        $this->assertSame('jti-1', $row['jti']);
        $this->assertSame('onUserLogin', $row['event']);
        $this->assertSame(42, (int) $row['user_id']);
        $this->assertSame($body, $row['body'], 'body stored byte for byte, #__ inside a string untouched');
        $this->assertSame('pending', $row['status']);
        $this->assertSame(0, (int) $row['attempts']);
        $this->assertSame(1800000000, (int) $row['next_attempt_at']);
        $this->assertSame('HTTP 503', $row['last_error']);
        $this->assertGreaterThanOrEqual($before, (int) $row['created_at']);
        $this->assertLessThanOrEqual(time(), (int) $row['created_at']);
    }

    public function testDuplicateJtiIsIgnored(): void
    {
        $this->outbox->add('same', 'onUserLogin', 1, 'first', null, 'pending', 0);
        $this->assertSame(0, $this->outbox->add('same', 'onUserLogout', 2, 'second', 'x', 'failed', 5));
        $rows = $this->rows();
        $this->assertCount(1, $rows);
        $this->assertSame('first', $rows[0]['body']);
        $this->assertNull($rows[0]['last_error']);
        // jti is case-sensitive (ascii_bin): another case is another event.
        $this->assertSame(1, $this->outbox->add('SAME', 'onUserLogin', 1, 'third', null, 'pending', 0));
    }

    public function testDueIsPendingAndDueOnlyOldestFirst(): void
    {
        $this->outbox->add('c', 'onUserLogin', 1, 'b-c', null, 'pending', 100);
        $this->outbox->add('a', 'onUserLogin', 1, 'b-a', null, 'pending', 50);
        $this->outbox->add('later', 'onUserLogin', 1, 'b-later', null, 'pending', 1000);
        $this->outbox->add('failed', 'onUserLogin', 1, 'b-failed', 'HTTP 400', 'failed', 0);
        $this->outbox->add('b', 'onUserLogin', 1, 'b-b', null, 'pending', 100);
        $this->assertSame(['c', 'a', 'b'], array_column($this->outbox->due(10, 100), 'jti'));
        $this->assertSame(['c', 'a'], array_column($this->outbox->due(2, 100), 'jti'));
        $this->assertSame(['a'], array_column($this->outbox->due(10, 99), 'jti'));
        $this->assertSame(['c', 'a', 'later', 'b'], array_column($this->outbox->due(10, 1000), 'jti'));
        $row = $this->outbox->due(1, 100)[0];
        foreach (['id', 'jti', 'event', 'user_id', 'body', 'status', 'attempts', 'next_attempt_at', 'last_error', 'created_at'] as $key) {
            $this->assertArrayHasKey($key, $row);
        }
    }

    public function testDeliveredRetryLaterFail(): void
    {
        $this->outbox->add('a', 'onUserLogin', 1, 'A', null, 'pending', 0);
        $this->outbox->add('b', 'onUserLogin', 2, 'B', null, 'pending', 0);
        $this->outbox->add('c', 'onUserLogin', 3, 'C', null, 'pending', 0);
        [$a, $b, $c] = $this->rows();

        $this->assertSame(1, $this->outbox->delivered($a['id']));
        $this->outbox->retryLater($b['id'], 3, 'network: timed out', 12345);
        $this->outbox->fail($c['id'], 'HTTP 422 unknown event');

        $rows = $this->rows();
        $this->assertSame(['b', 'c'], array_column($rows, 'jti'));
        $this->assertSame(['pending', 3, 12345, 'network: timed out'], [$rows[0]['status'], (int) $rows[0]['attempts'], (int) $rows[0]['next_attempt_at'], $rows[0]['last_error']]);
        $this->assertSame(['failed', 'HTTP 422 unknown event'], [$rows[1]['status'], $rows[1]['last_error']]);
        $this->assertSame(['c'], array_column($this->outbox->failed(10), 'jti'));
        $this->assertSame(['pending' => 1, 'failed' => 1], $this->outbox->counts());
        $this->assertSame([], $this->outbox->due(10, 12344));
    }

    public function testFailedNewestFirstAndCounts(): void
    {
        $this->assertSame(['pending' => 0, 'failed' => 0], $this->outbox->counts());
        foreach (['f1', 'f2', 'f3'] as $jti) {
            $this->outbox->add($jti, 'onUserLogin', 1, $jti, 'HTTP 400', 'failed', 0);
        }
        $this->outbox->add('p', 'onUserLogin', 1, 'p', null, 'pending', 0);
        $this->assertSame(['f3', 'f2'], array_column($this->outbox->failed(2), 'jti'));
        $this->assertSame(['pending' => 1, 'failed' => 3], $this->outbox->counts());
    }

    public function testLongAndBinaryErrorsFitLastError(): void
    {
        $this->outbox->add('x', 'onUserLogin', 1, 'x', str_repeat('é', 300) . "\x00\xff", 'pending', 0);
        $error = $this->rows()[0]['last_error'];
        $this->assertLessThanOrEqual(255, strlen($error));
        $this->assertSame(1, preg_match('/^[\x20-\x7E]*$/', $error));
        $this->outbox->retryLater($this->rows()[0]['id'], 1, str_repeat('y', 1000), 0);
        $this->assertSame(str_repeat('y', 255), $this->rows()[0]['last_error']);
    }

    public function testPrefixIsApplied(): void
    {
        self::$testDb->install('abc12_');
        $outbox = new CivicrmBridge_Outbox(new CivicrmBridge_PdoDb($this->pdo, 'abc12_'));
        $outbox->add('p', 'onUserLogin', 1, 'p', null, 'pending', 0);
        $this->assertSame(1, (int) $this->pdo->query('SELECT COUNT(*) FROM abc12_civicrm_bridge_outbox')->fetchColumn());
        $this->assertSame([], $this->rows());
    }

    public function testPdoDbReplacesThePrefixOutsideStringsOnly(): void
    {
        $db = new CivicrmBridge_PdoDb($this->pdo, 'jos_');
        $this->assertSame("SELECT '#__a', \"#__b\", `jos_c` FROM jos_d WHERE x = 'it''s #__e' AND y = 'a\\'#__f'",
            $db->replacePrefix("SELECT '#__a', \"#__b\", `#__c` FROM #__d WHERE x = 'it''s #__e' AND y = 'a\\'#__f'"));
        $this->assertSame("'#__'", $db->quote('#__'));
        $this->assertSame('NULL', $db->quote(null));
        $this->assertSame([['v' => "it's"]], $db->fetchAll('SELECT ' . $db->quote("it's") . ' AS v'));
    }

    public function testPdoDbThrowsOnSqlErrorsInEitherErrorMode(): void
    {
        $silent = new PDO(self::$testDb->dsn, self::$testDb->user, self::$testDb->password, [PDO::ATTR_ERRMODE => PDO::ERRMODE_SILENT]);
        foreach ([$this->pdo, $silent] as $pdo) {
            $db = new CivicrmBridge_PdoDb($pdo, 'jos_');
            try {
                $db->fetchAll('SELECT * FROM #__missing');
                $this->fail('no exception');
            } catch (Exception $e) {
                $this->assertStringContainsString('jos_missing', $e->getMessage());
            }
            try {
                $db->execute('DELETE FROM #__missing');
                $this->fail('no exception');
            } catch (Exception $e) {
                $this->assertStringContainsString('jos_missing', $e->getMessage());
            }
        }
    }
}
