<?php

/**
 * CiviCRM Bridge, user plugin for Joomla 5.x / 6.x (PHP 8.1+).
 *
 * A thin adapter: a SubscriberInterface plugin whose listeners take Joomla 5's typed user events
 * (AfterSaveEvent::getUser()/getIsNew()/getSavingResult(), BeforeSaveEvent::getUser() (the old
 * user), BeforeDeleteEvent/AfterDeleteEvent::getUser()/getDeletingResult(), AfterLoginEvent::
 * getOptions()['user'], LogoutEvent::getParameters()) and hand them to the shared core
 * (CivicrmBridge_Bridge), which makes every decision.
 *
 * Fail-open: each listener accepts any EventInterface (a third-party extension dispatching a plain
 * Event must not get a TypeError in the middle of a save), reads the typed getters when the event
 * is the typed class and the positional arguments otherwise, catches \Throwable and returns nothing.
 * The login is sent from onUserAfterLogin only: it fires once every user plugin has accepted the
 * login and carries the User with its id (onUserLogin has no id and is not subscribed).
 *
 * @license AGPL-3.0-or-later
 */

namespace Civicrm\Plugin\User\Civicrmbridge\Extension;

use Joomla\CMS\Event\User\AfterDeleteEvent;
use Joomla\CMS\Event\User\AfterLoginEvent;
use Joomla\CMS\Event\User\AfterSaveEvent;
use Joomla\CMS\Event\User\BeforeDeleteEvent;
use Joomla\CMS\Event\User\BeforeSaveEvent;
use Joomla\CMS\Event\User\LogoutEvent;
use Joomla\CMS\Factory;
use Joomla\CMS\Language\Text;
use Joomla\CMS\Plugin\CMSPlugin;
use Joomla\Database\DatabaseAwareInterface;
use Joomla\Database\DatabaseAwareTrait;
use Joomla\Event\DispatcherInterface;
use Joomla\Event\EventInterface;
use Joomla\Event\SubscriberInterface;

\defined('_JEXEC') or die;

final class Civicrmbridge extends CMSPlugin implements SubscriberInterface, DatabaseAwareInterface
{
    use DatabaseAwareTrait;

    /** "Edit my details": a menu item of type URL pointing here (com_ajax dispatches onAjaxCivicrmbridge). */
    public const EDIT_DETAILS_URL = 'index.php?option=com_ajax&group=user&plugin=civicrmbridge&format=raw';

    protected $autoloadLanguage = true;

    private ?\CivicrmBridge_Bridge $bridge = null;

    /**
     * Whether CMSPlugin's constructor still takes the dispatcher first (5.0 - 5.3:
     * `__construct(DispatcherInterface $dispatcher, array $config = [])`) or only the plugin's row
     * (5.4+: `__construct($config = [])`, where passing the dispatcher is deprecated).
     */
    public static function constructorWantsDispatcher(\ReflectionMethod $constructor): bool
    {
        $first = $constructor->getParameters()[0] ?? null;

        return $first !== null && $first->getName() !== 'config';
    }

    public static function getSubscribedEvents(): array
    {
        return [
            'onUserBeforeSave'    => 'onUserBeforeSave',
            'onUserAfterSave'     => 'onUserAfterSave',
            'onUserBeforeDelete'  => 'onUserBeforeDelete',
            'onUserAfterDelete'   => 'onUserAfterDelete',
            'onUserAfterLogin'    => 'onUserAfterLogin',
            'onUserLogout'        => 'onUserLogout',
            'onAjaxCivicrmbridge' => 'onAjaxCivicrmbridge',
        ];
    }

    /** BeforeSaveEvent: getUser() is the user as stored before the save (old email). No network. */
    public function onUserBeforeSave(EventInterface $event): void
    {
        try {
            [$oldUser, $isNew] = $event instanceof BeforeSaveEvent
                ? [$event->getUser(), $event->getIsNew()]
                : $this->positional($event, [[], false]);

            if (!$isNew && \is_array($oldUser)) {
                $this->bridge()->beforeSave($oldUser);
            }
        } catch (\Throwable $e) {
            $this->logThrown($e);
        }
    }

    public function onUserAfterSave(EventInterface $event): void
    {
        try {
            [$user, $isNew, $success] = $event instanceof AfterSaveEvent
                ? [$event->getUser(), $event->getIsNew(), $event->getSavingResult()]
                : $this->positional($event, [[], false, true]);

            $this->bridge()->handle('onUserAfterSave', $user, (bool) $isNew, (bool) $success);
        } catch (\Throwable $e) {
            $this->logThrown($e);
        }
    }

    /** The user about to be deleted: the after-delete event then carries id, username and email. */
    public function onUserBeforeDelete(EventInterface $event): void
    {
        try {
            [$user] = $event instanceof BeforeDeleteEvent ? [$event->getUser()] : $this->positional($event, [[]]);

            if (\is_array($user)) {
                $this->bridge()->beforeDelete($user);
            }
        } catch (\Throwable $e) {
            $this->logThrown($e);
        }
    }

    public function onUserAfterDelete(EventInterface $event): void
    {
        try {
            [$user, $success] = $event instanceof AfterDeleteEvent
                ? [$event->getUser(), $event->getDeletingResult()]
                : $this->positional($event, [[], true]);

            $this->bridge()->handle('onUserAfterDelete', \is_array($user) ? $user : [], null, (bool) $success);
        } catch (\Throwable $e) {
            $this->logThrown($e);
        }
    }

    /** AfterLoginEvent::getOptions()['user'] is the logged-in User: sent as the protocol's onUserLogin. */
    public function onUserAfterLogin(EventInterface $event): void
    {
        try {
            [$options] = $event instanceof AfterLoginEvent ? [$event->getOptions()] : $this->positional($event, [[]]);

            if (\is_array($options) && isset($options['user']) && \is_object($options['user'])) {
                $this->bridge()->handle('onUserLogin', $options['user'], null, true);
            }
        } catch (\Throwable $e) {
            $this->logThrown($e);
        }
    }

    /** LogoutEvent::getParameters(): the user's id and username. */
    public function onUserLogout(EventInterface $event): void
    {
        try {
            [$user] = $event instanceof LogoutEvent ? [$event->getParameters()] : $this->positional($event, [[]]);

            $this->bridge()->handle('onUserLogout', \is_array($user) ? $user : [], null, true);
        } catch (\Throwable $e) {
            $this->logThrown($e);
        }
    }

    /**
     * "Edit my details": index.php?option=com_ajax&group=user&plugin=civicrmbridge&format=raw.
     * Logged in: redirect to the bridge's profile page with a signed assertion (60 s, single use).
     * Guest: redirect to the login form, which comes back here.
     */
    public function onAjaxCivicrmbridge(EventInterface $event): void
    {
        $app    = $this->getApplication() ?? Factory::getApplication();
        $bridge = $user = null;

        try {
            $bridge = $this->bridge();
            $user   = $app->getIdentity();
        } catch (\Throwable $e) {
            $this->logThrown($e);
        }

        \CivicrmBridge_Bridge::redirectToEditDetails($app, $bridge, $user, self::EDIT_DETAILS_URL,
            Text::_('PLG_USER_CIVICRMBRIDGE_UNAVAILABLE'));
    }

    /** The arguments of a plain (untyped) event, positionally, padded with the defaults. */
    private function positional(EventInterface $event, array $defaults): array
    {
        $args = method_exists($event, 'getArguments') ? array_values($event->getArguments()) : [];

        return array_slice($args + $defaults, 0, \count($defaults));
    }

    /**
     * The core facade, built once from the plugin parameters and the injected database. (This
     * repeats the 4.x plugin's few lines of glue: the two ship in separate zips, and the shared
     * core, PHP 5.2 syntax, cannot hold a trait; the decisions are the core's.)
     */
    private function bridge(): \CivicrmBridge_Bridge
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
        @error_log('[civicrmbridge] ' . $e::class . ': ' . $e->getMessage());
    }
}
