<?php
/**
 * Joomla 1.5 adapter (plgUserCivicrmbridge): 1.5 event names, arrays, returns true, outbox
 * created lazily, "Edit my details" through onCivicrmbridgeEditDetails.
 */
class PluginJ15Test extends AdapterContractTestCase
{
    protected static $installsOutbox = false;

    protected function resetJoomla()
    {
        JFactory::$database = new JDatabase(CivicrmBridgeTestFixture::$pdo, CivicrmBridgeTestFixture::$prefix);
        JFactory::$user = null;
        JFactory::$application = null;
        JFactory::$session = null;
        JRequest::$data = array();
        JError::reset();
    }

    /** The Location of the plugin's last redirect (it sends the headers itself: 303, not 1.5's 301). */
    private static function location($plugin)
    {
        foreach ($plugin->_sentHeaders as $line) {
            if (strpos($line, 'Location: ') === 0) {
                return substr($line, 10);
            }
        }
        return null;
    }

    protected function makePlugin(array $params)
    {
        $lines = array();
        foreach ($params as $k => $v) {
            $lines[] = $k . '=' . $v;
        }
        $dispatcher = new JDispatcher();
        return new plgUserCivicrmbridge($dispatcher, array(
            'type' => 'user', 'name' => 'civicrmbridge', 'params' => implode("\n", $lines)));
    }

    protected function fireBeforeSave($plugin, array $oldUser, $isNew, array $newData)
    {
        // 1.5 passes the user's current (old) properties.
        return $plugin->onBeforeStoreUser($isNew ? $newData : $oldUser, $isNew);
    }

    protected function fireAfterSave($plugin, array $user, $isNew, $success)
    {
        return $plugin->onAfterStoreUser($user, $isNew, $success, '');
    }

    protected function fireBeforeDelete($plugin, array $user)
    {
        return $plugin->onBeforeDeleteUser($user);
    }

    protected function fireAfterDelete($plugin, array $user, $success)
    {
        return $plugin->onAfterDeleteUser($user, $success, '');
    }

    protected function fireLogin($plugin, array $response, $id)
    {
        return $plugin->onLoginUser($response, array('remember' => false));
    }

    protected function fireLogout($plugin, array $user)
    {
        return $plugin->onLogoutUser($user, array());
    }

    protected function fireAjax($plugin, $loggedInUser)
    {
        JFactory::$user = new JUser($loggedInUser ? $loggedInUser : array());
        $plugin->onCivicrmbridgeEditDetails();
        return self::location($plugin);
    }

    /** 1.5 sends its own event names. */
    protected function eventName($kind)
    {
        $names = array('save' => 'onAfterStoreUser', 'login' => 'onLoginUser',
            'delete' => 'onAfterDeleteUser', 'logout' => 'onLogoutUser');
        return $names[$kind];
    }

    protected function breakDatabase()
    {
        JFactory::$database->broken = true;
    }

    protected function assertListenerResult($result)
    {
        $this->assertTrue($result, 'a 1.5 listener returns true (false would fail a login)');
    }

    public function testOutboxTableIsCreatedLazilyInUtf8()
    {
        CivicrmBridgeTestFixture::$pdo->exec('DROP TABLE IF EXISTS tst_civicrm_bridge_outbox');
        $this->assertFalse(CivicrmBridgeTestFixture::outboxExists());
        $plugin = $this->makePlugin(CivicrmBridgeTestFixture::params());
        CivicrmBridgeTestFixture::insertUser(42, 'ann', 'ann@example.org', 'Ann Lee');
        $plugin->onAfterStoreUser($this->user(), false, true, '');
        $this->assertCount(1, CivicrmBridgeTestFixture::requests());

        CivicrmBridgeTestFixture::setMode('503');
        $plugin->onAfterStoreUser($this->user(), false, true, '');
        $this->assertTrue(CivicrmBridgeTestFixture::outboxExists());
        $this->assertCount(1, CivicrmBridgeTestFixture::outboxRows());
        $create = CivicrmBridgeTestFixture::$pdo->query('SHOW CREATE TABLE tst_civicrm_bridge_outbox')->fetch(PDO::FETCH_NUM);
        $this->assertStringContainsString('CHARSET=utf8', $create[1]);
        $this->assertStringNotContainsString('utf8mb4', $create[1]);
    }

    public function testCronScriptDrainsTheOutboxWithTheSameJti()
    {
        $plugin = $this->makePlugin(CivicrmBridgeTestFixture::params(array('bridge_url' => CivicrmBridgeTestFixture::deadUrl())));
        CivicrmBridgeTestFixture::insertUser(42, 'ann', 'ann@example.org', 'Ann Lee');
        $plugin->onAfterStoreUser($this->user(), true, true, '');
        $rows = CivicrmBridgeTestFixture::outboxRows();
        $this->assertCount(1, $rows);
        CivicrmBridgeTestFixture::makeOutboxDue();
        list($code, $out) = CivicrmBridgeTestFixture::runCronScript();
        $this->assertSame(0, $code, $out);
        $this->assertSame('delivered 1, failed 0, pending 0', $out);
        $this->assertDeliveredLater($rows[0]['jti'], $rows[0]['body']);
    }

    public function testLoginOfAnUnknownUsernameSendsNothingAndStillReturnsTrue()
    {
        $plugin = $this->makePlugin(CivicrmBridgeTestFixture::params());
        $this->assertTrue($plugin->onLoginUser(array('username' => 'ghost', 'password' => 'x'), array()));
        $this->assertSame(array(), CivicrmBridgeTestFixture::requests());
    }

    public function testEditDetailsEntryScriptPassesTheSiteRootForInternalRedirects()
    {
        $plugin = $this->makePlugin(CivicrmBridgeTestFixture::params());
        JFactory::$user = new JUser(array());
        $plugin->onCivicrmbridgeEditDetails('/joomla/');
        $url = self::location($plugin);
        $this->assertStringStartsWith('/joomla/index.php?option=com_user&view=login&return=', $url);
        parse_str(parse_url($url, PHP_URL_QUERY), $q);
        $this->assertSame('plugins/user/civicrmbridge/editdetails.php', base64_decode($q['return']));
        $script = file_get_contents(CivicrmBridgeTestFixture::pluginRoot() . '/adapters/j15/civicrmbridge/editdetails.php');
        $this->assertStringContainsString('trigger(\'onCivicrmbridgeEditDetails\', array($base))', $script);
    }

    public function testEditDetailsAnswers303ThatIsNeverStoredAndEndsTheRequest()
    {
        $plugin = $this->makePlugin(CivicrmBridgeTestFixture::params());
        CivicrmBridgeTestFixture::insertUser(42, 'ann', 'ann@example.org', 'Ann Lee');
        JFactory::$user = new JUser($this->user());
        $plugin->onCivicrmbridgeEditDetails('/');
        $this->assertSame('HTTP/1.1 303 See Other', $plugin->_sentHeaders[0]);
        $this->assertStringStartsWith('Location: ' . CivicrmBridgeTestFixture::bridgeUrl() . '/civicrm/profile/edit?gid=3&assertion=', $plugin->_sentHeaders[1]);
        $this->assertContains('Cache-Control: no-store, no-cache, must-revalidate, max-age=0', $plugin->_sentHeaders);
        $this->assertTrue(JFactory::getApplication()->closed, 'the request ends there');
        $this->assertNull(JFactory::getApplication()->redirected, "1.5's redirect() (301) is not used");
    }

    public function testEditDetailsWhenUnavailableKeepsTheMessageForTheNextPage()
    {
        $plugin = $this->makePlugin(array('bridge_url' => ''));
        JFactory::$user = new JUser($this->user());
        $plugin->onCivicrmbridgeEditDetails('/');
        $this->assertSame('Location: /index.php', $plugin->_sentHeaders[1]);
        $this->assertSame(array(array('message' => 'Editing your details is not available right now.', 'type' => 'error')),
            JFactory::getSession()->get('application.queue'), 'in English, not the raw language key');
    }

    public function testLoginSendsTheBlockFlagReadFromTheUsersTable()
    {
        $plugin = $this->makePlugin(CivicrmBridgeTestFixture::params());
        CivicrmBridgeTestFixture::insertUser(42, 'ann', 'ann@example.org', 'Ann Lee', 1);
        // 1.5 calls onLoginUser even when another plugin refused the login (a blocked account).
        $this->assertTrue($plugin->onLoginUser(array('username' => 'ann', 'email' => 'ann@example.org', 'fullname' => 'Ann Lee', 'password' => 'x'), array()));
        $requests = CivicrmBridgeTestFixture::requests();
        $this->assertCount(1, $requests);
        $body = json_decode($requests[0]['body'], true);
        $this->assertSame(array('onLoginUser', 42, 1), array($body['event'], $body['user']['id'], $body['user']['block']));
    }

    public function testListenersCalledWithFewerArgumentsThanJoomlaPassesStillCarryOn()
    {
        $plugin = $this->makePlugin(CivicrmBridgeTestFixture::params());
        foreach (array('onBeforeStoreUser', 'onAfterStoreUser', 'onBeforeDeleteUser', 'onAfterDeleteUser', 'onLoginUser', 'onLogoutUser') as $method) {
            $this->assertTrue($plugin->$method(), $method . '() with no argument');
        }
        $this->assertSame(array(), CivicrmBridgeTestFixture::requests(), 'nothing to send without a user');
    }

    /** Debug on: 1.5's query() raises JError 500 on an SQL error; the plugin keeps it inside. */
    public function testWithDebugOnAnSqlErrorShowsNoErrorPageAndTheLoginCarriesOn()
    {
        JFactory::$database->_debug = 1;
        CivicrmBridgeTestFixture::insertUser(42, 'ann', 'ann@example.org', 'Ann Lee');
        CivicrmBridgeTestFixture::setMode('503');
        $plugin = $this->makePlugin(CivicrmBridgeTestFixture::params());
        $this->breakDatabase();
        $this->assertTrue($plugin->onAfterStoreUser($this->user(), false, true, ''));
        $this->assertTrue($plugin->onLoginUser(array('username' => 'ann', 'password' => 'x'), array()));
        $this->assertSame(array(), JError::$pages, 'no error page');
        $this->assertSame('callback', JError::$handlers[E_ERROR]['mode'], "the site's JError handling is put back");
        $this->assertSame(array('JError', 'customErrorPage'), JError::$handlers[E_ERROR]['options']);
        $this->assertNotSame(array(), JFactory::$database->log, 'the statements did run (and failed)');
    }

    public function testTheOutboxTableIsCreatedOnlyWhenMissingNeverCheckedOnEveryLogin()
    {
        CivicrmBridgeTestFixture::insertUser(42, 'ann', 'ann@example.org', 'Ann Lee');
        CivicrmBridgeTestFixture::setMode('503');
        $creates = function () {
            return count(preg_grep('/CREATE TABLE/i', JFactory::$database->log));
        };
        $this->makePlugin(CivicrmBridgeTestFixture::params())->onLoginUser(array('username' => 'ann', 'password' => 'x'), array());
        $this->assertSame(1, count(CivicrmBridgeTestFixture::outboxRows()));
        $this->assertSame(0, $creates(), 'the table exists: no CREATE TABLE');

        CivicrmBridgeTestFixture::$pdo->exec('DROP TABLE tst_civicrm_bridge_outbox');
        JFactory::$database->log = array();
        CivicrmBridge_Bridge::resetCircuit();
        $this->makePlugin(CivicrmBridgeTestFixture::params())->onLoginUser(array('username' => 'ann', 'password' => 'x'), array());
        $this->assertSame(1, $creates(), 'missing: created once, then the insert ran again');
        $this->assertCount(1, CivicrmBridgeTestFixture::outboxRows());
    }

    public function testTheOptionsPanelShowsTheQueueAndTestsTheConnectionWithTheToken()
    {
        require_once CivicrmBridgeTestFixture::pluginRoot() . '/adapters/j15/civicrmbridge/elements/civicrmbridgestatus.php';
        CivicrmBridgeTestFixture::insertUser(42, 'ann', 'ann@example.org', 'Ann Lee');
        CivicrmBridgeTestFixture::setMode('503');
        $this->makePlugin(CivicrmBridgeTestFixture::params())->onLoginUser(array('username' => 'ann', 'password' => 'x'), array());
        CivicrmBridge_Bridge::resetCircuit();
        CivicrmBridgeTestFixture::setMode('200');
        $before = count(CivicrmBridgeTestFixture::requests());
        $element = new JElementCivicrmbridgestatus(new JParameter(implode("\n", array('bridge_url=' . CivicrmBridgeTestFixture::bridgeUrl(),
            'secret=' . CivicrmBridgeTestFixture::SECRET, 'site_id=' . CivicrmBridgeTestFixture::SITE_ID))));
        $node = null;
        $html = $element->fetchElement('civicrmbridge_status', '', $node, 'params');
        $this->assertStringContainsString('Events waiting to be sent to CiviCRM: <strong class="civicrmbridge-pending">1</strong>', $html);
        $this->assertStringContainsString('civicrmbridge=test&amp;f00dcafef00dcafef00dcafef00dcafe=1', $html);
        $this->assertSame($before, count(CivicrmBridgeTestFixture::requests()), 'showing sends nothing');

        JRequest::$data = array('civicrmbridge' => 'test'); // no token: ignored
        $element->fetchElement('civicrmbridge_status', '', $node, 'params');
        $this->assertSame($before, count(CivicrmBridgeTestFixture::requests()));

        JRequest::$data = array('civicrmbridge' => 'test', 'f00dcafef00dcafef00dcafef00dcafe' => '1');
        $html = $element->fetchElement('civicrmbridge_status', '', $node, 'params');
        $this->assertStringContainsString('<strong>Connected.</strong>', $html);
        JRequest::$data = array('civicrmbridge' => 'retry', 'f00dcafef00dcafef00dcafef00dcafe' => '1');
        $html = $element->fetchElement('civicrmbridge_status', '', $node, 'params');
        $this->assertStringContainsString('Sent now: 1.', $html);
        $this->assertSame(array(), CivicrmBridgeTestFixture::outboxRows());
    }
}
