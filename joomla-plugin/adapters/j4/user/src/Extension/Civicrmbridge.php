<?php
/**
 * CiviCRM Bridge, user plugin for Joomla 4.x (PHP 7.2.5+).
 *
 * A thin adapter: legacy listener methods (Joomla 4 passes the event's arguments positionally)
 * translated into calls on the shared core (CivicrmBridge_Bridge), which makes every decision.
 * Fail-open: every listener catches \Throwable and returns true; nothing ever throws out of here.
 * The login is sent from onUserAfterLogin only: it fires once every user plugin has accepted the
 * login, and $options['user'] carries the real id (onUserLogin has none; it is not listened to).
 *
 * @license AGPL-3.0-or-later
 */

namespace Civicrm\Plugin\User\Civicrmbridge\Extension;

use Joomla\CMS\Factory;
use Joomla\CMS\Language\Text;
use Joomla\CMS\Plugin\CMSPlugin;
use Joomla\Database\DatabaseAwareInterface;
use Joomla\Database\DatabaseAwareTrait;

\defined('_JEXEC') or die;

final class Civicrmbridge extends CMSPlugin implements DatabaseAwareInterface
{
    use DatabaseAwareTrait;

    /** "Edit my details": a menu item of type URL pointing here (com_ajax routes it to onAjaxCivicrmbridge). */
    public const EDIT_DETAILS_URL = 'index.php?option=com_ajax&group=user&plugin=civicrmbridge&format=raw';

    protected $autoloadLanguage = true;

    /** @var \CivicrmBridge_Bridge|null one per request: it remembers before-event data */
    private $bridge = null;

    /** The old user before a save: the core remembers the old email. Never touches the network. */
    public function onUserBeforeSave($oldUser, $isNew = false, $newUser = [])
    {
        try {
            if (!$isNew && \is_array($oldUser) && ($bridge = $this->bridge()) !== null) {
                $bridge->beforeSave($oldUser);
            }
        } catch (\Throwable $e) {
            $this->logThrown($e);
        }

        return true;
    }

    public function onUserAfterSave($user, $isNew = false, $success = true, $msg = null)
    {
        $this->forward('onUserAfterSave', $user, (bool) $isNew, (bool) $success);

        return true;
    }

    /** The user about to be deleted: the after-delete event then carries id, username and email. */
    public function onUserBeforeDelete($user)
    {
        try {
            if (\is_array($user) && ($bridge = $this->bridge()) !== null) {
                $bridge->beforeDelete($user);
            }
        } catch (\Throwable $e) {
            $this->logThrown($e);
        }

        return true;
    }

    public function onUserAfterDelete($user, $success = true, $msg = null)
    {
        $this->forward('onUserAfterDelete', \is_array($user) ? $user : [], null, (bool) $success);

        return true;
    }

    /** $options['user'] is the logged-in User (with its id): sent as the protocol's onUserLogin. */
    public function onUserAfterLogin($options = [])
    {
        try {
            if (\is_array($options) && isset($options['user']) && \is_object($options['user'])) {
                $this->forward('onUserLogin', $options['user'], null, true);
            }
        } catch (\Throwable $e) {
            $this->logThrown($e);
        }

        return true;
    }

    public function onUserLogout($user, $options = [])
    {
        $this->forward('onUserLogout', \is_array($user) ? $user : [], null, true);

        return true;
    }

    /**
     * "Edit my details": index.php?option=com_ajax&group=user&plugin=civicrmbridge&format=raw.
     * Logged in: redirect to the bridge's profile page with a signed assertion (60 s, single use).
     * Guest: redirect to the login form, which comes back here.
     */
    public function onAjaxCivicrmbridge()
    {
        $app    = Factory::getApplication();
        $bridge = $user = null;

        try {
            $bridge = $this->bridge();
            $user   = $app->getIdentity();
        } catch (\Throwable $e) {
            $this->logThrown($e);
        }

        \CivicrmBridge_Bridge::redirectToEditDetails($app, $bridge, $user, self::EDIT_DETAILS_URL,
            Text::_('PLG_USER_CIVICRMBRIDGE_UNAVAILABLE'));

        return '';
    }

    private function forward(string $eventName, $user, $isNew, $success): void
    {
        try {
            if (($bridge = $this->bridge()) !== null) {
                $bridge->handle($eventName, $user, $isNew, $success);
            }
        } catch (\Throwable $e) {
            $this->logThrown($e);
        }
    }

    /** The core facade, built once from the plugin parameters and the injected database. */
    private function bridge()
    {
        if ($this->bridge !== null) {
            return $this->bridge;
        }

        $this->bridge = new \CivicrmBridge_Bridge(
            \CivicrmBridge_Config::fromParams($this->params),
            new \CivicrmBridge_JoomlaDb($this->getDatabase()),
            new \CivicrmBridge_CurlTransport(),
            new \CivicrmBridge_ErrorLogLogger()
        );

        return $this->bridge;
    }

    private function logThrown(\Throwable $e): void
    {
        @error_log('[civicrmbridge] ' . \get_class($e) . ': ' . $e->getMessage());
    }
}
