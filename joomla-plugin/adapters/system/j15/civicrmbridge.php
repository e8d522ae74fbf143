<?php
/**
 * CiviCRM Bridge, system plugin for Joomla 1.5 (PHP 5.2 syntax): lazy linking on CiviCRM's own
 * pages. User plugins are not loaded on ordinary page requests; system plugins are, and 1.5's
 * index.php triggers onAfterRoute after routing and before the component (com_civicrm) runs.
 * For a logged-in user opening a CiviCRM profile, contribution or membership page it asks the
 * bridge to link the user first (CivicrmBridge_LazyLink, with the user plugin's parameters and
 * core). Fail-open: catches everything, always returns true; the page always opens.
 *
 * @license AGPL-3.0-or-later
 */
defined('_JEXEC') or die('Restricted access');

class plgSystemCivicrmbridge extends JPlugin
{
    function __construct(&$subject, $config = array())
    {
        parent::__construct($subject, $config);
    }

    function onAfterRoute()
    {
        try {
            // Cheap exit: every page of the site passes here.
            if (strtolower(JRequest::getCmd('option')) !== 'com_civicrm') {
                return true;
            }
            $user =& JFactory::getUser();
            if (!is_object($user) || !empty($user->guest) || !$this->_loadCore()) {
                return true;
            }
            $plugin = JPluginHelper::getPlugin('user', 'civicrmbridge');
            if (!is_object($plugin) || !isset($plugin->params)) {
                return true; // the user plugin is not installed or not enabled
            }
            $view = JRequest::getCmd('view');
            $request = array(
                'option' => 'com_civicrm',
                'task' => (string) JRequest::getVar('task', ''),
                'id' => JRequest::getVar('id', null),
                'view' => $view,
                'menuTask' => $view !== '' ? $this->_menuTask(JRequest::getInt('Itemid')) : null,
            );
            $db =& JFactory::getDBO();
            CivicrmBridge_LazyLink::run($plugin->params, new CivicrmBridgeJ15_Db($db), JFactory::getSession(), $user, $request);
        } catch (Exception $e) {
            error_log('[civicrm-bridge] error: onAfterRoute failed: ' . $e->getMessage());
        } catch (Throwable $e) {
            error_log('[civicrm-bridge] error: onAfterRoute failed: ' . $e->getMessage());
        }
        return true;
    }

    /** The core and the 1.5 outbox driver shipped with the user plugin (plugins/user/civicrmbridge/). */
    function _loadCore()
    {
        $dir = JPATH_PLUGINS . DIRECTORY_SEPARATOR . 'user' . DIRECTORY_SEPARATOR . 'civicrmbridge';
        if (!class_exists('CivicrmBridge_LazyLink', false)) {
            if (!is_file($dir . '/core/CivicrmBridge_LazyLink.php')) {
                return false;
            }
            require_once $dir . '/core/autoload.php';
            require_once $dir . '/core/CivicrmBridge_LazyLink.php';
        }
        if (!class_exists('CivicrmBridgeJ15_Db', false)) {
            if (!is_file($dir . '/CivicrmBridgeJ15_Db.php')) {
                return false;
            }
            require_once $dir . '/CivicrmBridgeJ15_Db.php';
        }
        return true;
    }

    /** The task parameter of a com_civicrm menu item (civicrm.php lets it override the URL's). */
    function _menuTask($itemid)
    {
        if ($itemid <= 0 || !class_exists('JSite') || !method_exists('JSite', 'getMenu')) {
            return null;
        }
        $menu =& JSite::getMenu();
        $params = is_object($menu) ? $menu->getParams($itemid) : null;
        return is_object($params) ? $params->get('task', null) : null;
    }
}
