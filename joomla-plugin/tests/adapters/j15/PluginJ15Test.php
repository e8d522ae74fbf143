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
        JRequest::$data = array();
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
        return JFactory::getApplication()->redirected;
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
        $url = JFactory::getApplication()->redirected;
        $this->assertStringStartsWith('/joomla/index.php?option=com_user&view=login&return=', $url);
        parse_str(parse_url($url, PHP_URL_QUERY), $q);
        $this->assertSame('plugins/user/civicrmbridge/editdetails.php', base64_decode($q['return']));
        $script = file_get_contents(CivicrmBridgeTestFixture::pluginRoot() . '/adapters/j15/civicrmbridge/editdetails.php');
        $this->assertStringContainsString('trigger(\'onCivicrmbridgeEditDetails\', array($base))', $script);
    }
}
