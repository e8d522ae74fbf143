<?php

/**
 * Service provider of the CiviCRM Bridge system plugin (Joomla 4.x - 6.x): builds the plugin with
 * its parameters, the application and the database. The core is loaded from the user plugin of
 * the same package when a CiviCRM page is opened.
 *
 * @license AGPL-3.0-or-later
 */

\defined('_JEXEC') or die;

use Civicrm\Plugin\System\Civicrmbridge\Extension\Civicrmbridge;
use Joomla\CMS\Extension\PluginInterface;
use Joomla\CMS\Factory;
use Joomla\CMS\Plugin\PluginHelper;
use Joomla\Database\DatabaseInterface;
use Joomla\DI\Container;
use Joomla\DI\ServiceProviderInterface;
use Joomla\Event\DispatcherInterface;

return new class () implements ServiceProviderInterface {
    public function register(Container $container): void
    {
        $container->set(
            PluginInterface::class,
            function (Container $container) {
                // A variable: 4.x-style constructors take the dispatcher by reference.
                $dispatcher = $container->get(DispatcherInterface::class);
                $plugin     = new Civicrmbridge($dispatcher, (array) PluginHelper::getPlugin('system', 'civicrmbridge'));
                $plugin->setApplication(Factory::getApplication());
                $plugin->setDatabase($container->get(DatabaseInterface::class));

                return $plugin;
            }
        );
    }
};
