<?php
/**
 * Joomla 1.6 - 3.x form field: the connection and queue panel in the plugin's options
 * (CivicrmBridge_AdminPanel). Its links reload the options page with ?civicrmbridge=test|retry
 * and the form token (checked here). Uses the saved parameters.
 *
 * @license AGPL-3.0-or-later
 */
defined('_JEXEC') or die;

if (!class_exists('CivicrmBridge_Bridge', false)) {
    require_once dirname(dirname(__FILE__)) . '/core/autoload.php';
}
if (!class_exists('JFormField', false) && function_exists('jimport')) {
    jimport('joomla.form.formfield');
}

class JFormFieldCivicrmbridgestatus extends JFormField
{
    protected $type = 'Civicrmbridgestatus';

    protected function getInput()
    {
        try {
            $params = array();
            foreach (array('bridge_url', 'secret', 'site_id', 'timeout', 'outbox_batch', 'outbox_max_attempts') as $key) {
                $params[$key] = $this->form->getValue($key, 'params');
            }
            $bridge = new CivicrmBridge_Bridge(new CivicrmBridge_Config($params), new CivicrmBridge_JoomlaDb(JFactory::getDbo()),
                new CivicrmBridge_CurlTransport(), new CivicrmBridge_ErrorLogLogger());
            $action = JRequest::getCmd('civicrmbridge', '');
            if ($action !== '' && !JRequest::checkToken('get')) {
                $action = '';
            }
            $current = JUri::getInstance()->toString();
            $token = JSession::getFormToken();
            return CivicrmBridge_AdminPanel::render($bridge, $action,
                CivicrmBridge_AdminPanel::actionUrl($current, 'test', $token),
                CivicrmBridge_AdminPanel::actionUrl($current, 'retry', $token));
        } catch (Exception $e) {
            return htmlspecialchars('The status cannot be shown: ' . $e->getMessage(), ENT_QUOTES, 'UTF-8');
        }
    }
}
