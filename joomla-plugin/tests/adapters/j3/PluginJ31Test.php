<?php
require_once __DIR__ . '/PluginJ3Test.php';

/**
 * The same adapter on Joomla 1.6 - 3.1 (no onUserAfterLogin): the login is sent from onUserLogin
 * with the id looked up by username, and onUserAfterLogin (never fired there) would not send twice.
 */
class PluginJ31Test extends PluginJ3Test
{
    protected $pluginClass = 'PlgUserCivicrmbridgeOnJoomla31';

    /** Only onUserLogin: the id must come from the username. */
    protected function fireLogin($plugin, array $response, $id)
    {
        return $plugin->onUserLogin($response, array('action' => 'core.login.site'));
    }

    public function testLoginIsNeverSentTwice()
    {
        CivicrmBridgeTestFixture::insertUser(77, 'bob', 'bob@example.org', 'Bob Ray');
        foreach (array('PlgUserCivicrmbridge', 'PlgUserCivicrmbridgeOnJoomla31') as $class) {
            CivicrmBridgeTestFixture::reset();
            CivicrmBridgeTestFixture::insertUser(77, 'bob', 'bob@example.org', 'Bob Ray');
            $this->pluginClass = $class;
            $plugin = $this->makePlugin(CivicrmBridgeTestFixture::params());
            $this->assertTrue($plugin->onUserLogin(array('username' => 'bob', 'password' => 'x'), array()));
            $this->assertTrue($plugin->onUserAfterLogin(array('user' => new JUser(array('id' => 77, 'username' => 'bob')))));
            $this->assertCount(1, CivicrmBridgeTestFixture::requests(), $class . ' sends the login once');
        }
    }

    /** 1.6 - 3.1: the login response has no block flag; it comes from #__users. */
    public function testALoginSendsTheBlockFlagReadFromTheUsersTable()
    {
        CivicrmBridgeTestFixture::insertUser(78, 'cat', 'cat@example.org', 'Cat Fox', 1);
        $plugin = $this->makePlugin(CivicrmBridgeTestFixture::params());
        $this->assertTrue($plugin->onUserLogin(array('username' => 'cat', 'password' => 'x'), array()));
        $requests = CivicrmBridgeTestFixture::requests();
        $this->assertCount(1, $requests);
        $body = json_decode($requests[0]['body'], true);
        $this->assertSame(array(78, 1, 'cat@example.org'), array($body['user']['id'], $body['user']['block'], $body['user']['email']));
    }
}
