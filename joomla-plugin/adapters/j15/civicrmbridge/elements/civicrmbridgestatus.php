<?php
/**
 * Joomla 1.5 parameter element: the connection and outbox panel in the plugin's options
 * (CivicrmBridge_AdminPanel). Its links reload the page with ?civicrmbridge=test|retry and the
 * form token (checked here). Uses the saved parameters.
 *
 * @license AGPL-3.0-or-later
 */
defined('_JEXEC') or die('Restricted access');

if (!class_exists('CivicrmBridge_Bridge', false)) {
    require_once dirname(dirname(__FILE__)) . '/core/autoload.php';
}
if (!class_exists('CivicrmBridgeJ15_Db', false)) {
    require_once dirname(dirname(__FILE__)) . '/CivicrmBridgeJ15_Db.php';
}

class JElementCivicrmbridgestatus extends JElement
{
    var $_name = 'Civicrmbridgestatus';

    function fetchElement($name, $value, &$node, $control_name)
    {
        try {
            $params = array();
            foreach (array('bridge_url', 'secret', 'site_id', 'timeout', 'outbox_batch', 'outbox_max_attempts') as $key) {
                $params[$key] = $this->_parent->get($key);
            }
            $db =& JFactory::getDBO();
            $bridge = new CivicrmBridge_Bridge(new CivicrmBridge_Config($params), new CivicrmBridgeJ15_Db($db),
                new CivicrmBridge_CurlTransport(), new CivicrmBridge_ErrorLogLogger());
            $action = JRequest::getCmd('civicrmbridge', '');
            if ($action !== '' && !JRequest::checkToken('get')) {
                $action = '';
            }
            $uri =& JURI::getInstance();
            $current = $uri->toString();
            $token = JUtility::getToken();
            return CivicrmBridge_AdminPanel::render($bridge, $action,
                CivicrmBridge_AdminPanel::actionUrl($current, 'test', $token),
                CivicrmBridge_AdminPanel::actionUrl($current, 'retry', $token));
        } catch (Exception $e) {
            return htmlspecialchars('The status cannot be shown: ' . $e->getMessage(), ENT_QUOTES, 'UTF-8');
        }
    }
}
