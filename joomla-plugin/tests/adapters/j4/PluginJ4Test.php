<?php
use Civicrm\Plugin\User\Civicrmbridge\Extension\Civicrmbridge;
use Joomla\CMS\Application\CMSApplication;
use Joomla\CMS\Factory;
use Joomla\CMS\User\User;

/**
 * Joomla 4.x adapter: namespaced CMSPlugin, legacy listeners with positional arguments (as
 * Joomla 4 calls them: array_values($event->getArguments())), injected database, login from
 * onUserAfterLogin, com_ajax "Edit my details", and the outbox drained by the Scheduled Task.
 */
class PluginJ4Test extends NamespacedAdapterTestCase
{
    protected function generation()
    {
        return 'j4';
    }

    /** The 4.x plugin reads the application from Factory (setApplication() is 4.2+). */
    protected function resetJoomla()
    {
        parent::resetJoomla();
        Factory::$application = new CMSApplication();
    }

    /** Joomla 4 calls a legacy listener with the event's arguments, positionally. */
    private function call($plugin, $method, array $args)
    {
        return call_user_func_array(array($plugin, $method), array_values($args));
    }

    protected function fireBeforeSave($plugin, array $oldUser, $isNew, array $newData)
    {
        return $this->call($plugin, 'onUserBeforeSave', array('subject' => $oldUser, 'isNew' => $isNew, 'data' => $newData));
    }

    protected function fireAfterSave($plugin, array $user, $isNew, $success)
    {
        return $this->call($plugin, 'onUserAfterSave', array('subject' => $user, 'isNew' => $isNew, 'savingResult' => $success, 'errorMessage' => null));
    }

    protected function fireBeforeDelete($plugin, array $user)
    {
        return $this->call($plugin, 'onUserBeforeDelete', array('subject' => $user));
    }

    protected function fireAfterDelete($plugin, array $user, $success)
    {
        return $this->call($plugin, 'onUserAfterDelete', array('subject' => $user, 'deletingResult' => $success, 'errorMessage' => null));
    }

    protected function fireLogin($plugin, array $response, $id)
    {
        $this->assertFalse(method_exists($plugin, 'onUserLogin'), 'the login is sent from onUserAfterLogin only');
        $user = new User(array('id' => $id, 'username' => $response['username'],
            'email' => isset($response['email']) ? $response['email'] : '',
            'name' => isset($response['fullname']) ? $response['fullname'] : '', 'password' => '$2y$10$secrethash'));
        return $this->call($plugin, 'onUserAfterLogin', array(array('user' => $user, 'responseType' => 'Joomla')));
    }

    protected function fireLogout($plugin, array $user)
    {
        return $this->call($plugin, 'onUserLogout', array('subject' => $user, 'options' => array('clientid' => 0)));
    }

    protected function fireAjax($plugin, $loggedInUser)
    {
        Factory::$application->identity = new User($loggedInUser ? $loggedInUser : array());
        $plugin->onAjaxCivicrmbridge();
        return Factory::$application->redirected;
    }

    protected function assertListenerResult($result)
    {
        $this->assertNotFalse($result, 'a listener never returns false');
        $this->assertTrue($result);
    }

    public function testEditMyDetailsWhenUnconfiguredGoesHomeWithAMessage()
    {
        $url = $this->fireAjax($this->makePlugin(array()), array('id' => 42, 'username' => 'ann', 'email' => 'a@example.org'));
        $this->assertSame('index.php', $url);
        $this->assertSame(array(array('PLG_USER_CIVICRMBRIDGE_UNAVAILABLE', 'error')), Factory::$application->messages);
    }

    public function testUserPluginTakesNoTypedEventsOnJoomla4()
    {
        $this->assertNotContains('Joomla\\Event\\SubscriberInterface', class_implements(Civicrmbridge::class));
    }

}
