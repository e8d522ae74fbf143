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

    /** The cron script with its settings in the environment (never on the command line). */
    private function runCli(string $bridgePath, array $extra = [], ?string $dsn = null, ?array $env = null): array
    {
        $script = dirname(__DIR__, 2) . '/core/cli/civicrmbridge-retry.php';
        $env ??= [
            'CIVICRMBRIDGE_DSN' => $dsn ?? self::$testDb->dsn, 'CIVICRMBRIDGE_DB_USER' => self::$testDb->user,
            'CIVICRMBRIDGE_DB_PASSWORD' => self::$testDb->password, 'CIVICRMBRIDGE_DB_PREFIX' => 'cron_',
            'CIVICRMBRIDGE_BRIDGE_URL' => self::$server->url . $bridgePath, 'CIVICRMBRIDGE_SECRET' => self::SECRET,
            'CIVICRMBRIDGE_SITE_ID' => 'cron-site',
        ];
        $env += ['PATH' => (string) getenv('PATH')];
        $proc = proc_open(array_merge([PHP_BINARY, $script], $extra), [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        return [proc_close($proc), trim($out), $err];
    }

    private static function firstLine(string $out): string
    {
        return explode("\n", $out)[0];
    }

    public function testDeliversTheOutbox(): void
    {
        $this->seed(3);
        [$code, $out, $err] = $this->runCli('/status/200');
        $this->assertSame(0, $code, $err);
        $this->assertSame("delivered 3, failed 0, pending 0\noutbox: 0 waiting, 0 failed (kept, not retried)", $out);
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
        // pending counts every waiting row: cron-3 was not reached (limit 2) and still waits.
        $this->assertSame('delivered 0, failed 2, pending 1', self::firstLine($out));
        $this->assertStringContainsString('outbox: 1 waiting, 2 failed (kept, not retried); last error: HTTP 503', $out);
        $statuses = self::$testDb->pdo->query('SELECT jti, status FROM cron_civicrm_bridge_outbox ORDER BY id')->fetchAll(PDO::FETCH_KEY_PAIR);
        $this->assertSame(['cron-1' => 'failed', 'cron-2' => 'failed', 'cron-3' => 'pending'], $statuses);

        [$code, $out] = $this->runCli('/status/500');
        $this->assertSame('delivered 0, failed 0, pending 1', self::firstLine($out));
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
        [$code, $out, $err] = $this->runCli('/status/200', [], null, ['CIVICRMBRIDGE_DB_PREFIX' => 'cron_']);
        $this->assertSame(2, $code);
        $this->assertSame('', $out);
        $this->assertStringContainsString('no Joomla configuration.php', $err);
        $this->assertStringContainsString('usage', $err);
        $env = ['CIVICRMBRIDGE_DSN' => self::$testDb->dsn, 'CIVICRMBRIDGE_DB_USER' => self::$testDb->user,
            'CIVICRMBRIDGE_DB_PASSWORD' => self::$testDb->password, 'CIVICRMBRIDGE_DB_PREFIX' => 'cron_',
            'CIVICRMBRIDGE_BRIDGE_URL' => self::$server->url, 'CIVICRMBRIDGE_SECRET' => 'short', 'CIVICRMBRIDGE_SITE_ID' => 'x'];
        [$code, , $err] = $this->runCli('/status/200', [], null, $env);
        $this->assertSame(2, $code);
        $this->assertStringContainsString('32+ bytes', $err);
    }

    public function testASecretOrPasswordOnTheCommandLineIsRefusedAndNothingIsSent(): void
    {
        $this->seed(1);
        foreach (['--secret=' . self::SECRET, '--password=x', '--dsn=' . self::$testDb->dsn] as $arg) {
            [$code, $out, $err] = $this->runCli('/status/200', [$arg]);
            $this->assertSame(2, $code, $arg);
            $this->assertSame('', $out);
            $this->assertStringContainsString('is no longer accepted', $err);
        }
        $this->assertSame([], self::$server->requests(), 'nothing was sent');
        $this->assertSame(1, (int) self::$testDb->pdo->query('SELECT COUNT(*) FROM cron_civicrm_bridge_outbox')->fetchColumn());
    }

    /** A site folder with a configuration.php (class JConfig) pointing at the test database. */
    private function site(string $dbtype = 'mysqli'): string
    {
        $server = CivicrmBridgeTestDb::server();
        $dir = sys_get_temp_dir() . '/cbt17-site-' . bin2hex(random_bytes(4));
        mkdir($dir);
        file_put_contents($dir . '/configuration.php', "<?php\ndefined('_JEXEC') or die;\nclass JConfig {\n"
            . "  public \$dbtype = '$dbtype';\n  public \$host = '{$server['host']}:{$server['port']}';\n"
            . '  public $user = ' . var_export(self::$testDb->user, true) . ";\n"
            . '  public $password = ' . var_export(self::$testDb->password, true) . ";\n"
            . '  public $db = ' . var_export(self::$testDb->name, true) . ";\n  public \$dbprefix = 'cron_';\n}\n");
        return $dir;
    }

    private function removeSite(string $dir): void
    {
        unlink($dir . '/configuration.php');
        rmdir($dir);
    }

    public function testReadsTheDatabaseFromConfigurationPhpAndTheSecretFromTheStoredParameters(): void
    {
        $pdo = self::$testDb->pdo;
        $pdo->exec('CREATE TABLE cron_extensions (extension_id INT AUTO_INCREMENT PRIMARY KEY, type VARCHAR(20), folder VARCHAR(50), element VARCHAR(100), params TEXT)');
        $site = $this->site();
        try {
            $pdo->prepare("INSERT INTO cron_extensions (type, folder, element, params) VALUES ('plugin', 'user', 'civicrmbridge', ?)")
                ->execute([json_encode(['bridge_url' => self::$server->url . '/status/200', 'secret' => self::SECRET, 'site_id' => 'stored-site'])]);
            $this->seed(2);
            [$code, $out, $err] = $this->runCli('', ['--site=' . $site], null, []);
            $this->assertSame(0, $code, $err);
            $this->assertSame('delivered 2, failed 0, pending 0', self::firstLine($out));
            $seen = self::$server->requests();
            $this->assertCount(2, $seen);
            $this->assertSame('stored-site', CivicrmBridge_Jwt::verify(substr($seen[0]['authorization'], 7), self::SECRET)['iss']);
            $this->assertSame(0, (int) $pdo->query('SELECT COUNT(*) FROM cron_civicrm_bridge_outbox')->fetchColumn());
        } finally {
            $pdo->exec('DROP TABLE cron_extensions');
            $this->removeSite($site);
        }
    }

    public function testJoomla15StoredParametersAreIniText(): void
    {
        $pdo = self::$testDb->pdo;
        $pdo->exec('CREATE TABLE cron_plugins (id INT AUTO_INCREMENT PRIMARY KEY, folder VARCHAR(100), element VARCHAR(100), params TEXT)');
        $site = $this->site('mysql');
        try {
            $ini = "bridge_url=" . self::$server->url . "/status/503\nsecret=" . self::SECRET . "\nsite_id=old-site\ntimeout=2\n";
            $pdo->prepare("INSERT INTO cron_plugins (folder, element, params) VALUES ('user', 'civicrmbridge', ?)")->execute([$ini]);
            // Two waiting rows, one not due yet: both count as pending.
            $this->seed(1);
            (new CivicrmBridge_Outbox(new CivicrmBridge_PdoDb($pdo, 'cron_')))->add('later', 'onLoginUser', 9, '{}', null, 'pending', time() + 3600);
            [$code, $out, $err] = $this->runCli('', ['--site=' . $site], null, []);
            $this->assertSame(0, $code, $err);
            $this->assertSame('delivered 0, failed 0, pending 2', self::firstLine($out));
            $this->assertSame('old-site', CivicrmBridge_Jwt::verify(substr(self::$server->requests()[0]['authorization'], 7), self::SECRET)['iss']);
        } finally {
            $pdo->exec('DROP TABLE cron_plugins');
            $this->removeSite($site);
        }
    }

    public function testSetNamesFallsBackToUtf8WhereUtf8mb4IsUnknown(): void
    {
        if (!defined('CIVICRMBRIDGE_RETRY_LIBRARY')) {
            define('CIVICRMBRIDGE_RETRY_LIBRARY', true);
        }
        require_once dirname(__DIR__, 2) . '/core/cli/civicrmbridge-retry.php';
        $this->assertSame('utf8mb4', civicrmbridge_retry_set_names(self::$testDb->pdo));
        $this->assertSame('utf8mb4', self::$testDb->pdo->query('SELECT @@character_set_client')->fetchColumn());
        // MySQL before 5.5.3 answers "Unknown character set: 'utf8mb4'" (error 1115): the same
        // refusal on a real connection, then the fallback really runs on it.
        $old = new class (self::$testDb->dsn, self::$testDb->user, self::$testDb->password, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]) extends PDO {
            public function exec(string $statement): int|false
            {
                if (stripos($statement, 'utf8mb4') !== false) {
                    return parent::exec("SET NAMES 'no_such_charset_before_5_5_3'");
                }
                return parent::exec($statement);
            }
        };
        $this->assertSame('utf8', civicrmbridge_retry_set_names($old));
        $this->assertContains($old->query('SELECT @@character_set_client')->fetchColumn(), ['utf8', 'utf8mb3']);
    }
}
