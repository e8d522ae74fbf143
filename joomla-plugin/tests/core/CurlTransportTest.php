<?php

use PHPUnit\Framework\TestCase;

/** CivicrmBridge_CurlTransport against a real HTTP server (php -S with tests/fixtures/http-router.php). */
final class CurlTransportTest extends TestCase
{
    private static CivicrmBridgeTestHttpServer $server;

    public static function setUpBeforeClass(): void
    {
        self::$server = CivicrmBridgeTestHttpServer::start(dirname(__DIR__) . '/fixtures/http-router.php');
    }

    public static function tearDownAfterClass(): void
    {
        self::$server->stop();
    }

    public static function transports(): array
    {
        return ['curl' => [false], 'stream fallback' => [true]];
    }

    /** @dataProvider transports */
    public function testPostsHeadersAndBody(bool $streams): void
    {
        self::$server->clearLog();
        $body = '{"name":"Zoë 😀"}';
        $r = (new CivicrmBridge_CurlTransport($streams))->post(self::$server->url . '/echo', ['Authorization: Bearer abc.def.ghi', 'Content-Type: application/json'], $body, 2.0);
        $this->assertSame(200, $r['status']);
        $this->assertNull($r['error']);
        $this->assertNull($r['retryAfter']);
        $answer = json_decode($r['body'], true);
        $this->assertSame(hash('sha256', $body), $answer['sha256']);
        $this->assertSame('Bearer abc.def.ghi', $answer['authorization']);
        $seen = self::$server->requests();
        $this->assertCount(1, $seen);
        $this->assertSame(['POST', '/echo', 'application/json', $body], [$seen[0]['method'], $seen[0]['path'], $seen[0]['contentType'], $seen[0]['body']]);
    }

    /** @dataProvider transports */
    public function testErrorStatusesAndBodies(bool $streams): void
    {
        $t = new CivicrmBridge_CurlTransport($streams);
        foreach ([400, 401, 409, 422, 500] as $status) {
            $r = $t->post(self::$server->url . "/status/$status", [], '{}', 2.0);
            $this->assertSame($status, $r['status']);
            $this->assertSame(['error' => "E$status", 'message' => "scripted $status"], json_decode($r['body'], true));
            $this->assertNull($r['error']);
        }
        $r = $t->post(self::$server->url . '/garbage', [], '{}', 2.0);
        $this->assertSame(200, $r['status']);
        $this->assertSame("<html>\x00\xff not json", $r['body']);
    }

    /** @dataProvider transports */
    public function testRetryAfter(bool $streams): void
    {
        $t = new CivicrmBridge_CurlTransport($streams);
        $r = $t->post(self::$server->url . '/status/503', [], '{}', 2.0);
        $this->assertSame([503, 7], [$r['status'], $r['retryAfter']]);
        $r = $t->post(self::$server->url . '/status/429', [], '{}', 2.0);
        $this->assertSame([429, 7], [$r['status'], $r['retryAfter']]);
        $r = $t->post(self::$server->url . '/retry-date', [], '{}', 2.0);
        $this->assertSame(503, $r['status']);
        $this->assertEqualsWithDelta(120, $r['retryAfter'], 3, 'an HTTP date becomes seconds from now');
    }

    /** @dataProvider transports */
    public function testTimeoutIsATotalBound(bool $streams): void
    {
        $t = new CivicrmBridge_CurlTransport($streams);
        $start = microtime(true);
        $r = $t->post(self::$server->url . '/sleep/3000', [], '{}', 0.5);
        $elapsed = microtime(true) - $start;
        $this->assertSame(0, $r['status']);
        $this->assertNotEmpty($r['error']);
        $this->assertLessThan(2.0, $elapsed, 'a 0.5 s timeout returns well before the 3 s answer');
        $this->assertGreaterThanOrEqual(0.4, $elapsed);
        // Within the timeout it answers normally.
        $r = $t->post(self::$server->url . '/sleep/100', [], '{}', 2.0);
        $this->assertSame(200, $r['status']);
    }

    /** @dataProvider transports */
    public function testConnectionRefusedIsStatusZero(bool $streams): void
    {
        $probe = stream_socket_server('tcp://127.0.0.1:0');
        $address = stream_socket_get_name($probe, false);
        fclose($probe); // nothing listens there now
        $start = microtime(true);
        $r = (new CivicrmBridge_CurlTransport($streams))->post("http://$address/x", [], '{}', 1.0);
        $this->assertSame(0, $r['status']);
        $this->assertSame('', $r['body']);
        $this->assertNotEmpty($r['error']);
        $this->assertLessThan(1.5, microtime(true) - $start);
    }

    public function testOnlyHttpUrls(): void
    {
        $r = (new CivicrmBridge_CurlTransport())->post('file:///etc/passwd', [], '', 1.0);
        $this->assertSame(0, $r['status']);
        $this->assertSame('', $r['body']);
    }

    /** End to end: the Bridge with the real transport against a bridge that hangs. */
    public function testBridgeHandleIsBoundedByTheTimeoutAgainstAHangingBridge(): void
    {
        $testDb = CivicrmBridgeTestDb::create();
        try {
            $testDb->install('jos_');
            $config = new CivicrmBridge_Config(['bridge_url' => self::$server->url . '/sleep/3000', 'secret' => str_repeat('s', 32), 'site_id' => 'site-1', 'timeout' => '0.5']);
            $bridge = new CivicrmBridge_Bridge($config, new CivicrmBridge_PdoDb($testDb->pdo, 'jos_'));
            self::$server->clearLog();
            $start = microtime(true);
            $result = $bridge->handle('onUserLogin', ['id' => 5, 'username' => 'eve', 'email' => 'eve@example.org', 'name' => 'Eve']);
            $this->assertLessThan(2.0, microtime(true) - $start);
            $this->assertSame(['delivered' => false, 'queued' => true, 'status' => 0, 'response' => null], $result);
            $row = $testDb->pdo->query('SELECT * FROM jos_civicrm_bridge_outbox')->fetch(PDO::FETCH_ASSOC);
            $this->assertSame('pending', $row['status']);
            $this->assertStringContainsString('network', $row['last_error']);

            // Four more events in the same request: no second attempt, straight to the outbox.
            for ($id = 6; $id <= 9; $id++) {
                $again = $bridge->handle('onUserAfterSave', ['id' => $id, 'username' => "u$id", 'email' => "u$id@example.org", 'name' => 'U'], false, true);
                $this->assertSame(['delivered' => false, 'queued' => true], array_intersect_key($again, ['delivered' => 1, 'queued' => 1]));
            }
            $this->assertSame(5, (int) $testDb->pdo->query("SELECT COUNT(*) FROM jos_civicrm_bridge_outbox WHERE status = 'pending'")->fetchColumn());
            $this->assertSame(4, (int) $testDb->pdo->query("SELECT COUNT(*) FROM jos_civicrm_bridge_outbox WHERE last_error LIKE 'network: not tried:%'")->fetchColumn());
            $this->assertCount(1, self::$server->requests(), 'the hanging bridge got one request for five events');

            // And (a later request) a bridge that answers 200 gets the signed event; the router saw a valid token.
            CivicrmBridge_Bridge::resetCircuit();
            self::$server->clearLog();
            $config = new CivicrmBridge_Config(['bridge_url' => self::$server->url . '/status/200', 'secret' => str_repeat('s', 32), 'site_id' => 'site-1']);
            $result = (new CivicrmBridge_Bridge($config, new CivicrmBridge_PdoDb($testDb->pdo, 'jos_')))->handle('onUserLogin', ['id' => 5, 'username' => 'eve']);
            $this->assertTrue($result['delivered']);
            $this->assertSame(['action' => 'acknowledged', 'contactId' => null, 'reason' => null], $result['response']);
            $seen = self::$server->requests()[0];
            $this->assertSame('/status/200/v1/joomla/events', $seen['path']);
            $claims = CivicrmBridge_Jwt::verify(substr($seen['authorization'], 7), str_repeat('s', 32));
            $this->assertSame(hash('sha256', $seen['body']), $claims['body_sha256']);
        } finally {
            $testDb->drop();
        }
    }
}
