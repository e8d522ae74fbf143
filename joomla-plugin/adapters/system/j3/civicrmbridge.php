<?php
/**
 * CiviCRM Bridge, system plugin for Joomla 1.6 - 3.x (PHP 5.3 syntax): lazy linking on CiviCRM's
 * own pages. User plugins are not loaded on ordinary page requests; system plugins are, and
 * onAfterRoute fires after routing (SEF URLs resolved) and before the component runs. For a
 * logged-in user opening a CiviCRM profile, contribution or membership page it asks the bridge
 * to link the user first (CivicrmBridge_LazyLink, with the user plugin's parameters and core).
 * Fail-open: catches everything, always returns true; the page always opens.
 *
 * @license AGPL-3.0-or-later
 */
defined('_JEXEC') or die;

class PlgSystemCivicrmbridge extends JPlugin
{
    public function onAfterRoute()
    {
        try {
            $app = JFactory::getApplication();
            $input = isset($app->input) ? $app->input : null;
            // Cheap exit: every page of the site passes here.
            if ($input === null || strtolower($input->getCmd('option', '')) !== 'com_civicrm') {
                return true;
            }
            $user = JFactory::getUser();
            if (!is_object($user) || !empty($user->guest) || !self::loadCore()) {
                return true;
            }
            $plugin = JPluginHelper::getPlugin('user', 'civicrmbridge');
            if (!is_object($plugin) || !isset($plugin->params)) {
                return true; // the user plugin is not installed or not enabled
            }
            $view = $input->getCmd('view', '');
            $request = array(
                'option' => 'com_civicrm',
                'task' => (string) $input->getString('task', ''),
                'id' => $input->getString('id', ''),
                'view' => $view,
                'menuTask' => $view !== '' ? self::menuTask($app, $input->getInt('Itemid', 0)) : null,
            );
            CivicrmBridge_LazyLink::run($plugin->params, new CivicrmBridge_JoomlaDb(JFactory::getDbo()), JFactory::getSession(), $user, $request);
        } catch (Exception $e) {
            error_log('[civicrm-bridge] error: onAfterRoute failed: ' . $e->getMessage());
        } catch (Throwable $e) {
            error_log('[civicrm-bridge] error: onAfterRoute failed: ' . $e->getMessage());
        }
        return true;
    }

    /** The core shipped with the user plugin (plugins/user/civicrmbridge/core/). */
    private static function loadCore()
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
    private static function menuTask($app, $itemid)
    {
        if ($itemid <= 0 || !method_exists($app, 'getMenu')) {
            return null;
        }
        $menu = $app->getMenu();
        $item = is_object($menu) ? $menu->getItem($itemid) : null;
        return is_object($item) && isset($item->params) && is_object($item->params) ? $item->params->get('task', null) : null;
    }
}
