<?php
/**
 * Joomla 3.2+ adapter (PlgUserCivicrmbridge): legacy listeners, arrays, return true, the login
 * sent from onUserAfterLogin ($options['user'] has the id), com_ajax "Edit my details".
 */
class PluginJ3Test extends AdapterContractTestCase
{
    protected $pluginClass = 'PlgUserCivicrmbridge';

    protected function resetJoomla()
    {
        JFactory::$database = new JDatabaseDriver(CivicrmBridgeTestFixture::$pdo, CivicrmBridgeTestFixture::$prefix);
        JFactory::$user = null;
        JFactory::$application = null;
        JRequest::$data = array();
    }

    protected function makePlugin(array $params)
    {
        $dispatcher = new JEventDispatcher();
        $class = $this->pluginClass;
        return new $class($dispatcher, array('type' => 'user', 'name' => 'civicrmbridge', 'params' => json_encode($params)));
    }

    protected function fireBeforeSave($plugin, array $oldUser, $isNew, array $newData)
    {
        return $plugin->onUserBeforeSave($oldUser, $isNew, $newData);
    }

    protected function fireAfterSave($plugin, array $user, $isNew, $success)
    {
        return $plugin->onUserAfterSave($user, $isNew, $success, null);
    }

    protected function fireBeforeDelete($plugin, array $user)
    {
        return $plugin->onUserBeforeDelete($user);
    }

    protected function fireAfterDelete($plugin, array $user, $success)
    {
        return $plugin->onUserAfterDelete($user, $success, null);
    }

    /** Joomla calls onUserLogin on every user plugin, then (3.2+) onUserAfterLogin. */
    protected function fireLogin($plugin, array $response, $id)
    {
        $first = $plugin->onUserLogin($response, array('action' => 'core.login.site'));
        if ($first !== true) {
            return $first;
        }
        $user = new JUser(array('id' => $id, 'username' => $response['username'],
            'email' => isset($response['email']) ? $response['email'] : '',
            'name' => isset($response['fullname']) ? $response['fullname'] : '', 'password' => '$2y$10$secrethash'));
        return $plugin->onUserAfterLogin(array('user' => $user, 'responseType' => 'Joomla', 'remember' => false));
    }

    protected function fireLogout($plugin, array $user)
    {
        return $plugin->onUserLogout($user, array('clientid' => 0));
    }

    protected function fireAjax($plugin, $loggedInUser)
    {
        JFactory::$user = new JUser($loggedInUser ? $loggedInUser : array());
        $plugin->onAjaxCivicrmbridge();
        return JFactory::getApplication()->redirected;
    }

    protected function breakDatabase()
    {
        JFactory::$database->broken = true;
    }

    protected function assertListenerResult($result)
    {
        $this->assertTrue($result, 'a 1.6-3.x listener returns true (false would fail a login)');
    }

    public function testEditMyDetailsGuestComesBackToTheAjaxUrl()
    {
        $url = $this->fireAjax($this->makePlugin(CivicrmBridgeTestFixture::params()), null);
        parse_str(parse_url($url, PHP_URL_QUERY), $q);
        $this->assertSame('com_users', $q['option']);
        $this->assertSame('index.php?option=com_ajax&group=user&plugin=civicrmbridge&format=raw', base64_decode($q['return']));
    }

    public function testEditMyDetailsWhenUnconfiguredGoesHomeWithAMessage()
    {
        $url = $this->fireAjax($this->makePlugin(array()), array('id' => 42, 'username' => 'ann', 'email' => 'a@example.org'));
        $this->assertSame('index.php', $url);
        $this->assertNotEmpty(JFactory::getApplication()->messages);
    }

    public function testCronScriptDrainsTheOutbox()
    {
        $plugin = $this->makePlugin(CivicrmBridgeTestFixture::params());
        CivicrmBridgeTestFixture::insertUser(42, 'ann', 'ann@example.org', 'Ann Lee');
        CivicrmBridgeTestFixture::setMode('503');
        $plugin->onUserAfterSave($this->user(), true, true, null);
        $rows = CivicrmBridgeTestFixture::outboxRows();
        $this->assertCount(1, $rows);
        CivicrmBridgeTestFixture::setMode('200');
        CivicrmBridgeTestFixture::makeOutboxDue();
        list($code, $out) = CivicrmBridgeTestFixture::runCronScript();
        $this->assertSame(0, $code, $out);
        $this->assertDeliveredLater($rows[0]['jti'], $rows[0]['body']);
    }

    public function testListenersCalledWithFewerArgumentsThanJoomlaPassesStillCarryOn()
    {
        $plugin = $this->makePlugin(CivicrmBridgeTestFixture::params());
        foreach (array('onUserBeforeSave', 'onUserAfterSave', 'onUserBeforeDelete', 'onUserAfterDelete', 'onUserLogin', 'onUserAfterLogin', 'onUserLogout') as $method) {
            $this->assertTrue($plugin->$method(), $method . '() with no argument: no ArgumentCountError');
        }
        $this->assertSame(array(), CivicrmBridgeTestFixture::requests());
    }

    public function testTheOptionsPanelShowsTheQueueTestsTheConnectionAndSendsNowWithTheToken()
    {
        require_once CivicrmBridgeTestFixture::pluginRoot() . '/adapters/j3/fields/civicrmbridgestatus.php';
        CivicrmBridgeTestFixture::insertUser(42, 'ann', 'ann@example.org', 'Ann Lee');
        CivicrmBridgeTestFixture::setMode('503');
        $this->makePlugin(CivicrmBridgeTestFixture::params())->onUserAfterSave($this->user(), false, true, null);
        CivicrmBridge_Bridge::resetCircuit(); // the admin's page is a later request
        CivicrmBridgeTestFixture::setMode('200');
        $saved = CivicrmBridgeTestFixture::params();
        $form = new class ($saved) {
            public function __construct(private array $params)
            {
            }

            public function getValue($name, $group = null)
            {
                return $group === 'params' && isset($this->params[$name]) ? $this->params[$name] : null;
            }
        };
        $field = new JFormFieldCivicrmbridgestatus($form);
        $before = count(CivicrmBridgeTestFixture::requests());
        $html = $field->input();
        $this->assertStringContainsString('Events waiting to be sent to CiviCRM: <strong class="civicrmbridge-pending">1</strong>', $html);
        $this->assertStringContainsString('extension_id=9&amp;civicrmbridge=test&amp;c0ffee00c0ffee00c0ffee00c0ffee00=1', $html);
        $this->assertSame($before, count(CivicrmBridgeTestFixture::requests()));

        JRequest::$data = array('civicrmbridge' => 'retry'); // without the token: only shown
        $field->input();
        $this->assertCount(1, CivicrmBridgeTestFixture::outboxRows());

        JRequest::$data = array('civicrmbridge' => 'test', 'c0ffee00c0ffee00c0ffee00c0ffee00' => '1');
        $this->assertStringContainsString('<strong>Connected.</strong>', $field->input());
        $wrong = new JFormFieldCivicrmbridgestatus(new class () {
            public function getValue($name, $group = null)
            {
                $p = CivicrmBridgeTestFixture::params(array('secret' => str_repeat('w', 40)));
                return $p[$name] ?? null;
            }
        });
        $this->assertStringContainsString('<strong>Not connected: wrong shared secret.</strong>', $wrong->input());

        JRequest::$data = array('civicrmbridge' => 'retry', 'c0ffee00c0ffee00c0ffee00c0ffee00' => '1');
        $this->assertStringContainsString('Sent now: 1.', $field->input());
        $this->assertSame(array(), CivicrmBridgeTestFixture::outboxRows());
    }
}
