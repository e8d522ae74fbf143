<?php
/**
 * CiviCRM Bridge outbox retry: a Scheduled Task (Joomla 4.1+, com_scheduler) that sends the
 * events the bridge has not acknowledged yet, oldest first, keeping their jti. The routine
 * reads the CiviCRM Bridge user plugin's parameters (bridge URL, secret, site id...) and uses the
 * shared core shipped with that plugin; every decision (back-off, permanent failures) is the core's.
 *
 * @license AGPL-3.0-or-later
 */

namespace Civicrm\Plugin\Task\Civicrmbridgeretry\Extension;

use Joomla\CMS\Plugin\CMSPlugin;
use Joomla\Component\Scheduler\Administrator\Event\ExecuteTaskEvent;
use Joomla\Component\Scheduler\Administrator\Task\Status;
use Joomla\Component\Scheduler\Administrator\Traits\TaskPluginTrait;
use Joomla\Database\DatabaseAwareInterface;
use Joomla\Database\DatabaseAwareTrait;
use Joomla\Event\SubscriberInterface;

\defined('_JEXEC') or die;

final class Civicrmbridgeretry extends CMSPlugin implements SubscriberInterface, DatabaseAwareInterface
{
    use TaskPluginTrait;
    use DatabaseAwareTrait;

    /** One routine; its title and description are PLG_TASK_CIVICRMBRIDGERETRY_RETRY_TITLE / _DESC. */
    protected const TASKS_MAP = [
        'civicrmbridge.retry' => [
            'langConstPrefix' => 'PLG_TASK_CIVICRMBRIDGERETRY_RETRY',
            'method'          => 'retryOutbox',
        ],
    ];

    protected $autoloadLanguage = true;

    public static function getSubscribedEvents(): array
    {
        return [
            'onTaskOptionsList'    => 'advertiseRoutines',
            'onExecuteTask'        => 'standardRoutineHandler',
            'onContentPrepareForm' => 'enhanceTaskItemForm',
        ];
    }

    /**
     * Sends one batch of due outbox rows (outbox_batch of the user plugin). Rows the bridge did
     * not take stay pending with back-off: that is not a task failure.
     */
    private function retryOutbox(ExecuteTaskEvent $event): int
    {
        try {
            if (!class_exists('CivicrmBridge_Bridge')) {
                $autoload = JPATH_PLUGINS . '/user/civicrmbridge/core/autoload.php';

                if (!is_file($autoload)) {
                    $this->logTask('The CiviCRM Bridge user plugin is not installed.', 'warning');

                    return Status::NO_RUN;
                }

                require_once $autoload;
            }

            $db     = $this->getDatabase();
            $config = \CivicrmBridge_Config::fromParams($this->userPluginParams($db));

            if (!$config->isConfigured()) {
                $this->logTask('The CiviCRM Bridge user plugin has no bridge URL, secret or site id yet.', 'warning');

                return Status::NO_RUN;
            }

            $bridge = new \CivicrmBridge_Bridge($config, new \CivicrmBridge_JoomlaDb($db), new \CivicrmBridge_CurlTransport(), new \CivicrmBridge_ErrorLogLogger());
            $counts = $bridge->drainOutbox();
            // pending: every event still waiting afterwards (due or not), as the admin panel shows.
            $status  = $bridge->outboxStatus();
            $waiting = $status === null ? $counts['pending'] : $status['pending'];
            $this->logTask(sprintf('delivered %d, failed %d, pending %d', $counts['delivered'], $counts['failed'], $waiting));

            return Status::OK;
        } catch (\Throwable $e) {
            $this->logTask('CiviCRM Bridge outbox: ' . $e->getMessage(), 'error');

            return Status::KNOCKOUT;
        }
    }

    /** The user plugin's parameters, read from #__extensions (enabled or not). */
    private function userPluginParams($db): array
    {
        $rows = (new \CivicrmBridge_JoomlaDb($db))->fetchAll(
            "SELECT params FROM #__extensions WHERE type = 'plugin' AND folder = 'user' AND element = 'civicrmbridge'"
        );
        $all = isset($rows[0]['params']) ? json_decode((string) $rows[0]['params'], true) : null;

        return \is_array($all) ? $all : [];
    }
}
