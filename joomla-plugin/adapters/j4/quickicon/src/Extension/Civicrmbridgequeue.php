<?php
/**
 * CiviCRM Bridge queue on the administrator's home page (Joomla 4.x / 5.x / 6.x): a Quick Icon in
 * the Notifications group saying how many user changes wait to be sent to CiviCRM and how many
 * the bridge refused; it links to the user plugin's options (Connection and queue: Test
 * connection, Send waiting events now). Shown to those who may manage plugins.
 *
 * @license AGPL-3.0-or-later
 */

namespace Civicrm\Plugin\Quickicon\Civicrmbridgequeue\Extension;

use Joomla\CMS\Factory;
use Joomla\CMS\Language\Text;
use Joomla\CMS\Plugin\CMSPlugin;
use Joomla\Database\DatabaseAwareInterface;
use Joomla\Database\DatabaseAwareTrait;
use Joomla\Event\EventInterface;
use Joomla\Event\SubscriberInterface;

\defined('_JEXEC') or die;

final class Civicrmbridgequeue extends CMSPlugin implements SubscriberInterface, DatabaseAwareInterface
{
    use DatabaseAwareTrait;

    protected $autoloadLanguage = true;

    public static function getSubscribedEvents(): array
    {
        return ['onGetIcons' => 'onGetIcons'];
    }

    /** QuickIconsEvent (any event with the 'context' and 'result' arguments): adds one icon. */
    public function onGetIcons(EventInterface $event): void
    {
        try {
            $app = method_exists($this, 'getApplication') && $this->getApplication() ? $this->getApplication() : Factory::getApplication();

            if ($event->getArgument('context') !== $this->params->get('context', 'update_quickicon')
                || !$app->getIdentity()->authorise('core.manage', 'com_plugins')) {
                return;
            }

            $icon = $this->icon();

            if ($icon === null) {
                return;
            }

            $result   = $event->getArgument('result', []);
            $result[] = [$icon];
            $event->setArgument('result', $result);
        } catch (\Throwable $e) {
            @error_log('[civicrmbridge] quick icon: ' . \get_class($e) . ': ' . $e->getMessage());
        }
    }

    /** The icon, from the user plugin's row and the outbox; null when the user plugin is not installed. */
    private function icon(): ?array
    {
        if (!class_exists('CivicrmBridge_Bridge')) {
            $autoload = JPATH_PLUGINS . '/user/civicrmbridge/core/autoload.php';

            if (!is_file($autoload)) {
                return null;
            }

            require_once $autoload;
        }

        $db   = new \CivicrmBridge_JoomlaDb($this->getDatabase());
        $rows = $db->fetchAll("SELECT extension_id, params FROM #__extensions WHERE type = 'plugin' AND folder = 'user' AND element = 'civicrmbridge'");

        if (!isset($rows[0])) {
            return null;
        }

        $params = json_decode((string) $rows[0]['params'], true);
        $bridge = new \CivicrmBridge_Bridge(new \CivicrmBridge_Config(\is_array($params) ? $params : []), $db);
        $status = $bridge->outboxStatus();
        $link   = 'index.php?option=com_plugins&task=plugin.edit&extension_id=' . (int) $rows[0]['extension_id'];

        if (!(new \CivicrmBridge_Config(\is_array($params) ? $params : []))->isConfigured()) {
            $text = Text::_('PLG_QUICKICON_CIVICRMBRIDGEQUEUE_NOT_SET_UP');
            $class = 'warning';
        } elseif ($status === null || ($status['pending'] === 0 && $status['failed'] === 0)) {
            $text  = Text::_('PLG_QUICKICON_CIVICRMBRIDGEQUEUE_NOTHING');
            $class = 'success';
        } else {
            $text  = Text::sprintf('PLG_QUICKICON_CIVICRMBRIDGEQUEUE_WAITING', $status['pending'], $status['failed']);
            $class = 'danger';
        }

        return [
            'link'  => $link,
            'image' => 'icon-users',
            'icon'  => '',
            'text'  => $text,
            'class' => $class,
            'id'    => 'plg_quickicon_civicrmbridgequeue',
            'group' => 'MOD_QUICKICON_MAINTENANCE',
        ];
    }
}
