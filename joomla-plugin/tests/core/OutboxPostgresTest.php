<?php

use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/fakes.php';

/**
 * The outbox on a real PostgreSQL (Joomla 4/5/6 support it): the shipped install.postgresql.sql,
 * every Outbox statement, a queued event and its drain, and uninstall.postgresql.sql.
 * TEST_PG_URL=pgsql://user:pass@host:port picks the server; default postgres@127.0.0.1:5432
 * (trust auth). Needs pdo_pgsql (Debian: php-pgsql).
 */
final class OutboxPostgresTest extends TestCase
{
    private const SECRET = 'pg-secret-pg-secret-pg-secret-pg-secret';
    private static ?PDO $server = null;
    private static string $name;
    private static ?PDO $pdo = null;
    private CivicrmBridge_Outbox $outbox;

    public static function setUpBeforeClass(): void
    {
        if (!extension_loaded('pdo_pgsql')) {
            throw new RuntimeException('pdo_pgsql is missing (apt-get install php-pgsql): the PostgreSQL outbox cannot be tested');
        }
        $url = parse_url((string) (getenv('TEST_PG_URL') ?: 'pgsql://postgres@127.0.0.1:5432'));
        $dsn = 'pgsql:host=' . ($url['host'] ?? '127.0.0.1') . ';port=' . ($url['port'] ?? 5432);
        $user = rawurldecode($url['user'] ?? 'postgres');
        $pass = rawurldecode($url['pass'] ?? '');
        try {
            self::$server = new PDO($dsn . ';dbname=postgres', $user, $pass, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
        } catch (PDOException $e) {
            self::markTestSkipped('no PostgreSQL server at ' . $dsn . ': ' . $e->getMessage());
        }
        self::$name = 'cbt17_pg_' . bin2hex(random_bytes(5));
        self::$server->exec('CREATE DATABASE ' . self::$name . " ENCODING 'UTF8' TEMPLATE template0");
        self::$pdo = new PDO($dsn . ';dbname=' . self::$name, $user, $pass, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
        self::$pdo->exec(self::sql('install.postgresql.sql'));
    }

    public static function tearDownAfterClass(): void
    {
        if (self::$server !== null) {
            self::$pdo = null; // closes the connection to the test database
            // WITH (FORCE): the test case objects may still hold a connection.
            self::$server->exec('DROP DATABASE IF EXISTS ' . self::$name . ' WITH (FORCE)');
        }
    }

    private static function sql(string $file): string
    {
        return str_replace('#__', 'jos_', file_get_contents(dirname(__DIR__, 2) . '/core/sql/' . $file));
    }

    protected function setUp(): void
    {
        CivicrmBridge_Bridge::resetCircuit();
        self::$pdo->exec('TRUNCATE TABLE jos_civicrm_bridge_outbox RESTART IDENTITY');
        $this->outbox = new CivicrmBridge_Outbox(new CivicrmBridge_PdoDb(self::$pdo, 'jos_'));
    }

    private function rows(): array
    {
        return self::$pdo->query('SELECT * FROM jos_civicrm_bridge_outbox ORDER BY id')->fetchAll(PDO::FETCH_ASSOC);
    }

    public function testTheInstallSqlCreatesTheTableWithItsIndexesAndIsIdempotent(): void
    {
        $columns = self::$pdo->query("SELECT column_name FROM information_schema.columns WHERE table_name = 'jos_civicrm_bridge_outbox' ORDER BY ordinal_position")->fetchAll(PDO::FETCH_COLUMN);
        $this->assertSame(['id', 'jti', 'event', 'user_id', 'body', 'status', 'attempts', 'next_attempt_at', 'last_error', 'created_at'], $columns);
        $indexes = self::$pdo->query("SELECT indexname FROM pg_indexes WHERE tablename = 'jos_civicrm_bridge_outbox' ORDER BY indexname")->fetchAll(PDO::FETCH_COLUMN);
        $this->assertSame(['jos_civicrm_bridge_outbox_idx_due', 'jos_civicrm_bridge_outbox_pkey', 'jos_civicrm_bridge_outbox_uniq_jti'], $indexes);
        self::$pdo->exec(self::sql('install.postgresql.sql'));
        self::$pdo->exec(self::sql('uninstall.postgresql.sql'));
        $this->assertSame(0, (int) self::$pdo->query("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'jos_civicrm_bridge_outbox'")->fetchColumn());
        self::$pdo->exec(self::sql('install.postgresql.sql'));
    }

    public function testEveryOutboxStatementRunsOnPostgresql(): void
    {
        $body = '{"event":"onUserLogin","user":{"name":"Zo\u00eb \ud83e\udd8a #__users \' \\\\"}}';
        $this->assertSame(1, $this->outbox->add('jti-1', 'onUserLogin', 42, $body, "network: timed out \x00\xff", 'pending', 100));
        $this->assertSame(0, $this->outbox->add('jti-1', 'onUserAfterSave', 43, '{}', null, 'failed', 5), 'a jti already stored is kept as it is');
        $this->assertSame(1, $this->outbox->add('jti-2', 'onUserAfterSave', 43, '{}', 'HTTP 422 bad', 'failed', 0));
        $this->assertSame(1, $this->outbox->add('jti-3', 'onUserLogout', 44, '{}', null, 'pending', 50));
        $rows = $this->rows();
        $this->assertSame(['jti-1', 'jti-2', 'jti-3'], array_column($rows, 'jti'));
        $this->assertSame([$body, 'onUserLogin', 42, 'pending', 100, 'network: timed out  '], [$rows[0]['body'], $rows[0]['event'], (int) $rows[0]['user_id'], $rows[0]['status'], (int) $rows[0]['next_attempt_at'], $rows[0]['last_error']]);

        $this->assertSame(['jti-3'], array_column($this->outbox->due(10, 60), 'jti'));
        $this->assertSame(['jti-1', 'jti-3'], array_column($this->outbox->due(10, 100), 'jti'), 'oldest first');
        $this->assertSame(['pending' => 2, 'failed' => 1], $this->outbox->counts());
        $this->assertSame('HTTP 422 bad', $this->outbox->lastError()['last_error']);
        $this->assertIsInt($this->outbox->oldestPending());

        $this->assertSame(1, $this->outbox->retryLater((int) $rows[2]['id'], 1, 'HTTP 503', 9999));
        $this->assertSame(2, $this->outbox->makeDue());
        $this->assertSame(['jti-1', 'jti-3'], array_column($this->outbox->due(10, 0), 'jti'));
        $this->assertSame(1, $this->outbox->fail((int) $rows[0]['id'], 'gave up'));
        $this->assertSame(['jti-2', 'jti-1'], array_column($this->outbox->failed(10), 'jti'), 'failed rows, newest first');
        $this->assertSame(1, $this->outbox->delivered((int) $rows[2]['id']));
        $this->assertSame(['pending' => 0, 'failed' => 2], $this->outbox->counts());
        $this->assertNull($this->outbox->oldestPending());
    }

    public function testAnEventTheBridgeDidNotTakeIsQueuedAndDrainedExactlyOnce(): void
    {
        $clock = new CivicrmBridgeFakeClock();
        $config = new CivicrmBridge_Config(['bridge_url' => 'http://bridge.invalid', 'secret' => self::SECRET, 'site_id' => 'pg-site']);
        $db = new CivicrmBridge_PdoDb(self::$pdo, 'jos_');
        $down = new CivicrmBridgeFakeTransport($clock, [[0]]);
        $ann = ['id' => 42, 'username' => 'ann', 'email' => 'ann@example.org', 'name' => 'Ann 🦄'];
        $result = (new CivicrmBridge_Bridge($config, $db, $down, null, $clock))->handle('onUserLogin', $ann);
        $this->assertSame([false, true], [$result['delivered'], $result['queued']], 'not lost on PostgreSQL');
        $this->assertSame(['onUserLogin', 42, 'pending'], [$this->rows()[0]['event'], (int) $this->rows()[0]['user_id'], $this->rows()[0]['status']]);

        CivicrmBridge_Bridge::resetCircuit(); // a later request
        $clock->advance(3600);
        $up = new CivicrmBridgeFakeTransport($clock, [[200]]);
        $bridge = new CivicrmBridge_Bridge($config, $db, $up, null, $clock);
        $this->assertSame(['pending' => 1, 'failed' => 0], array_intersect_key($bridge->outboxStatus(), ['pending' => 1, 'failed' => 1]));
        $this->assertSame(['delivered' => 1, 'failed' => 0, 'pending' => 0], $bridge->drainOutbox());
        $this->assertSame(['delivered' => 0, 'failed' => 0, 'pending' => 0], $bridge->drainOutbox());
        $this->assertCount(1, $up->calls);
        $this->assertSame($down->calls[0]['body'], $up->calls[0]['body'], 'the same bytes');
        $this->assertSame([], $this->rows());
    }
}
