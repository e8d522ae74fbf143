<?php

use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/fakes.php';

/** CivicrmBridge_Bridge with a scripted transport, a fake clock and a real MariaDB outbox. */
final class BridgeTest extends TestCase
{
    private const SECRET = 'test-secret-test-secret-test-secret-42';
    private const URL = 'https://bridge.example.org';
    private const ANN = ['id' => 42, 'username' => 'ann', 'email' => 'ann@example.org', 'name' => 'Ann Lee', 'block' => 0, 'password' => 'hunter2'];

    private static CivicrmBridgeTestDb $testDb;
    private PDO $pdo;
    private CivicrmBridge_PdoDb $db;
    private CivicrmBridgeFakeClock $clock;
    private CivicrmBridgeMemoryLogger $logger;

    public static function setUpBeforeClass(): void
    {
        self::$testDb = CivicrmBridgeTestDb::create();
        self::$testDb->install('jos_');
        self::$testDb->createUsers('jos_');
        self::$testDb->pdo->exec("INSERT INTO jos_users (id, name, username, email) VALUES (7, 'Bob Roe', 'bob', 'bob@example.org')");
    }

    public static function tearDownAfterClass(): void
    {
        self::$testDb->drop();
    }

    protected function setUp(): void
    {
        $this->pdo = self::$testDb->pdo;
        $this->pdo->exec('TRUNCATE TABLE jos_civicrm_bridge_outbox');
        $this->db = new CivicrmBridge_PdoDb($this->pdo, 'jos_');
        $this->clock = new CivicrmBridgeFakeClock(1764057600.0);
        $this->logger = new CivicrmBridgeMemoryLogger();
        CivicrmBridge_Bridge::forgetRemembered();
        CivicrmBridge_Bridge::resetCircuit();
    }

    private function bridge(CivicrmBridge_Transport $transport, array $params = []): CivicrmBridge_Bridge
    {
        $config = new CivicrmBridge_Config($params + ['bridge_url' => self::URL . '/', 'secret' => self::SECRET, 'site_id' => 'site-1', 'timeout' => 2]);
        return new CivicrmBridge_Bridge($config, $this->db, $transport, $this->logger, $this->clock);
    }

    private function transport(array $script = [[200]]): CivicrmBridgeFakeTransport
    {
        return new CivicrmBridgeFakeTransport($this->clock, $script);
    }

    private function rows(): array
    {
        return $this->pdo->query('SELECT * FROM jos_civicrm_bridge_outbox ORDER BY id')->fetchAll(PDO::FETCH_ASSOC);
    }

    private function now(): int
    {
        return (int) floor($this->clock->now());
    }

    /** Adds a pending outbox row as handle() would have, returns its jti. */
    private function queued(string $jti, int $attempts = 0, int $due = 0, string $event = 'onUserLogin'): string
    {
        $body = CivicrmBridge_EventMapper::body($event, ['id' => 42, 'username' => "u-$jti"], null, null, '2026-01-01T00:00:00.000Z');
        $this->pdo->exec('INSERT INTO jos_civicrm_bridge_outbox (jti, event, user_id, body, status, attempts, next_attempt_at, created_at) VALUES ('
            . $this->pdo->quote($jti) . ", '$event', 42, " . $this->pdo->quote($body) . ", 'pending', $attempts, $due, 1)");
        return $jti;
    }

    private function claims(array $call): array
    {
        $claims = CivicrmBridge_Jwt::verify($call['token'], self::SECRET, $call['at']);
        $this->assertIsArray($claims, 'the token verifies with the secret');
        return $claims;
    }

    public function testDeliveredEventIsSignedAndNotStored(): void
    {
        $t = $this->transport([[200]]);
        $result = $this->bridge($t)->handle('onUserAfterSave', self::ANN, true, true);
        $this->assertSame(['delivered' => true, 'queued' => false, 'status' => 200, 'response' => ['action' => 'linked-existing', 'contactId' => 12, 'reason' => null]], $result);
        $this->assertCount(1, $t->calls);
        $call = $t->calls[0];
        $this->assertSame(self::URL . '/v1/joomla/events', $call['url']);
        $this->assertContains('Content-Type: application/json', $call['headers']);
        $this->assertSame(2.0, $call['timeout']);
        $this->assertSame('{"event":"onUserAfterSave","user":{"id":42,"username":"ann","email":"ann@example.org","name":"Ann Lee","block":0},"isNew":true,"success":true,"occurredAt":"2025-11-25T08:00:00.000Z"}', $call['body']);
        $claims = $this->claims($call);
        $this->assertSame(['iss', 'aud', 'iat', 'exp', 'jti', 'body_sha256'], array_keys($claims));
        $this->assertSame('site-1', $claims['iss']);
        $this->assertSame('civicrm-bridge', $claims['aud']);
        $this->assertSame(1764057600, $claims['iat']);
        $this->assertSame(1764057720, $claims['exp']);
        $this->assertMatchesRegularExpression('/^[0-9a-f]{32}$/', $claims['jti']);
        $this->assertSame(hash('sha256', $call['body']), $claims['body_sha256']);
        $this->assertSame([], $this->rows());
    }

    public function testEveryEventGetsItsOwnJti(): void
    {
        $t = $this->transport();
        $b = $this->bridge($t);
        $b->handle('onUserLogin', self::ANN);
        $b->handle('onUserLogin', self::ANN);
        $this->assertNotSame($this->claims($t->calls[0])['jti'], $this->claims($t->calls[1])['jti']);
    }

    public static function answers(): array
    {
        // protocol.md "Answers": status => what the plugin does.
        return [
            '200 done' => [200, 'done'],
            '400 malformed' => [400, 'failed'],
            '401 bad token' => [401, 'pending'],
            '409 jti reused' => [409, 'failed'],
            '413 too large' => [413, 'failed'],
            '422 unknown event' => [422, 'failed'],
            '429 rate limited' => [429, 'pending'],
            '500' => [500, 'pending'],
            '502' => [502, 'pending'],
            '503' => [503, 'pending'],
            '504' => [504, 'pending'],
            'network error (0)' => [0, 'pending'],
            'anything else (404)' => [404, 'pending'],
            'anything else (302)' => [302, 'pending'],
            'anything else (204)' => [204, 'pending'],
        ];
    }

    /** @dataProvider answers */
    public function testOutcomeOfEachAnswer(int $status, string $expected): void
    {
        $t = $this->transport([[$status]]);
        $result = $this->bridge($t)->handle('onUserLogin', self::ANN, null, null);
        $this->assertSame($status, $result['status']);
        $this->assertSame($expected === 'done', $result['delivered']);
        $this->assertSame($expected !== 'done', $result['queued']);
        $rows = $this->rows();
        if ($expected === 'done') {
            $this->assertSame([], $rows);
            return;
        }
        $this->assertCount(1, $rows);
        $row = $rows[0];
        $this->assertSame($expected, $row['status']);
        $this->assertSame($this->claims($t->calls[0])['jti'], $row['jti']);
        $this->assertSame($t->calls[0]['body'], $row['body'], 'the exact body is kept for the retry');
        $this->assertSame('onUserLogin', $row['event']);
        $this->assertSame(42, (int) $row['user_id']);
        $this->assertSame(0, (int) $row['attempts']);
        $this->assertStringContainsString($status === 0 ? 'network' : "HTTP $status", $row['last_error']);
        if ($expected === 'pending') {
            $this->assertSame($this->now() + 30, (int) $row['next_attempt_at'], 'first retry after 30 s');
        }
        if ($status >= 400) {
            $this->assertStringContainsString("scripted $status", $row['last_error']);
        }
    }

    public function testRetryAfterIsHonouredWhenLongerThanTheBackOff(): void
    {
        $this->bridge($this->transport([[503, null, 600]]))->handle('onUserLogin', self::ANN);
        CivicrmBridge_Bridge::resetCircuit(); // a later request
        $this->bridge($this->transport([[429, null, 5]]))->handle('onUserLogin', self::ANN);
        CivicrmBridge_Bridge::resetCircuit(); // a later request
        $this->bridge($this->transport([[503, null, 999999]]))->handle('onUserLogin', self::ANN);
        $due = array_map('intval', array_column($this->rows(), 'next_attempt_at'));
        $this->assertSame([$this->now() + 600, $this->now() + 30, $this->now() + 21600], $due);
    }

    public static function notTheBridgesAnswer(): array
    {
        // A 200 from something that is not the bridge (wrong URL, CMS page, captive portal, proxy).
        return [
            'HTML page' => ['<!DOCTYPE html><html><head><title>Home</title></head><body><h1>Welcome</h1></body></html>'],
            'captive portal' => ["<html><body>Please log in to the Wi-Fi\x00\xff</body></html>"],
            'empty body' => [''],
            'plain text' => ['OK'],
            'JSON without action' => ['{"status":"ok"}'],
            'empty JSON object' => ['{}'],
            'action not a string' => ['{"action":12,"contactId":1}'],
            'action null' => ['{"action":null}'],
            'JSON array' => ['["action","linked-existing"]'],
            'JSON list of one object' => ['[{"action":"linked-existing"}]'],
            'JSON string' => ['"action"'],
            'JSON null' => ['null'],
            'truncated JSON' => ['{"action":"linked-existing"'],
        ];
    }

    /** @dataProvider notTheBridgesAnswer */
    public function testA200WithoutTheBridgesJsonAnswerIsKeptPendingAndLogged(string $body): void
    {
        $t = $this->transport([[200, $body]]);
        $result = $this->bridge($t)->handle('onUserLogin', self::ANN, null, null);
        $this->assertSame(200, $result['status']);
        $this->assertFalse($result['delivered'], 'not delivered: the bridge never answered');
        $this->assertTrue($result['queued']);
        $rows = $this->rows();
        $this->assertCount(1, $rows);
        $this->assertSame('pending', $rows[0]['status']);
        $this->assertSame(0, (int) $rows[0]['attempts']);
        $this->assertSame($this->now() + 30, (int) $rows[0]['next_attempt_at'], 'retried with back-off');
        $this->assertSame($t->calls[0]['body'], $rows[0]['body']);
        $this->assertStringStartsWith('HTTP 200 not from the bridge', $rows[0]['last_error']);
        $this->assertContains('warning: the bridge URL ' . self::URL . ' did not answer like the bridge'
            . ' (HTTP 200 without its JSON answer with an "action"): check the bridge URL; the event is kept for a retry', $this->logger->lines);
        $this->assertCount(1, $t->calls, 'no backlog drain after a failed delivery');
    }

    public function testA200WithTheBridgesJsonAnswerIsDelivered(): void
    {
        foreach (['{"action":"acknowledged","contactId":null,"reason":null}', " \n{\"action\":\"skipped\",\"reason\":\"missing-email\"}\n",
            '{"contactId":12,"action":"linked-existing","extra":[1]}'] as $body) {
            $result = $this->bridge($this->transport([[200, $body]]))->handle('onUserLogin', self::ANN);
            $this->assertTrue($result['delivered'], $body);
            $this->assertFalse($result['queued'], $body);
        }
        $this->assertSame([], $this->rows());
        $this->assertStringNotContainsString('did not answer like the bridge', $this->logger->text());
    }

    public function testDrainKeepsRowsPendingWhenA200IsNotTheBridgesAnswer(): void
    {
        foreach (['a', 'b', 'c'] as $jti) {
            $this->queued($jti, 1);
        }
        $t = $this->transport([[200, '<html><body>It works!</body></html>'], [200]]);
        $counts = $this->bridge($t)->drainOutbox();
        $this->assertCount(1, $t->calls, 'not the bridge: no point trying the others');
        $this->assertSame(['delivered' => 0, 'failed' => 0, 'pending' => 3], $counts);
        $rows = $this->rows();
        $this->assertSame(['pending', 'pending', 'pending'], array_column($rows, 'status'));
        $this->assertSame([2, 1, 1], array_map('intval', array_column($rows, 'attempts')));
        $this->assertSame($this->now() + 120, (int) $rows[0]['next_attempt_at'], 'back-off as for any temporary failure');
        $this->assertStringStartsWith('HTTP 200 not from the bridge', $rows[0]['last_error']);
        $this->assertStringContainsString('warning: the bridge URL ' . self::URL . ' did not answer like the bridge', $this->logger->text());
        // Once the real bridge answers, the rows are delivered.
        $this->clock->advance(3600);
        CivicrmBridge_Bridge::resetCircuit(); // a later request
        $this->assertSame(['delivered' => 3, 'failed' => 0, 'pending' => 0], $this->bridge($this->transport([[200]]))->drainOutbox());
        $this->assertSame([], $this->rows());
    }

    /**
     * An outbox table in utf8 (3-byte, as Joomla 1.5's and older sites' are) cannot hold a
     * 4-byte character: the body is ASCII-only JSON, so the stored and re-sent bytes are
     * exactly the first attempt's and the name arrives intact.
     */
    public function testAQueuedFourByteNameSurvivesAUtf8OutboxTable(): void
    {
        // The 1.6 - 3.x zip's install SQL (utf8: MySQL before 5.5.3 has no utf8mb4).
        $ddl = str_replace('#__', 'u3_', file_get_contents(dirname(__DIR__, 2) . '/core/sql/install.mysql.utf8.sql'));
        $this->pdo->exec('DROP TABLE IF EXISTS u3_civicrm_bridge_outbox');
        $this->pdo->exec($ddl);
        $this->assertStringStartsWith('utf8', $this->pdo->query("SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
            . " AND TABLE_NAME = 'u3_civicrm_bridge_outbox' AND COLUMN_NAME = 'body'")->fetchColumn());
        $this->assertNotSame('utf8mb4', $this->pdo->query("SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
            . " AND TABLE_NAME = 'u3_civicrm_bridge_outbox' AND COLUMN_NAME = 'body'")->fetchColumn());
        try {
            // Both the strict mode of the test database (an emoji is refused) and a lax one (stored as '?').
            foreach (['STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION', ''] as $mode) {
                $this->pdo->exec("SET SESSION sql_mode = '$mode'");
                $this->pdo->exec('TRUNCATE TABLE u3_civicrm_bridge_outbox');
                $db = new CivicrmBridge_PdoDb($this->pdo, 'u3_');
                $config = new CivicrmBridge_Config(['bridge_url' => self::URL, 'secret' => self::SECRET, 'site_id' => 'site-1', 'timeout' => 2]);
                $user = ['id' => 48, 'username' => 'fox', 'email' => 'fox@example.org', 'name' => 'Zoë🦊 Fuchs'];
                $first = $this->transport([[503]]);
                $result = (new CivicrmBridge_Bridge($config, $db, $first, $this->logger, $this->clock))->handle('onUserAfterSave', $user, true, true);
                $this->assertTrue($result['queued'], "$mode: queued, not lost: " . $this->logger->text());
                $this->clock->advance(3600);
                CivicrmBridge_Bridge::resetCircuit(); // a later request
                $retry = $this->transport([[200]]);
                $counts = (new CivicrmBridge_Bridge($config, $db, $retry, $this->logger, $this->clock))->drainOutbox();
                $this->assertSame(['delivered' => 1, 'failed' => 0, 'pending' => 0], $counts, $mode);
                $this->assertSame($first->calls[0]['body'], $retry->calls[0]['body'], "$mode: the retry sends the first attempt's exact bytes");
                $this->assertSame($this->claims($retry->calls[0])['body_sha256'], hash('sha256', $first->calls[0]['body']));
                $this->assertSame('Zoë🦊 Fuchs', json_decode($retry->calls[0]['body'], true)['user']['name'], "$mode: the name arrives intact");
            }
        } finally {
            $this->pdo->exec("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
            $this->pdo->exec('DROP TABLE IF EXISTS u3_civicrm_bridge_outbox');
        }
    }

    public function testSlowBridgeTimesOutWithinTheConfiguredTimeoutAndQueues(): void
    {
        $t = $this->transport([[200, null, null, 5.0]]);
        $start = $this->clock->now();
        $result = $this->bridge($t, ['timeout' => '1.5'])->handle('onUserLogin', self::ANN);
        $this->assertSame(1.5, $t->calls[0]['timeout']);
        $this->assertLessThanOrEqual(1.5, $this->clock->now() - $start);
        $this->assertSame(['delivered' => false, 'queued' => true, 'status' => 0, 'response' => null], $result);
        $this->assertSame('pending', $this->rows()[0]['status']);
        $this->assertStringContainsString('timed out', $this->rows()[0]['last_error']);
    }

    public function testRetryKeepsJtiAndBodyWithFreshIatAndExp(): void
    {
        $this->bridge($this->transport([[503]]))->handle('onUserAfterSave', self::ANN, false, true);
        $first = $this->rows()[0];
        $this->clock->advance(3600);
        CivicrmBridge_Bridge::resetCircuit(); // a later request
        $t = $this->transport([[200]]);
        $counts = $this->bridge($t)->drainOutbox();
        $this->assertSame(['delivered' => 1, 'failed' => 0, 'pending' => 0], $counts);
        $claims = $this->claims($t->calls[0]);
        $this->assertSame($first['jti'], $claims['jti']);
        $this->assertSame($first['body'], $t->calls[0]['body']);
        $this->assertSame(hash('sha256', $first['body']), $claims['body_sha256']);
        $this->assertSame($this->now(), $claims['iat']);
        $this->assertSame($this->now() + 120, $claims['exp']);
        $this->assertStringContainsString('"occurredAt":"2025-11-25T08:00:00.000Z"', $t->calls[0]['body'], 'occurredAt is when it happened');
        $this->assertSame([], $this->rows());
    }

    public function testBackOffDoublesUpToSixHours(): void
    {
        $expected = [0 => 60, 1 => 120, 3 => 480, 8 => 15360, 9 => 21600, 12 => 21600];
        foreach (array_keys($expected) as $attempts) {
            $this->queued("a$attempts", $attempts);
        }
        // 500s do not stop the drain (only a network failure does).
        $counts = $this->bridge($this->transport([[500]]), ['outbox_max_attempts' => 50])->drainOutbox();
        $this->assertSame(['delivered' => 0, 'failed' => 0, 'pending' => 6], $counts);
        foreach ($this->rows() as $row) {
            $before = (int) substr($row['jti'], 1);
            $this->assertSame($before + 1, (int) $row['attempts']);
            $this->assertSame($this->now() + $expected[$before], (int) $row['next_attempt_at'], "after attempt $before");
            $this->assertSame('pending', $row['status']);
        }
    }

    public function testRetryAfterInTheDrain(): void
    {
        $this->queued('x', 0);
        $this->bridge($this->transport([[429, null, 3000]]))->drainOutbox();
        $this->assertSame($this->now() + 3000, (int) $this->rows()[0]['next_attempt_at']);
    }

    public function testMaxAttemptsTurnsTheRowFailed(): void
    {
        $this->queued('last', 2);
        $this->queued('early', 0);
        $counts = $this->bridge($this->transport([[500]]), ['outbox_max_attempts' => 3])->drainOutbox();
        $this->assertSame(['delivered' => 0, 'failed' => 1, 'pending' => 1], $counts);
        [$last, $early] = $this->rows();
        $this->assertSame('failed', $last['status']);
        $this->assertStringContainsString('gave up after 3', $last['last_error']);
        $this->assertSame('pending', $early['status']);
        $this->assertSame(1, (int) $early['attempts']);
    }

    public function testPermanentRefusalInTheDrainFails(): void
    {
        $this->queued('a');
        $this->queued('b');
        $counts = $this->bridge($this->transport([[409], [200]]))->drainOutbox();
        $this->assertSame(['delivered' => 1, 'failed' => 1, 'pending' => 0], $counts);
        $rows = $this->rows();
        $this->assertCount(1, $rows);
        $this->assertSame(['a', 'failed'], [$rows[0]['jti'], $rows[0]['status']]);
        $this->assertStringContainsString('HTTP 409', $rows[0]['last_error']);
    }

    public function testDrainTakesDueRowsOldestFirstWithinTheLimit(): void
    {
        $this->queued('first', 0, $this->now() - 100);
        $this->queued('not-due', 0, $this->now() + 100);
        $this->queued('second', 0, $this->now());
        $this->queued('third', 0, 5);
        $this->queued('fourth', 0, 5);
        $t = $this->transport([[200]]);
        $counts = $this->bridge($t, ['outbox_batch' => 3])->drainOutbox();
        $this->assertSame(['delivered' => 3, 'failed' => 0, 'pending' => 0], $counts);
        $this->assertSame(['first', 'second', 'third'], array_map(fn ($c) => $this->claims($c)['jti'], $t->calls));
        $this->assertSame(['not-due', 'fourth'], array_column($this->rows(), 'jti'));
        $counts = $this->bridge($t)->drainOutbox(5);
        $this->assertSame(1, $counts['delivered']);
        $this->assertSame(['not-due'], array_column($this->rows(), 'jti'));
    }

    public function testDrainStopsAtTheFirstNetworkFailure(): void
    {
        foreach (['a', 'b', 'c'] as $jti) {
            $this->queued($jti);
        }
        $t = $this->transport([[0], [200]]);
        $counts = $this->bridge($t)->drainOutbox();
        $this->assertCount(1, $t->calls, 'bridge down: no point trying the others');
        $this->assertSame(['delivered' => 0, 'failed' => 0, 'pending' => 3], $counts);
        $rows = $this->rows();
        $this->assertSame([1, 0, 0], array_map('intval', array_column($rows, 'attempts')));
        $this->assertSame($this->now() + 60, (int) $rows[0]['next_attempt_at']);
    }

    public function testDrainAfterSuccessStaysWithinTheTimeoutBudget(): void
    {
        for ($i = 1; $i <= 6; $i++) {
            $this->queued("q$i");
        }
        // The event takes 0.3 s, each backlog row 0.5 s; the budget is 2 s in all.
        $t = $this->transport([[200, null, null, 0.3], [200, null, null, 0.5]]);
        $start = $this->clock->now();
        $result = $this->bridge($t, ['timeout' => 2])->handle('onUserLogin', self::ANN);
        $elapsed = $this->clock->now() - $start;
        $this->assertTrue($result['delivered']);
        $this->assertLessThanOrEqual(2.0 + 1e-6, $elapsed, 'never longer than the configured timeout');
        foreach ($t->calls as $call) {
            $this->assertLessThanOrEqual(2.0 - ($call['at'] - $start) + 1e-6, $call['timeout'], 'each delivery bounded by what is left');
        }
        // 0.3 + 3 x 0.5 = 1.8 s; the 4th row gets the last 0.2 s and times out (bridge "down").
        $this->assertCount(5, $t->calls);
        $this->assertEqualsWithDelta(0.2, $t->calls[4]['timeout'], 1e-6);
        $rows = $this->rows();
        $this->assertSame(['q4', 'q5', 'q6'], array_column($rows, 'jti'));
        $this->assertSame(1, (int) $rows[0]['attempts']);
    }

    public function testDrainStopsWhenTheBudgetIsSpent(): void
    {
        $this->queued('a');
        $this->queued('b');
        $t = $this->transport([[200, null, null, 0.95]]);
        $counts = $this->bridge($t)->drainOutbox(null, 1.0);
        $this->assertSame(['delivered' => 1, 'failed' => 0, 'pending' => 1], $counts);
        $this->assertCount(1, $t->calls);
        $this->assertSame(1.0, $t->calls[0]['timeout']);
    }

    public function testNoDrainAfterAFailedDelivery(): void
    {
        $this->queued('old');
        $t = $this->transport([[503]]);
        $this->bridge($t)->handle('onUserLogin', self::ANN);
        $this->assertCount(1, $t->calls);
        $this->assertSame(['old', 'pending', 0], [$this->rows()[0]['jti'], $this->rows()[0]['status'], (int) $this->rows()[0]['attempts']]);
    }

    public function testDeleteUsesWhatBeforeDeleteRemembered(): void
    {
        $t = $this->transport();
        $b = $this->bridge($t);
        $this->assertNull($b->handle('onUserBeforeDelete', self::ANN));
        $this->assertSame([], $t->calls, 'a before-event never touches the network');
        $b->handle('onUserAfterDelete', [], null, true);
        $user = json_decode($t->calls[0]['body'], true)['user'];
        $this->assertSame(['id' => 42, 'username' => 'ann', 'email' => 'ann@example.org', 'name' => 'Ann Lee', 'block' => 0], $user);

        // With only the id, the rest is filled in; the memory is per user id.
        $b->beforeDelete(['id' => 9, 'username' => 'cy', 'email' => 'cy@example.org', 'name' => 'Cy']);
        $b->beforeDelete(['id' => 10, 'username' => 'di', 'email' => 'di@example.org', 'name' => 'Di']);
        $b->handle('onAfterDeleteUser', ['id' => 9], null, true);
        $this->assertSame(['id' => 9, 'username' => 'cy', 'email' => 'cy@example.org', 'name' => 'Cy', 'block' => 0], json_decode($t->calls[1]['body'], true)['user']);

        // Another Bridge instance in the same request (an adapter may build one per event).
        $this->bridge($t)->handle('onUserAfterDelete', ['id' => 10, 'username' => 'di'], null, true);
        $this->assertSame('di@example.org', json_decode($t->calls[2]['body'], true)['user']['email']);

        // Nothing remembered and no id: nothing can be sent.
        $this->assertNull($b->handle('onUserAfterDelete', [], null, true));
        $this->assertCount(3, $t->calls);
    }

    public function testLoginWithoutIdIsResolvedByUsername(): void
    {
        $t = $this->transport();
        $b = $this->bridge($t);
        $b->handle('onUserLogin', ['username' => 'bob', 'email' => 'bob@example.org', 'fullname' => 'Bob Roe', 'password' => 'secret!'], null, null);
        $body = json_decode($t->calls[0]['body'], true);
        $this->assertSame(['id' => 7, 'username' => 'bob', 'email' => 'bob@example.org', 'name' => 'Bob Roe', 'block' => 0], $body['user']);
        $this->assertStringNotContainsString('secret!', $t->calls[0]['body']);

        $this->assertNull($b->handle('onLoginUser', ['username' => 'nobody'], null, null));
        $this->assertCount(1, $t->calls);
        $this->assertStringContainsString('without a user id', $this->logger->text());
        $this->assertSame(7, CivicrmBridge_Bridge::resolveUserId($this->db, 'bob'));
        $this->assertSame(0, CivicrmBridge_Bridge::resolveUserId($this->db, "bob' OR '1'='1"));
        $this->assertSame(0, CivicrmBridge_Bridge::resolveUserId($this->db, ''));
        $this->assertSame(0, CivicrmBridge_Bridge::resolveUserId(null, 'bob'));
        $this->assertSame(0, CivicrmBridge_Bridge::resolveUserId(new CivicrmBridge_PdoDb($this->pdo, 'nope_'), 'bob'));
    }

    public function testForwardingSwitches(): void
    {
        $t = $this->transport();
        $b = $this->bridge($t, ['forward_save' => '0', 'forward_login' => 0, 'forward_delete' => 'false', 'forward_logout' => '1']);
        $this->assertNull($b->handle('onUserAfterSave', self::ANN, true, true));
        $this->assertNull($b->handle('onLoginUser', self::ANN));
        $this->assertNull($b->handle('onUserAfterDelete', self::ANN, null, true));
        $this->assertSame([], $t->calls);
        $this->assertTrue($b->handle('onUserLogout', self::ANN)['delivered']);
        $this->assertSame('onUserLogout', json_decode($t->calls[0]['body'], true)['event']);
        $this->assertNull($b->handle('onUserAfterLogin', self::ANN), 'not a forwarded event');
        $this->assertNull($b->handle('onBeforeStoreUser', self::ANN, false));
        $this->assertCount(1, $t->calls);
    }

    public function testOneFiveEventNamesAreSentUnderTheirOwnName(): void
    {
        $t = $this->transport();
        $b = $this->bridge($t);
        foreach (['onAfterStoreUser', 'onLoginUser', 'onLogoutUser', 'onAfterDeleteUser'] as $event) {
            $b->handle($event, self::ANN, $event === 'onAfterStoreUser' ? false : null, true);
        }
        $this->assertSame(['onAfterStoreUser', 'onLoginUser', 'onLogoutUser', 'onAfterDeleteUser'], array_map(fn ($c) => json_decode($c['body'], true)['event'], $t->calls));
        $this->assertFalse(json_decode($t->calls[0]['body'], true)['isNew']);
    }

    public function testUnconfiguredPluginDoesNothingAndNeverThrows(): void
    {
        $t = $this->transport();
        foreach ([[], ['bridge_url' => self::URL, 'secret' => 'short', 'site_id' => 's'], ['bridge_url' => '', 'secret' => self::SECRET, 'site_id' => 's']] as $params) {
            $b = new CivicrmBridge_Bridge(new CivicrmBridge_Config($params), $this->db, $t, $this->logger, $this->clock);
            $this->assertNull($b->handle('onUserLogin', self::ANN));
            $this->assertNull($b->handle('onUserAfterSave', self::ANN, true, true));
            $this->assertSame(['delivered' => 0, 'failed' => 0, 'pending' => 0], $b->drainOutbox());
            $this->assertNull($b->mintAssertion(self::ANN));
            $this->assertNull($b->editDetailsUrl(self::ANN));
            $this->assertNull($b->signEvent('{}', 'x'));
        }
        $this->assertSame([], $t->calls);
        $this->assertSame([], $this->rows());

        // Nonsense everywhere: still no exception, no warning.
        $b = new CivicrmBridge_Bridge(null, null, null, null, null);
        $this->assertNull($b->handle('onUserLogin', null));
        $this->assertNull($b->handle(null, 'x', 'y', 'z'));
        $b->beforeSave(42);
        $b->beforeDelete(new stdClass());
        $this->assertSame(['delivered' => 0, 'failed' => 0, 'pending' => 0], $b->drainOutbox('x', 'y'));
    }

    public function testAThrowingTransportNeverEscapesAndTheEventIsQueued(): void
    {
        foreach ([new RuntimeException('socket exploded'), new TypeError('bad argument'), new Error('undefined method')] as $i => $thrown) {
            CivicrmBridge_Bridge::resetCircuit(); // a later request
            $result = $this->bridge($this->transport([$thrown]))->handle('onUserLogin', self::ANN);
            $this->assertSame(['delivered' => false, 'queued' => true, 'status' => 0, 'response' => null], $result);
            $this->assertStringContainsString(get_class($thrown), $this->rows()[$i]['last_error']);
        }
        // A transport returning garbage is a network error too.
        CivicrmBridge_Bridge::resetCircuit(); // a later request
        $this->assertSame(0, $this->bridge($this->transport(['garbage']))->handle('onUserLogin', self::ANN)['status']);
        // In the drain: counted as a network failure, the drain stops.
        $this->clock->advance(31);
        CivicrmBridge_Bridge::resetCircuit(); // a later request
        $counts = $this->bridge($this->transport([new TypeError('x')]))->drainOutbox();
        $this->assertSame(['delivered' => 0, 'failed' => 0, 'pending' => 4], $counts);
    }

    public function testAThrowingLoggerAndABrokenDatabaseNeverEscape(): void
    {
        $config = new CivicrmBridge_Config(['bridge_url' => self::URL, 'secret' => self::SECRET, 'site_id' => 's']);
        $broken = new CivicrmBridge_PdoDb($this->pdo, 'missing_');
        $b = new CivicrmBridge_Bridge($config, $broken, $this->transport([[503]]), new CivicrmBridgeThrowingLogger(), $this->clock);
        $this->assertSame(['delivered' => false, 'queued' => false, 'status' => 503, 'response' => ['error' => 'E503', 'message' => 'scripted 503']],
            $b->handle('onUserAfterSave', self::ANN, true, true));
        CivicrmBridge_Bridge::resetCircuit(); // a later request
        $b = new CivicrmBridge_Bridge($config, $broken, $this->transport([[200]]), $this->logger, $this->clock);
        $this->assertTrue($b->handle('onUserAfterSave', self::ANN, true, true)['delivered'], 'the drain after it fails quietly');
        $this->assertStringContainsString('drainOutbox failed', $this->logger->text());
        $this->assertSame(['delivered' => 0, 'failed' => 0, 'pending' => 0], $b->drainOutbox());
    }

    public function testEmailChangeIsLoggedFromBeforeSave(): void
    {
        $b = $this->bridge($this->transport());
        $b->handle('onUserBeforeSave', self::ANN, false, ['email' => 'new@example.org']);
        $b->handle('onUserAfterSave', ['email' => 'new@example.org'] + self::ANN, false, true);
        $this->assertStringContainsString('user 42 changed their email address', $this->logger->text());
        $this->logger->lines = [];
        $b->beforeSave(self::ANN);
        $b->handle('onUserAfterSave', self::ANN, false, true);
        $this->assertStringNotContainsString('changed their email', $this->logger->text());
        $this->assertStringNotContainsString('hunter2', $this->logger->text());
        $this->assertStringNotContainsString(self::SECRET, $this->logger->text());
    }

    public function testMintAssertion(): void
    {
        $b = $this->bridge($this->transport());
        $token = $b->mintAssertion(self::ANN, 'contribution', 30);
        $claims = CivicrmBridge_Jwt::verify($token, self::SECRET, $this->now());
        $this->assertSame(['iss', 'aud', 'iat', 'exp', 'jti', 'act', 'sub', 'username', 'email', 'name'], array_keys($claims));
        $this->assertSame(['site-1', 'civicrm-bridge', $this->now(), $this->now() + 30, 'contribution', '42', 'ann', 'ann@example.org', 'Ann Lee'],
            [$claims['iss'], $claims['aud'], $claims['iat'], $claims['exp'], $claims['act'], $claims['sub'], $claims['username'], $claims['email'], $claims['name']]);
        $this->assertMatchesRegularExpression('/^[0-9a-f]{32}$/', $claims['jti']);
        $this->assertNotSame($claims['jti'], CivicrmBridge_Jwt::verify($b->mintAssertion(self::ANN, 'contribution', 30), self::SECRET, $this->now())['jti'], 'single use: a new jti each time');
        $this->assertSame($this->now() + 60, CivicrmBridge_Jwt::verify($b->mintAssertion(self::ANN), self::SECRET, $this->now())['exp'], 'default 60 s');
        $this->assertSame($this->now() + 60, CivicrmBridge_Jwt::verify($b->mintAssertion(self::ANN, 'membership', 3600), self::SECRET, $this->now())['exp'], 'at most 60 s');
        $this->assertSame('profile', CivicrmBridge_Jwt::verify($b->mintAssertion(self::ANN), self::SECRET, $this->now())['act']);
        $this->assertNull($b->mintAssertion(self::ANN, 'admin'));
        $this->assertNull($b->mintAssertion(['id' => 0, 'username' => 'guest']));
        $this->assertStringNotContainsString('hunter2', CivicrmBridge_Jwt::base64UrlDecode(explode('.', $token)[1]));
    }

    public function testEditDetailsUrl(): void
    {
        $b = $this->bridge($this->transport(), ['menu_gid' => 3]);
        $url = $b->editDetailsUrl(self::ANN);
        $this->assertMatchesRegularExpression('#^https://bridge\.example\.org/civicrm/profile/edit\?gid=3&assertion=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$#', $url);
        parse_str(parse_url($url, PHP_URL_QUERY), $query);
        $claims = CivicrmBridge_Jwt::verify($query['assertion'], self::SECRET, $this->now());
        $this->assertSame(['profile', '42'], [$claims['act'], $claims['sub']]);
        $this->assertStringContainsString('?gid=5&', $b->editDetailsUrl(self::ANN, 5));
        $this->assertStringContainsString('?gid=3&', $b->editDetailsUrl(self::ANN, 'x'));
        $this->assertNull($b->editDetailsUrl(['username' => 'guest']));
    }

    /** "Edit my details" of every generation: guest to the login form, user to the bridge, else home with an error. */
    public function testEditDetailsRedirect(): void
    {
        $b = $this->bridge($this->transport(), ['menu_gid' => 3]);
        $user = (object) (self::ANN + ['guest' => 0, 'password' => 'x$secret']);
        $to = $b->editDetailsRedirect($user, 'login', 'home');
        $this->assertFalse($to['error']);
        $this->assertStringStartsWith(self::URL . '/civicrm/profile/edit?gid=3&assertion=', $to['url']);
        $this->assertSame(['url' => 'login', 'error' => false], $b->editDetailsRedirect((object) ['id' => 0, 'guest' => 1], 'login', 'home'));
        $this->assertSame(['url' => 'login', 'error' => false], $b->editDetailsRedirect(self::ANN + ['guest' => 1], 'login', 'home'));
        $this->assertSame(['url' => 'login', 'error' => false], $b->editDetailsRedirect(null, 'login', 'home'));
        $unconfigured = new CivicrmBridge_Bridge(new CivicrmBridge_Config([]), $this->db, $this->transport(), $this->logger, $this->clock);
        $this->assertSame(['url' => 'home', 'error' => true], $unconfigured->editDetailsRedirect(self::ANN, 'login', 'home'));
    }

    public function testSignEvent(): void
    {
        $token = $this->bridge($this->transport())->signEvent('{"a":1}', 'jti-1');
        $claims = CivicrmBridge_Jwt::verify($token, self::SECRET, $this->now());
        $this->assertSame(['iss' => 'site-1', 'aud' => 'civicrm-bridge', 'iat' => $this->now(), 'exp' => $this->now() + 120, 'jti' => 'jti-1', 'body_sha256' => hash('sha256', '{"a":1}')], $claims);
    }

    public function testRealClockIsUsedWithoutAFakeOne(): void
    {
        $t = new CivicrmBridgeFakeTransport(null, [[200]]);
        $config = new CivicrmBridge_Config(['bridge_url' => self::URL, 'secret' => self::SECRET, 'site_id' => 's']);
        (new CivicrmBridge_Bridge($config, $this->db, $t))->handle('onUserLogin', self::ANN);
        $claims = CivicrmBridge_Jwt::verify($t->calls[0]['token'], self::SECRET);
        $this->assertEqualsWithDelta(time(), $claims['iat'], 2);
    }
    /** Five events in one request against a hanging bridge: one attempt, one timeout, five rows. */
    public function testAfterTheFirstFailedDeliveryTheRestOfTheRequestGoesStraightToTheOutbox(): void
    {
        $this->queued('backlog');
        $t = $this->transport([[200, null, null, 60]]); // hangs: each attempt costs the whole timeout
        $start = $this->clock->now();
        $bridge = $this->bridge($t, ['timeout' => 2]);
        $users = [];
        for ($i = 1; $i <= 5; $i++) {
            $users[] = $user = ['id' => 100 + $i, 'username' => "u$i", 'email' => "u$i@example.org", 'name' => "U $i", 'block' => 1];
            // A new Bridge per event, as adapters of some generations build one per listener call.
            $result = ($i === 1 ? $bridge : $this->bridge($t, ['timeout' => 2]))->handle('onUserAfterSave', $user, false, true);
            $this->assertSame(['delivered' => false, 'queued' => true], array_intersect_key($result, ['delivered' => 1, 'queued' => 1]), "event $i queued");
        }
        $this->assertCount(1, $t->calls, 'one delivery attempt in the whole request');
        $this->assertEqualsWithDelta(2.0, $this->clock->now() - $start, 1e-6, 'the request waited one timeout, not five');
        $rows = $this->rows();
        $this->assertCount(6, $rows, 'the backlog row and the five events');
        $this->assertSame(['backlog', 'pending', 0], [$rows[0]['jti'], $rows[0]['status'], (int) $rows[0]['attempts']], 'no drain either');
        $this->assertSame([101, 102, 103, 104, 105], array_map('intval', array_column(array_slice($rows, 1), 'user_id')));
        $this->assertSame(['pending'], array_values(array_unique(array_column(array_slice($rows, 1), 'status'))));
        $this->assertMatchesRegularExpression('/^network: timed out/', $rows[1]['last_error']);
        foreach (array_slice($rows, 2) as $row) {
            $this->assertMatchesRegularExpression('/^network: not tried: the bridge did not answer earlier in this request \(network: timed out/', $row['last_error']);
            $this->assertSame($this->now() + 30, (int) $row['next_attempt_at'], 'retried later like any other');
        }
        $this->assertSame(5, substr_count($this->logger->text(), 'queued for retry'));
        $this->assertNotNull(CivicrmBridge_Bridge::circuitOpen());
        $this->assertSame(['delivered' => 0, 'failed' => 0, 'pending' => 0], $this->bridge($t)->drainOutbox(), 'a drain in the same request does not try either');
        $this->assertCount(1, $t->calls);

        // The next request (circuit closed) tries again.
        CivicrmBridge_Bridge::resetCircuit();
        $t2 = $this->transport([[200]]);
        $this->assertTrue($this->bridge($t2)->handle('onUserLogin', self::ANN)['delivered']);
    }

    public function testARefusalOfOneEventDoesNotOpenTheCircuit(): void
    {
        $t = $this->transport([[422], [200]]);
        $this->assertFalse($this->bridge($t)->handle('onUserLogin', self::ANN)['delivered']);
        $this->assertNull(CivicrmBridge_Bridge::circuitOpen());
        $this->assertTrue($this->bridge($t)->handle('onUserLogin', self::ANN)['delivered']);
        $this->assertCount(2, $t->calls);
    }

    /** @return array<string, array{0: array, 1: string, 2: bool}> */
    public static function pingAnswers(): array
    {
        return [
            'connected' => [[200, '{"ok":true,"site":"site-1"}'], 'connected', true],
            'unreachable' => [[0], 'unreachable', false],
            'wrong secret' => [[401, '{"error":"Unauthorized","message":"bad signature"}'], 'wrong-secret', false],
            'a CMS page' => [[200, '<html>home</html>'], 'wrong-url', false],
            'not found' => [[404, '{"error":"Not Found","message":"Route POST:/v1/ping not found"}'], 'wrong-url', false],
            'another site' => [[200, '{"ok":true,"site":"other"}'], 'wrong-site', false],
        ];
    }

    /** @dataProvider pingAnswers */
    public function testPingSaysConnectedOrWhyNot(array $answer, string $reason, bool $ok): void
    {
        $t = $this->transport([$answer]);
        $result = $this->bridge($t)->ping();
        $this->assertSame([$ok, $reason], [$result['ok'], $result['reason']], $result['message']);
        $this->assertNotSame('', $result['message']);
        $this->assertCount(1, $t->calls);
        $this->assertSame(self::URL . '/v1/ping', $t->calls[0]['url']);
        $claims = $this->claims($t->calls[0]);
        $this->assertSame(['site-1', 'civicrm-bridge', hash('sha256', $t->calls[0]['body'])], [$claims['iss'], $claims['aud'], $claims['body_sha256']]);
        $this->assertSame([], $this->rows(), 'a ping is never queued');
    }

    public function testPingUnconfiguredSaysWhatToFillIn(): void
    {
        $t = $this->transport();
        $result = $this->bridge($t, ['secret' => 'short'])->ping();
        $this->assertSame([false, 'not-configured'], [$result['ok'], $result['reason']]);
        $this->assertSame([], $t->calls);
    }

    public function testOutboxStatusCountsEveryWaitingRowAndRetryNowSendsThemAtOnce(): void
    {
        $this->queued('due');
        $this->queued('later', 2, $this->now() + 3600);
        $this->pdo->exec("UPDATE jos_civicrm_bridge_outbox SET last_error = 'network: timed out', created_at = 5 WHERE jti = 'later'");
        $this->pdo->exec("INSERT INTO jos_civicrm_bridge_outbox (jti, event, user_id, body, status, attempts, next_attempt_at, last_error, created_at) VALUES ('f', 'onUserLogin', 1, '{}', 'failed', 3, 0, 'HTTP 422 bad', 9)");
        $bridge = $this->bridge($this->transport([[200]]));
        $this->assertSame(['pending' => 2, 'failed' => 1, 'last_error' => 'HTTP 422 bad', 'oldest' => 1], $bridge->outboxStatus());
        $counts = $bridge->retryNow();
        $this->assertSame(['delivered' => 2, 'failed' => 0, 'pending' => 0, 'waiting' => 0], $counts, 'the row not due yet was sent too');
        $this->assertSame(['f'], array_column($this->rows(), 'jti'), 'failed rows are kept');
        $this->assertNull((new CivicrmBridge_Bridge([], null))->outboxStatus(), 'no database: no status');
    }
}
