<?php

/**
 * Service provider of the CiviCRM Bridge user plugin (Joomla 5.x / 6.x): loads the shared core
 * shipped in core/ and builds the plugin with its parameters, the application and the database.
 * The dispatcher is still passed first: 5.x/6.x accept it (deprecated for 7.0), which keeps one
 * provider for every 5.x/6.x release.
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
                // A variable: 4.x-style constructors take the dispatcher by reference.
                $dispatcher = $container->get(DispatcherInterface::class);
                $plugin     = new Civicrmbridge($dispatcher, (array) PluginHelper::getPlugin('user', 'civicrmbridge'));
                $plugin->setApplication(Factory::getApplication());
                $plugin->setDatabase($container->get(DatabaseInterface::class));

                return $plugin;
            }
        );
    }
};
