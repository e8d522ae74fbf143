<?php

use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/fakes.php';

/** An array-backed session with Joomla's get($name, $default) / set($name, $value). */
final class CivicrmBridgeArraySession
{
    public array $data = [];

    public function get($name, $default = null)
    {
        return $this->data[$name] ?? $default;
    }

    public function set($name, $value)
    {
        $this->data[$name] = $value;
    }
}

/** CivicrmBridge_LazyLink: which requests are CiviCRM transaction pages, the session memory, fail-open. */
final class LazyLinkTest extends TestCase
{
    private const PARAMS = ['bridge_url' => 'https://bridge.example.org', 'secret' => 'test-secret-test-secret-test-secret-42', 'site_id' => 'site-1'];
    private const ANN = ['id' => 42, 'username' => 'ann', 'email' => 'Ann@Example.org', 'name' => 'Ann Lee', 'block' => 0, 'guest' => 0];

    private static CivicrmBridgeTestDb $testDb;

    public static function setUpBeforeClass(): void
    {
        self::$testDb = CivicrmBridgeTestDb::create();
        self::$testDb->install('jos_');
        $pdo = self::$testDb->pdo;
        $pdo->exec('CREATE TABLE civicrm_membership_block (id int unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, entity_table varchar(64), entity_id int unsigned NOT NULL, is_active tinyint NOT NULL DEFAULT 1)');
        $pdo->exec("INSERT INTO civicrm_membership_block (entity_table, entity_id, is_active) VALUES ('civicrm_contribution_page', 2, 1), ('civicrm_contribution_page', 3, 0)");
    }

    public static function tearDownAfterClass(): void
    {
        self::$testDb->drop();
    }

    private function db(): CivicrmBridge_PdoDb
    {
        self::$testDb->pdo->exec('TRUNCATE TABLE jos_civicrm_bridge_outbox');
        return new CivicrmBridge_PdoDb(self::$testDb->pdo, 'jos_');
    }

    public function testClassifiesCivicrmTransactionPagesOnly(): void
    {
        $page = fn (array $r) => CivicrmBridge_LazyLink::classify($r + ['option' => 'com_civicrm']);
        $this->assertSame('contribution', $page(['task' => 'civicrm/contribute/transact']));
        $this->assertSame('contribution', $page(['task' => ' /CiviCRM/Contribute/Transact/ ']));
        $this->assertSame('contribution', $page(['task' => 'civicrm/pcp/support']));
        foreach (['civicrm/profile', 'civicrm/profile/edit', 'civicrm/profile/create', 'civicrm/profile/view', 'civicrm/user'] as $task) {
            $this->assertSame('profile', $page(['task' => $task]), $task);
        }
        foreach (['', 'civicrm/event/info', 'civicrm/mailing/subscribe', 'civicrm/contribute', 'civicrm/ajax/rest'] as $task) {
            $this->assertNull($page(['task' => $task]), $task);
        }
        $this->assertNull(CivicrmBridge_LazyLink::classify(['option' => 'com_content', 'task' => 'civicrm/contribute/transact']));
        $this->assertNull(CivicrmBridge_LazyLink::classify('nope'));
        // civicrm.php: a com_civicrm menu item's task overrides the URL's when the request has a view.
        $this->assertSame('profile', $page(['view' => 'Profiles', 'task' => 'civicrm/contribute/transact', 'menuTask' => 'civicrm/profile/edit']));
        $this->assertSame('contribution', $page(['task' => 'civicrm/contribute/transact', 'menuTask' => 'civicrm/profile/edit']), 'no view: the URL wins');
    }

    public function testAContributionPageWithAnActiveMembershipBlockIsAMembershipSignup(): void
    {
        $db = $this->db();
        $this->assertSame('membership', CivicrmBridge_LazyLink::kindOfPage('contribution', ['id' => '2'], $db));
        $this->assertSame('contribution', CivicrmBridge_LazyLink::kindOfPage('contribution', ['id' => '3'], $db), 'inactive block');
        $this->assertSame('contribution', CivicrmBridge_LazyLink::kindOfPage('contribution', ['id' => '1'], $db));
        $this->assertSame('contribution', CivicrmBridge_LazyLink::kindOfPage('contribution', ['id' => 'x'], $db));
        $this->assertSame('profile', CivicrmBridge_LazyLink::kindOfPage('profile', ['id' => '2'], $db));
        $this->assertSame('contribution', CivicrmBridge_LazyLink::kindOfPage('contribution', ['id' => '2'], null));
        $elsewhere = new class () implements CivicrmBridge_Db {
            public function quote($value) { return "'" . $value . "'"; }
            public function execute($sql) { throw new RuntimeException("Table 'civicrm_membership_block' doesn't exist"); }
            public function fetchAll($sql) { throw new RuntimeException("Table 'civicrm_membership_block' doesn't exist"); }
        };
        $this->assertSame('contribution', CivicrmBridge_LazyLink::kindOfPage('contribution', ['id' => '2'], $elsewhere), 'CiviCRM in another database');
    }

    public function testReadsEachGenerationsStoredParameters(): void
    {
        $this->assertTrue(CivicrmBridge_LazyLink::config(json_encode(self::PARAMS))->isConfigured(), 'JSON (1.6+)');
        $ini = "bridge_url=https://bridge.example.org\nsecret=\"test-secret-test-secret-test-secret-42\"\r\nsite_id=site-1\n=bad\nnoequals\n";
        $config = CivicrmBridge_LazyLink::config($ini);
        $this->assertTrue($config->isConfigured(), 'INI lines (1.5)');
        $this->assertSame('test-secret-test-secret-test-secret-42', $config->get('secret'));
        $this->assertTrue(CivicrmBridge_LazyLink::config((object) self::PARAMS)->isConfigured(), 'a plain object');
        $this->assertFalse(CivicrmBridge_LazyLink::config('{broken')->isConfigured());
        $this->assertTrue(CivicrmBridge_Config::fromParams(self::PARAMS)->forwards('page'), 'no switch: the system plugin being enabled is it');
    }

    public function testSendsOncePerSessionAndRemembersTheLink(): void
    {
        $transport = new CivicrmBridgeFakeTransport(null, [[200]]);
        $bridge = new CivicrmBridge_Bridge(self::PARAMS, $this->db(), $transport);
        $session = new CivicrmBridgeArraySession();
        $request = ['option' => 'com_civicrm', 'task' => 'civicrm/contribute/transact', 'id' => '2'];

        $first = CivicrmBridge_LazyLink::onPage($bridge, $session, (object) self::ANN, $request, new CivicrmBridge_PdoDb(self::$testDb->pdo, 'jos_'));
        $this->assertSame(['kind' => 'membership', 'sent' => true, 'delivered' => true, 'queued' => false], $first);
        $this->assertCount(1, $transport->calls);
        $body = json_decode($transport->calls[0]['body'], true);
        $this->assertSame('onCivicrmMembership', $body['event']);
        $this->assertSame(['id' => 42, 'username' => 'ann', 'email' => 'Ann@Example.org', 'name' => 'Ann Lee', 'block' => 0], $body['user']);
        $this->assertSame(['civicrmbridge.linked' => '42:' . md5('ann@example.org')], $session->data);

        $again = CivicrmBridge_LazyLink::onPage($bridge, $session, self::ANN, $request);
        $this->assertSame(['kind' => 'contribution', 'sent' => false, 'delivered' => false, 'queued' => false], $again, 'remembered: no call');
        $this->assertCount(1, $transport->calls);

        // A changed email is sent again; so is another user in the same session.
        CivicrmBridge_LazyLink::onPage($bridge, $session, ['email' => 'ann@new.example'] + self::ANN, $request);
        CivicrmBridge_LazyLink::onPage($bridge, $session, ['id' => 43, 'email' => 'bob@example.org'] + self::ANN, ['task' => 'civicrm/profile/edit'] + $request);
        $this->assertCount(3, $transport->calls);
        $this->assertSame('onCivicrmProfile', json_decode($transport->calls[2]['body'], true)['event']);
    }

    public function testGuestsOtherPagesAndBrokenPartsCostNothingAndNeverThrow(): void
    {
        $transport = new CivicrmBridgeFakeTransport(null, [[200]]);
        $bridge = new CivicrmBridge_Bridge(self::PARAMS, $this->db(), $transport);
        $request = ['option' => 'com_civicrm', 'task' => 'civicrm/profile/edit'];
        $this->assertNull(CivicrmBridge_LazyLink::onPage($bridge, null, ['id' => 0, 'guest' => 1], $request));
        $this->assertNull(CivicrmBridge_LazyLink::onPage($bridge, null, ['guest' => 1] + self::ANN, $request));
        $this->assertNull(CivicrmBridge_LazyLink::onPage($bridge, null, self::ANN, ['option' => 'com_content']));
        $this->assertNull(CivicrmBridge_LazyLink::onPage('not a bridge', null, self::ANN, $request));
        $this->assertNull(CivicrmBridge_LazyLink::run(self::PARAMS, null, null, self::ANN, ['option' => 'com_content']));
        $this->assertSame([], $transport->calls);
        // No session object at all: sent every time, nothing breaks.
        $this->assertSame(['kind' => 'profile', 'sent' => true, 'delivered' => true, 'queued' => false], CivicrmBridge_LazyLink::onPage($bridge, 'no session', self::ANN, $request));
        $this->assertCount(1, $transport->calls);
        // Unconfigured: nothing sent, nothing remembered.
        $session = new CivicrmBridgeArraySession();
        $this->assertSame(['kind' => 'profile', 'sent' => false, 'delivered' => false, 'queued' => false], CivicrmBridge_LazyLink::run([], null, $session, self::ANN, $request));
        $this->assertSame([], $session->data);
    }

    public function testABridgeThatIsDownQueuesTheEventOnceAndThePageGoesOn(): void
    {
        $db = $this->db();
        $transport = new CivicrmBridgeFakeTransport(null, [[0]]);
        $session = new CivicrmBridgeArraySession();
        $request = ['option' => 'com_civicrm', 'task' => 'civicrm/contribute/transact', 'id' => '1'];
        $r = CivicrmBridge_LazyLink::run(json_encode(self::PARAMS), $db, $session, self::ANN, $request, $transport, new CivicrmBridge_NullLogger());
        $this->assertSame(['kind' => 'contribution', 'sent' => true, 'delivered' => false, 'queued' => true], $r);
        $rows = self::$testDb->pdo->query('SELECT event, user_id, status FROM jos_civicrm_bridge_outbox')->fetchAll(PDO::FETCH_ASSOC);
        $this->assertSame([['event' => 'onCivicrmContribution', 'user_id' => 42, 'status' => 'pending']], array_map(fn ($row) => ['event' => $row['event'], 'user_id' => (int) $row['user_id'], 'status' => $row['status']], $rows));
        CivicrmBridge_LazyLink::run(json_encode(self::PARAMS), $db, $session, self::ANN, $request, $transport, new CivicrmBridge_NullLogger());
        $this->assertCount(1, $transport->calls, 'queued once: the session remembers it');
    }
}
