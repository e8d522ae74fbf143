<?php

use PHPUnit\Framework\TestCase;

/** core/cli/civicrmbridge-retry.php as cron runs it: a real database, a real HTTP server. */
final class CliRetryTest extends TestCase
{
    private const SECRET = 'cron-secret-cron-secret-cron-secret!';
    private static CivicrmBridgeTestHttpServer $server;
    private static CivicrmBridgeTestDb $testDb;

    public static function setUpBeforeClass(): void
    {
        self::$server = CivicrmBridgeTestHttpServer::start(dirname(__DIR__) . '/fixtures/http-router.php');
        self::$testDb = CivicrmBridgeTestDb::create();
        self::$testDb->install('cron_');
    }

    public static function tearDownAfterClass(): void
    {
        self::$server->stop();
        self::$testDb->drop();
    }

    protected function setUp(): void
    {
        self::$testDb->pdo->exec('TRUNCATE TABLE cron_civicrm_bridge_outbox');
        self::$server->clearLog();
    }

    private function seed(int $n): void
    {
        $outbox = new CivicrmBridge_Outbox(new CivicrmBridge_PdoDb(self::$testDb->pdo, 'cron_'));
        for ($i = 1; $i <= $n; $i++) {
            $outbox->add("cron-$i", 'onUserLogin', $i, '{"event":"onUserLogin","n":' . $i . '}', 'HTTP 503', 'pending', 0);
        }
    }

    private function runCli(string $bridgePath, array $extra = [], ?string $dsn = null): array
    {
        $script = dirname(__DIR__, 2) . '/core/cli/civicrmbridge-retry.php';
        $args = array_merge([PHP_BINARY, $script, '--dsn=' . ($dsn ?? self::$testDb->dsn), '--user=' . self::$testDb->user,
            '--password=' . self::$testDb->password, '--prefix=cron_', '--bridge-url=' . self::$server->url . $bridgePath,
            '--secret=' . self::SECRET, '--site-id=cron-site'], $extra);
        $proc = proc_open($args, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        return [proc_close($proc), trim($out), $err];
    }

    public function testDeliversTheOutbox(): void
    {
        $this->seed(3);
        [$code, $out, $err] = $this->runCli('/status/200');
        $this->assertSame(0, $code, $err);
        $this->assertSame('delivered 3, failed 0, pending 0', $out);
        $this->assertSame(0, (int) self::$testDb->pdo->query('SELECT COUNT(*) FROM cron_civicrm_bridge_outbox')->fetchColumn());
        $seen = self::$server->requests();
        $this->assertCount(3, $seen);
        foreach ($seen as $i => $request) {
            $claims = CivicrmBridge_Jwt::verify(substr($request['authorization'], 7), self::SECRET);
            $this->assertSame('cron-' . ($i + 1), $claims['jti'], 'oldest first, same jti');
            $this->assertSame('cron-site', $claims['iss']);
            $this->assertSame('{"event":"onUserLogin","n":' . ($i + 1) . '}', $request['body']);
        }
    }

    public function testLimitFailuresAndRetries(): void
    {
        $this->seed(3);
        [$code, $out] = $this->runCli('/status/422', ['--limit=2']);
        $this->assertSame(0, $code);
        $this->assertSame('delivered 0, failed 2, pending 0', $out);
        $statuses = self::$testDb->pdo->query('SELECT jti, status FROM cron_civicrm_bridge_outbox ORDER BY id')->fetchAll(PDO::FETCH_KEY_PAIR);
        $this->assertSame(['cron-1' => 'failed', 'cron-2' => 'failed', 'cron-3' => 'pending'], $statuses);

        [$code, $out] = $this->runCli('/status/500');
        $this->assertSame('delivered 0, failed 0, pending 1', $out);
        $row = self::$testDb->pdo->query("SELECT * FROM cron_civicrm_bridge_outbox WHERE jti = 'cron-3'")->fetch(PDO::FETCH_ASSOC);
        $this->assertSame(1, (int) $row['attempts']);
        $this->assertEqualsWithDelta(time() + 60, (int) $row['next_attempt_at'], 3);
    }

    public function testUnreachableDatabaseExitsOne(): void
    {
        [$code, $out, $err] = $this->runCli('/status/200', [], 'mysql:host=127.0.0.1;port=3306;dbname=cbp_does_not_exist_' . bin2hex(random_bytes(4)));
        $this->assertSame(1, $code);
        $this->assertSame('', $out);
        $this->assertStringContainsString('database unreachable', $err);
    }

    public function testUsageErrorsExitTwo(): void
    {
        $proc = proc_open([PHP_BINARY, dirname(__DIR__, 2) . '/core/cli/civicrmbridge-retry.php'], [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $err = stream_get_contents($pipes[2]);
        $this->assertSame(2, proc_close($proc));
        $this->assertStringContainsString('usage', $err);
        [$code, , $err] = $this->runCli('/status/200', ['--secret=short']);
        $this->assertSame(2, $code);
        $this->assertStringContainsString('32+ bytes', $err);
    }
}
