<?php
// PHPUnit bootstrap of the core suite (and of any adapter suite without its own bootstrap):
// loads the core and provides test helpers. Test code runs on PHP 8.2 only: modern syntax.
error_reporting(E_ALL);
ini_set('display_errors', '1');
date_default_timezone_set('UTC');

require_once dirname(__DIR__) . '/core/autoload.php';

/**
 * A throwaway MariaDB database per test class: cbp_<random hex>, dropped afterwards.
 * TEST_DB_SERVER_URL=mysql://user:pass@host:port/db picks the server (the db part is
 * ignored: a fresh database is always created); default root@127.0.0.1:3306.
 */
final class CivicrmBridgeTestDb
{
    public PDO $pdo;
    public string $name;
    public string $dsn;
    public string $user;
    public string $password;

    private function __construct() {}

    public static function server(): array
    {
        $url = getenv('TEST_DB_SERVER_URL');
        $s = ['host' => '127.0.0.1', 'port' => 3306, 'user' => 'root', 'pass' => ''];
        if (is_string($url) && $url !== '') {
            $p = parse_url($url);
            if ($p === false || !isset($p['host'])) {
                throw new RuntimeException('TEST_DB_SERVER_URL is not a mysql:// URL');
            }
            $s = [
                'host' => $p['host'],
                'port' => isset($p['port']) ? (int) $p['port'] : 3306,
                'user' => isset($p['user']) ? rawurldecode($p['user']) : 'root',
                'pass' => isset($p['pass']) ? rawurldecode($p['pass']) : '',
            ];
        }
        return $s;
    }

    public static function create(string $prefix = 'jos_'): self
    {
        $s = self::server();
        $db = new self();
        $db->name = 'cbp_' . bin2hex(random_bytes(6));
        $db->user = $s['user'];
        $db->password = $s['pass'];
        $server = new PDO("mysql:host={$s['host']};port={$s['port']};charset=utf8mb4", $s['user'], $s['pass'], [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
        $server->exec("CREATE DATABASE `{$db->name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
        $db->dsn = "mysql:host={$s['host']};port={$s['port']};dbname={$db->name};charset=utf8mb4";
        $db->pdo = new PDO($db->dsn, $s['user'], $s['pass'], [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
        // Strict mode as on current MySQL/MariaDB: a too-long value is an error, not a cut.
        $db->pdo->exec("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
        return $db;
    }

    /** Runs core/sql/install.mysql.sql with '#__' replaced by the prefix. */
    public function install(string $prefix = 'jos_'): void
    {
        $sql = file_get_contents(dirname(__DIR__) . '/core/sql/install.mysql.sql');
        foreach (self::statements(str_replace('#__', $prefix, $sql)) as $statement) {
            $this->pdo->exec($statement);
        }
    }

    /** A minimal #__users table (the columns the core reads). */
    public function createUsers(string $prefix = 'jos_'): void
    {
        $this->pdo->exec("CREATE TABLE `{$prefix}users` (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(400) NOT NULL DEFAULT '',
            username VARCHAR(150) NOT NULL UNIQUE, email VARCHAR(100) NOT NULL DEFAULT '', block TINYINT NOT NULL DEFAULT 0) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
    }

    public function drop(): void
    {
        $this->pdo->exec("DROP DATABASE IF EXISTS `{$this->name}`");
    }

    /** SQL file text into statements (no semicolons inside strings in our files). */
    public static function statements(string $sql): array
    {
        $sql = preg_replace('/^\s*--.*$/m', '', $sql);
        return array_values(array_filter(array_map('trim', explode(';', $sql)), 'strlen'));
    }
}

/** A fake clock for CivicrmBridge_Bridge: now() returns $t, tests move it. */
final class CivicrmBridgeFakeClock
{
    public float $t;

    public function __construct(float $t = 1764057600.0)
    {
        $this->t = $t;
    }

    public function now(): float
    {
        return $this->t;
    }

    public function advance(float $seconds): void
    {
        $this->t += $seconds;
    }
}

/** A logger that keeps the lines, for assertions. */
final class CivicrmBridgeMemoryLogger implements CivicrmBridge_Logger
{
    public array $lines = [];

    public function log($level, $message)
    {
        $this->lines[] = $level . ': ' . $message;
    }

    public function text(): string
    {
        return implode("\n", $this->lines);
    }
}

/**
 * `php -S` on a free port with a router script, for transport and cron tests. Stopped by
 * stop() (or at exit): its workers (the children of the pid it started), then itself.
 */
final class CivicrmBridgeTestHttpServer
{
    public string $url;
    public string $log;
    private $process;

    public static function start(string $router): self
    {
        $server = new self();
        $probe = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
        if ($probe === false) {
            throw new RuntimeException("no free port: $errstr");
        }
        $port = (int) substr(strrchr(stream_socket_get_name($probe, false), ':'), 1);
        fclose($probe);
        $server->log = tempnam(sys_get_temp_dir(), 'cbp-router-');
        $env = getenv();
        $env['CBP_ROUTER_LOG'] = $server->log;
        // Workers so that a request still sleeping after a client timeout blocks no other test.
        $env['PHP_CLI_SERVER_WORKERS'] = '4';
        $cmd = [PHP_BINARY, '-n', '-d', 'display_errors=stderr', '-S', "127.0.0.1:$port", $router];
        $server->process = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes, dirname($router), $env);
        if (!is_resource($server->process)) {
            throw new RuntimeException('could not start php -S');
        }
        $server->url = "http://127.0.0.1:$port";
        $deadline = microtime(true) + 10;
        while (microtime(true) < $deadline) {
            $c = @fsockopen('127.0.0.1', $port, $errno, $errstr, 0.2);
            if ($c !== false) {
                fclose($c);
                return $server;
            }
            usleep(50000);
        }
        $server->stop();
        throw new RuntimeException('php -S did not start');
    }

    /** Requests the router saw: one decoded JSON line each. */
    public function requests(): array
    {
        clearstatcache();
        $lines = is_file($this->log) ? file($this->log, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) : [];
        return array_map(fn ($l) => json_decode($l, true), $lines);
    }

    public function clearLog(): void
    {
        file_put_contents($this->log, '');
    }

    public function stop(): void
    {
        if (is_resource($this->process)) {
            $status = proc_get_status($this->process);
            // php -S with workers forks them: they outlive a terminated master. End the
            // children of the pid this helper started, then the master.
            if ($status['running']) {
                $pid = (int) $status['pid'];
                $children = @file_get_contents("/proc/$pid/task/$pid/children");
                foreach (preg_split('/\s+/', trim((string) $children)) as $child) {
                    if (ctype_digit($child) && function_exists('posix_kill')) {
                        posix_kill((int) $child, 15);
                    }
                }
                proc_terminate($this->process);
            }
            proc_close($this->process);
        }
        $this->process = null;
        if (is_file($this->log)) {
            unlink($this->log);
        }
    }

    public function __destruct()
    {
        $this->stop();
    }
}
