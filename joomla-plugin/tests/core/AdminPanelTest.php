<?php

use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/fakes.php';

/** What the site owner sees in the plugin's options: the outbox, Test connection, Send now. */
final class AdminPanelTest extends TestCase
{
    private const SECRET = 'panel-secret-panel-secret-panel-secret';
    private static CivicrmBridgeTestDb $testDb;
    private CivicrmBridgeFakeClock $clock;

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
        self::$testDb->pdo->exec('TRUNCATE TABLE jos_civicrm_bridge_outbox');
        CivicrmBridge_Bridge::resetCircuit();
        $this->clock = new CivicrmBridgeFakeClock((float) time());
    }

    private function bridge(CivicrmBridge_Transport $t, array $params = []): CivicrmBridge_Bridge
    {
        $config = new CivicrmBridge_Config($params + ['bridge_url' => 'https://bridge.example.org', 'secret' => self::SECRET, 'site_id' => 'site-1']);
        return new CivicrmBridge_Bridge($config, new CivicrmBridge_PdoDb(self::$testDb->pdo, 'jos_'), $t, null, $this->clock);
    }

    private function seed(): void
    {
        $outbox = new CivicrmBridge_Outbox(new CivicrmBridge_PdoDb(self::$testDb->pdo, 'jos_'));
        $outbox->add('a', 'onUserLogin', 1, '{"a":1}', 'network: timed out after 2 s', 'pending', time() + 600);
        $outbox->add('b', 'onUserAfterSave', 2, '{"b":2}', 'network: <script>alert(1)</script>', 'pending', time() + 900);
        $outbox->add('c', 'onUserAfterSave', 3, '{"c":3}', 'HTTP 422 invalid email', 'failed', 0);
        self::$testDb->pdo->exec("UPDATE jos_civicrm_bridge_outbox SET created_at = UNIX_TIMESTAMP() - 7200 WHERE jti = 'a'");
    }

    private static function text(string $html): string
    {
        return trim(preg_replace('/\s+/', ' ', html_entity_decode(strip_tags($html), ENT_QUOTES, 'UTF-8')));
    }

    public function testShowsTheOutboxCountsTheOldestAndTheLastProblemEscaped(): void
    {
        $this->seed();
        $t = new CivicrmBridgeFakeTransport($this->clock, [[200]]);
        $html = CivicrmBridge_AdminPanel::render($this->bridge($t), '', '/admin?x=1&civicrmbridge=test&tok=1', '/admin?retry');
        $this->assertSame([], $t->calls, 'just showing the page sends nothing');
        $this->assertStringContainsString('Events waiting to be sent to CiviCRM: 2. Refused by the bridge and no longer retried: 1.', self::text($html));
        $this->assertStringContainsString('The oldest has waited 2 hours.', self::text($html));
        $this->assertStringContainsString('Last problem: HTTP 422 invalid email', self::text($html));
        $this->assertStringContainsString('href="/admin?x=1&amp;civicrmbridge=test&amp;tok=1"', $html);
        $this->assertStringNotContainsString('<script>', $html);
        foreach (['fail-open', 'HS256', 'uf_group', 'issuer', 'onUser', 'jti'] as $jargon) {
            $this->assertStringNotContainsString($jargon, $html);
        }
    }

    public function testTestConnectionSaysConnectedOrWhyNot(): void
    {
        $cases = [
            'Connected.' => [200, '{"ok":true,"site":"site-1"}'],
            'Not connected: wrong shared secret.' => [401, '{"error":"Unauthorized","message":"invalid token"}'],
            'Not connected: wrong bridge address.' => [200, '<html>Welcome</html>'],
            'Not connected: the bridge cannot be reached.' => [0],
        ];
        foreach ($cases as $title => $answer) {
            $t = new CivicrmBridgeFakeTransport($this->clock, [$answer]);
            $html = CivicrmBridge_AdminPanel::render($this->bridge($t), 'test', '/t', '/r');
            $this->assertStringContainsString('<strong>' . htmlspecialchars($title) . '</strong>', $html);
            $this->assertStringContainsString($title === 'Connected.' ? 'alert-success' : 'alert-danger', $html);
            $this->assertCount(1, $t->calls);
            $this->assertStringEndsWith('/v1/ping', $t->calls[0]['url']);
        }
        $html = CivicrmBridge_AdminPanel::render($this->bridge(new CivicrmBridgeFakeTransport($this->clock), ['secret' => '']), 'test', '/t', '/r');
        $this->assertStringContainsString('Not set up yet.', self::text($html));
    }

    public function testSendNowSendsEveryWaitingEventEvenThoseNotDueYet(): void
    {
        $this->seed();
        $t = new CivicrmBridgeFakeTransport($this->clock, [[200]]);
        $html = CivicrmBridge_AdminPanel::render($this->bridge($t), 'retry', '/t', '/r');
        $this->assertCount(2, $t->calls);
        $this->assertStringContainsString('Sent now: 2. Refused by the bridge (kept as failed): 0. Still waiting: 0.', self::text($html));
        $this->assertStringContainsString('Events waiting to be sent to CiviCRM: 0.', self::text($html));
        $this->assertSame(['c'], self::$testDb->pdo->query('SELECT jti FROM jos_civicrm_bridge_outbox')->fetchAll(PDO::FETCH_COLUMN));
    }

    public function testActionUrlReplacesAnEarlierActionAndToken(): void
    {
        $this->assertSame('index.php?option=com_plugins&view=plugin&layout=edit&extension_id=9&civicrmbridge=retry&abc=1',
            CivicrmBridge_AdminPanel::actionUrl('index.php?option=com_plugins&view=plugin&layout=edit&extension_id=9&civicrmbridge=test&abc=1', 'retry', 'abc'));
        $this->assertSame('/x?civicrmbridge=test&t=1', CivicrmBridge_AdminPanel::actionUrl('/x', 'test', 't'));
    }
}
