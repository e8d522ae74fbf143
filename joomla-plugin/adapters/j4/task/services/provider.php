<?php
/**
 * Service provider of the CiviCRM Bridge outbox retry task plugin (Joomla 4.1+ / 5.x / 6.x).
 * The shared core is loaded from the CiviCRM Bridge user plugin (same package) when the task runs.
 *
 * @license AGPL-3.0-or-later
 */

\defined('_JEXEC') or die;

use Civicrm\Plugin\Task\Civicrmbridgeretry\Extension\Civicrmbridgeretry;
use Joomla\CMS\Extension\PluginInterface;
use Joomla\CMS\Factory;
use Joomla\CMS\Plugin\PluginHelper;
use Joomla\Database\DatabaseInterface;
use Joomla\DI\Container;
use Joomla\DI\ServiceProviderInterface;
use Joomla\Event\DispatcherInterface;

// Like the user plugin's provider: Joomla loads each plugin's services/provider.php on its own.
return new class implements ServiceProviderInterface
{
    public function register(Container $container)
    {
        $container->set(
            PluginInterface::class,
            function (Container $container) {
                $config = (array) PluginHelper::getPlugin('task', 'civicrmbridgeretry');
                // 4.x - 5.3 take the dispatcher first (&$subject, then DispatcherInterface $dispatcher);
                // 5.4+ only the plugin's row ($config), where passing the dispatcher is deprecated.
                $parameters = (new \ReflectionMethod(Civicrmbridgeretry::class, '__construct'))->getParameters();

                if ($parameters !== [] && $parameters[0]->getName() !== 'config') {
                    $dispatcher = $container->get(DispatcherInterface::class);
                    $plugin     = new Civicrmbridgeretry($dispatcher, $config);
                } else {
                    $plugin = new Civicrmbridgeretry($config);
                }
                // CMSPlugin::setApplication() exists from 4.2 on.
                if (method_exists($plugin, 'setApplication')) {
                    $plugin->setApplication(Factory::getApplication());
                }
                $plugin->setDatabase($container->get(DatabaseInterface::class));

                return $plugin;
            }
        );
    }
};
