<?php

/**
 * The connection and queue panel in the plugin's options (CivicrmBridge_AdminPanel). Its links
 * reload the options page with ?civicrmbridge=test|retry and the form token (checked here).
 * Uses the saved parameters.
 *
 * @license AGPL-3.0-or-later
 */

namespace Civicrm\Plugin\User\Civicrmbridge\Field;

use Joomla\CMS\Factory;
use Joomla\CMS\Form\FormField;
use Joomla\CMS\Session\Session;
use Joomla\CMS\Uri\Uri;
use Joomla\Database\DatabaseInterface;

\defined('_JEXEC') or die;

class CivicrmbridgestatusField extends FormField
{
    protected $type = 'Civicrmbridgestatus';

    protected function getInput()
    {
        try {
            if (!class_exists('CivicrmBridge_Bridge', false)) {
                require_once \dirname(__DIR__, 2) . '/core/autoload.php';
            }

            $params = [];

            foreach (['bridge_url', 'secret', 'site_id', 'timeout', 'outbox_batch', 'outbox_max_attempts'] as $key) {
                $params[$key] = $this->form->getValue($key, 'params');
            }

            $bridge = new \CivicrmBridge_Bridge(
                new \CivicrmBridge_Config($params),
                new \CivicrmBridge_JoomlaDb(Factory::getContainer()->get(DatabaseInterface::class)),
                new \CivicrmBridge_CurlTransport(),
                new \CivicrmBridge_ErrorLogLogger()
            );
            $action = (string) Factory::getApplication()->input->getCmd('civicrmbridge', '');

            if ($action !== '' && !Session::checkToken('get')) {
                $action = '';
            }

            $current = Uri::getInstance()->toString();
            $token   = Session::getFormToken();

            return \CivicrmBridge_AdminPanel::render(
                $bridge,
                $action,
                \CivicrmBridge_AdminPanel::actionUrl($current, 'test', $token),
                \CivicrmBridge_AdminPanel::actionUrl($current, 'retry', $token)
            );
        } catch (\Throwable $e) {
            return htmlspecialchars('The status cannot be shown: ' . $e->getMessage(), ENT_QUOTES, 'UTF-8');
        }
    }
}
