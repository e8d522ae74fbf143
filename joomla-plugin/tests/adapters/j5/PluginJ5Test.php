<?php
use Civicrm\Plugin\User\Civicrmbridge\Extension\Civicrmbridge;
use Joomla\CMS\Application\CMSApplication;
use Joomla\CMS\Event\Plugin\AjaxEvent;
use Joomla\CMS\Event\User\AfterDeleteEvent;
use Joomla\CMS\Event\User\AfterLoginEvent;
use Joomla\CMS\Event\User\AfterSaveEvent;
use Joomla\CMS\Event\User\BeforeDeleteEvent;
use Joomla\CMS\Event\User\BeforeSaveEvent;
use Joomla\CMS\Event\User\LogoutEvent;
use Joomla\CMS\User\User;
use Joomla\Event\Event;

/**
 * Joomla 5.x/6.x adapter: SubscriberInterface, typed events dispatched to the subscribed methods,
 * the login from AfterLoginEvent, com_ajax "Edit my details", the outbox drained by the task.
 */
class PluginJ5Test extends NamespacedAdapterTestCase
{
    private $app;

    protected function generation()
    {
        return 'j5';
    }

    /** The 5.x plugin gets the application injected (no Factory). */
    protected function resetJoomla()
    {
        parent::resetJoomla();
        $this->app = new CMSApplication();
        \Joomla\CMS\Factory::$application = null;
    }

    protected function makePlugin(array $params)
    {
        $plugin = parent::makePlugin($params);
        $plugin->setApplication($this->app);
        return $plugin;
    }

    /** Dispatches like Joomla's dispatcher: the method getSubscribedEvents() names, with the event. */
    private function dispatch($plugin, $event)
    {
        $map = Civicrmbridge::getSubscribedEvents();
        $this->assertArrayHasKey($event->getName(), $map);
        return $plugin->{$map[$event->getName()]}($event);
    }

    protected function fireBeforeSave($plugin, array $oldUser, $isNew, array $newData)
    {
        return $this->dispatch($plugin, new BeforeSaveEvent('onUserBeforeSave', array('subject' => $oldUser, 'isNew' => $isNew, 'data' => $newData)));
    }

    protected function fireAfterSave($plugin, array $user, $isNew, $success)
    {
        return $this->dispatch($plugin, new AfterSaveEvent('onUserAfterSave', array('subject' => $user, 'isNew' => $isNew, 'savingResult' => $success, 'errorMessage' => null)));
    }

    protected function fireBeforeDelete($plugin, array $user)
    {
        return $this->dispatch($plugin, new BeforeDeleteEvent('onUserBeforeDelete', array('subject' => $user)));
    }

    protected function fireAfterDelete($plugin, array $user, $success)
    {
        return $this->dispatch($plugin, new AfterDeleteEvent('onUserAfterDelete', array('subject' => $user, 'deletingResult' => $success, 'errorMessage' => null)));
    }

    protected function fireLogin($plugin, array $response, $id)
    {
        $this->assertArrayNotHasKey('onUserLogin', Civicrmbridge::getSubscribedEvents(), 'the login is sent from onUserAfterLogin only');
        $user = new User(array('id' => $id, 'username' => $response['username'],
            'email' => isset($response['email']) ? $response['email'] : '',
            'name' => isset($response['fullname']) ? $response['fullname'] : '', 'password' => '$2y$10$secrethash'));
        return $this->dispatch($plugin, new AfterLoginEvent('onUserAfterLogin', array('subject' => $response,
            'options' => array('user' => $user, 'responseType' => 'Joomla'))));
    }

    protected function fireLogout($plugin, array $user)
    {
        return $this->dispatch($plugin, new LogoutEvent('onUserLogout', array('subject' => $user, 'options' => array('clientid' => 0))));
    }

    protected function fireAjax($plugin, $loggedInUser)
    {
        $this->app->identity = new User($loggedInUser ? $loggedInUser : array());
        $this->dispatch($plugin, new AjaxEvent('onAjaxCivicrmbridge', array('subject' => $this->app, 'format' => 'raw')));
        return $this->app->redirected;
    }

    protected function assertListenerResult($result)
    {
        $this->assertNull($result, 'a typed listener returns nothing (void)');
    }

    public function testEditMyDetailsWhenUnconfiguredGoesHomeWithAMessage()
    {
        $url = $this->fireAjax($this->makePlugin(array()), array('id' => 42, 'username' => 'ann', 'email' => 'a@example.org'));
        $this->assertSame('index.php', $url);
        $this->assertSame(array(array('PLG_USER_CIVICRMBRIDGE_UNAVAILABLE', 'error')), $this->app->messages);
    }

    public function testSubscribesToTheSixUserEventsAndAjax()
    {
        $this->assertContains('Joomla\\Event\\SubscriberInterface', class_implements(Civicrmbridge::class));
        $this->assertSame(array('onAjaxCivicrmbridge', 'onUserAfterDelete', 'onUserAfterLogin', 'onUserAfterSave',
            'onUserBeforeDelete', 'onUserBeforeSave', 'onUserLogout'), $this->sorted(array_keys(Civicrmbridge::getSubscribedEvents())));
        foreach (Civicrmbridge::getSubscribedEvents() as $method) {
            $this->assertTrue(method_exists(Civicrmbridge::class, $method));
        }
    }

    private function sorted(array $a)
    {
        sort($a);
        return $a;
    }

    /** A plain Event (a third-party dispatch) must not break the save either: positional arguments. */
    public function testAPlainEventIsReadPositionally()
    {
        $plugin = $this->makePlugin(CivicrmBridgeTestFixture::params());
        CivicrmBridgeTestFixture::insertUser(42, 'ann', 'ann@example.org', 'Ann Lee');
        $this->assertNull($plugin->onUserAfterSave(new Event('onUserAfterSave', array($this->user(), false, true, null))));
        list($body) = $this->assertOnlyRequest('onUserAfterSave');
        $this->assertSame(42, $body['user']['id']);
        $this->assertFalse($body['isNew']);
        $this->assertNull($plugin->onUserLogout(new Event('onUserLogout', array())));
    }


    public function testTheConstructorCheckTellsJoomla50To53FromJoomla54()
    {
        // 5.0 - 5.3: (DispatcherInterface $dispatcher, array $config = []); 5.4+: ($config = []).
        $old = new ReflectionMethod(new class (new \Joomla\Event\Dispatcher()) {
            public function __construct(\Joomla\Event\DispatcherInterface $dispatcher, array $config = [])
            {
            }
        }, '__construct');
        $new = new ReflectionMethod(new class () {
            public function __construct($config = [])
            {
            }
        }, '__construct');
        $this->assertTrue(Civicrmbridge::constructorWantsDispatcher($old));
        $this->assertFalse(Civicrmbridge::constructorWantsDispatcher($new));
        $this->assertTrue(Civicrmbridge::constructorWantsDispatcher(new ReflectionMethod(Civicrmbridge::class, '__construct')), 'these stubs are 5.0 - 5.3');
    }

    /**
     * Joomla 5.4+ (stubs with 5.4's constructor, in their own process): both providers build their
     * plugin from its row alone, without the deprecated dispatcher argument, and it works.
     */
    public function testOnJoomla54TheProvidersPassNoDispatcher()
    {
        $script = tempnam(sys_get_temp_dir(), 'cbt17-j54-');
        file_put_contents($script, '<?php
            require ' . var_export(CivicrmBridgeTestFixture::pluginRoot() . '/tests/adapters/fixtures/LoadGeneration.php', true) . ';
            CivicrmBridgeGeneration::load("j5");
            $out = [];
            foreach (["user" => "/adapters/j5/user/services/provider.php", "task" => "/adapters/j4/task/services/provider.php"] as $group => $file) {
                $name = $group === "user" ? "civicrmbridge" : "civicrmbridgeretry";
                \Joomla\CMS\Plugin\PluginHelper::$plugins[$group . "." . $name] = (object) ["type" => $group, "name" => $name, "params" => "{\"site_id\":\"s54\"}"];
                $provider = require CivicrmBridgeTestFixture::pluginRoot() . $file;
                $container = new \Joomla\DI\Container();
                $container->set(\Joomla\Event\DispatcherInterface::class, new \Joomla\Event\Dispatcher());
                $container->set(\Joomla\Database\DatabaseInterface::class, new \Joomla\Database\DatabaseDriver(new PDO("mysql:host=127.0.0.1;port=3306", "root", ""), "x_"));
                $provider->register($container);
                $plugin = $container->get(\Joomla\CMS\Extension\PluginInterface::class);
                $out[$group] = [get_class($plugin), $plugin->params->get("site_id")];
            }
            $out["deprecations"] = \Joomla\CMS\Plugin\PluginHelper::$deprecations;
            echo json_encode($out);
        ');
        $env = array('CIVICRMBRIDGE_STUB_JOOMLA' => '5.4', 'PATH' => (string) getenv('PATH'));
        $proc = proc_open(array(PHP_BINARY, $script), array(1 => array('pipe', 'w'), 2 => array('pipe', 'w')), $pipes, null, $env);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        $code = proc_close($proc);
        unlink($script);
        $this->assertSame(0, $code, $out . $err);
        $this->assertSame(array(
            'user' => array(Civicrmbridge::class, 's54'),
            'task' => array('Civicrm\\Plugin\\Task\\Civicrmbridgeretry\\Extension\\Civicrmbridgeretry', 's54'),
            'deprecations' => array(),
        ), json_decode($out, true), $err);
    }
}
