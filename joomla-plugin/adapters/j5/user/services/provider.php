<?php

/**
 * Service provider of the CiviCRM Bridge user plugin (Joomla 5.x / 6.x): loads the shared core
 * shipped in core/ and builds the plugin with its parameters, the application and the database.
 *
 * Joomla 5.4 deprecates passing the dispatcher to the plugin's constructor (core's own providers
 * pass only the plugin's row since 5.4; importPlugin() hands the dispatcher over when it registers
 * the listeners). 5.0 - 5.3 still require it as the first argument. The provider asks CMSPlugin's
 * constructor which one it is (Civicrmbridge::constructorWantsDispatcher), so one file serves
 * 5.0 - 6.x without a deprecation notice on 5.4+.
 *
 * @license AGPL-3.0-or-later
 */

\defined('_JEXEC') or die;

use Civicrm\Plugin\User\Civicrmbridge\Extension\Civicrmbridge;
use Joomla\CMS\Extension\PluginInterface;
use Joomla\CMS\Factory;
use Joomla\CMS\Plugin\PluginHelper;
use Joomla\Database\DatabaseInterface;
use Joomla\DI\Container;
use Joomla\DI\ServiceProviderInterface;
use Joomla\Event\DispatcherInterface;

if (!class_exists('CivicrmBridge_Bridge', false)) {
    require_once \dirname(__DIR__) . '/core/autoload.php';
}

return new class () implements ServiceProviderInterface {
    public function register(Container $container): void
    {
        $container->set(
            PluginInterface::class,
            function (Container $container) {
                $config = (array) PluginHelper::getPlugin('user', 'civicrmbridge');
                if (Civicrmbridge::constructorWantsDispatcher(new \ReflectionMethod(Civicrmbridge::class, '__construct'))) {
                    // A variable: older constructors took the dispatcher by reference.
                    $dispatcher = $container->get(DispatcherInterface::class);
                    $plugin     = new Civicrmbridge($dispatcher, $config);
                } else {
                    $plugin = new Civicrmbridge($config);
                }
                $plugin->setApplication(Factory::getApplication());
                $plugin->setDatabase($container->get(DatabaseInterface::class));

                return $plugin;
            }
        );
    }
};
