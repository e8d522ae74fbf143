<?php
/**
 * Service provider of the CiviCRM Bridge queue Quick Icon (Joomla 4.x / 5.x / 6.x).
 *
 * @license AGPL-3.0-or-later
 */

\defined('_JEXEC') or die;

use Civicrm\Plugin\Quickicon\Civicrmbridgequeue\Extension\Civicrmbridgequeue;
use Joomla\CMS\Extension\PluginInterface;
use Joomla\CMS\Factory;
use Joomla\CMS\Plugin\PluginHelper;
use Joomla\Database\DatabaseInterface;
use Joomla\DI\Container;
use Joomla\DI\ServiceProviderInterface;
use Joomla\Event\DispatcherInterface;

return new class implements ServiceProviderInterface
{
    public function register(Container $container)
    {
        $container->set(
            PluginInterface::class,
            function (Container $container) {
                $config = (array) PluginHelper::getPlugin('quickicon', 'civicrmbridgequeue');
                // 4.x - 5.3 take the dispatcher first; 5.4+ only the plugin's row ($config).
                $parameters = (new \ReflectionMethod(Civicrmbridgequeue::class, '__construct'))->getParameters();

                if ($parameters !== [] && $parameters[0]->getName() !== 'config') {
                    $dispatcher = $container->get(DispatcherInterface::class);
                    $plugin     = new Civicrmbridgequeue($dispatcher, $config);
                } else {
                    $plugin = new Civicrmbridgequeue($config);
                }

                if (method_exists($plugin, 'setApplication')) {
                    $plugin->setApplication(Factory::getApplication());
                }

                $plugin->setDatabase($container->get(DatabaseInterface::class));

                return $plugin;
            }
        );
    }
};
