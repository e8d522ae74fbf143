<?php

/**
 * CiviCRM Bridge, system plugin for Joomla 4.x, 5.x and 6.x (PHP 7.2.5+): lazy linking on
 * CiviCRM's own pages. User plugins are not loaded on ordinary page requests; system plugins
 * are, and onAfterRoute fires after routing (SEF URLs resolved) and before the component
 * (com_civicrm) runs. For a logged-in user opening a CiviCRM profile, contribution or membership
 * page it asks the bridge to link the user first (CivicrmBridge_LazyLink, with the user plugin's
 * parameters and core). Fail-open: catches \Throwable, returns nothing; the page always opens.
 *
 * @license AGPL-3.0-or-later
 */

namespace Civicrm\Plugin\System\Civicrmbridge\Extension;

use Joomla\CMS\Plugin\CMSPlugin;
use Joomla\CMS\Plugin\PluginHelper;
use Joomla\Database\DatabaseAwareInterface;
use Joomla\Database\DatabaseAwareTrait;
use Joomla\Event\SubscriberInterface;

\defined('_JEXEC') or die;

final class Civicrmbridge extends CMSPlugin implements SubscriberInterface, DatabaseAwareInterface
{
    use DatabaseAwareTrait;

    public static function getSubscribedEvents(): array
    {
        return ['onAfterRoute' => 'onAfterRoute'];
    }

    /** @param mixed $event AfterRouteEvent (5.x), a plain Event (4.x), or nothing */
    public function onAfterRoute($event = null): void
    {
        try {
            $app   = $this->getApplication();
            $input = $app->getInput();
            // Cheap exit: every page of the site passes here.
            if (strtolower((string) $input->getCmd('option', '')) !== 'com_civicrm') {
                return;
            }
            $user = $app->getIdentity();
            if (!\is_object($user) || !empty($user->guest) || !self::loadCore()) {
                return;
            }
            $plugin = PluginHelper::getPlugin('user', 'civicrmbridge');
            if (!\is_object($plugin) || !isset($plugin->params)) {
                return; // the user plugin is not installed or not enabled
            }
            $view    = (string) $input->getCmd('view', '');
            $request = [
                'option'   => 'com_civicrm',
                'task'     => (string) $input->getString('task', ''),
                'id'       => $input->getString('id', ''),
                'view'     => $view,
                'menuTask' => $view !== '' ? self::menuTask($app, (int) $input->getInt('Itemid', 0)) : null,
            ];
            \CivicrmBridge_LazyLink::run($plugin->params, new \CivicrmBridge_JoomlaDb($this->getDatabase()), $app->getSession(), $user, $request);
        } catch (\Throwable $e) {
            error_log('[civicrm-bridge] error: onAfterRoute failed: ' . $e->getMessage());
        }
    }

    /** The core shipped with the user plugin of the same package (plugins/user/civicrmbridge/core/). */
    private static function loadCore(): bool
    {
        if (class_exists('CivicrmBridge_LazyLink', false)) {
            return true;
        }
        $core = JPATH_PLUGINS . '/user/civicrmbridge/core';
        if (!is_file($core . '/CivicrmBridge_LazyLink.php')) {
            return false;
        }
        require_once $core . '/autoload.php';
        require_once $core . '/CivicrmBridge_LazyLink.php';
        return true;
    }

    /** The task parameter of a com_civicrm menu item (civicrm.php lets it override the URL's). */
    private static function menuTask($app, int $itemid): ?string
    {
        if ($itemid <= 0 || !method_exists($app, 'getMenu')) {
            return null;
        }
        $item = $app->getMenu()->getItem($itemid);
        $task = \is_object($item) ? $item->getParams()->get('task', null) : null;
        return \is_string($task) ? $task : null;
    }
}
