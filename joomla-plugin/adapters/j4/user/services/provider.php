<?php
/**
 * Service provider of the CiviCRM Bridge user plugin (Joomla 4.x): loads the shared core shipped
 * in core/ and builds the plugin with its parameters, the application and the database.
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
    require_once dirname(__DIR__) . '/core/autoload.php';
}

return new class implements ServiceProviderInterface
{
    public function register(Container $container)
    {
        $container->set(
            PluginInterface::class,
            function (Container $container) {
                $dispatcher = $container->get(DispatcherInterface::class);
                $plugin     = new Civicrmbridge($dispatcher, (array) PluginHelper::getPlugin('user', 'civicrmbridge'));
                // CMSPlugin::setApplication() exists from 4.2 on (the plugin itself uses Factory).
                if (method_exists($plugin, 'setApplication')) {
                    $plugin->setApplication(Factory::getApplication());
                }
                $plugin->setDatabase($container->get(DatabaseInterface::class));

                return $plugin;
            }
        );
    }
};
