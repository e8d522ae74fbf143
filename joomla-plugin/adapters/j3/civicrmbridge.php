<?php
/**
 * CiviCRM Bridge, user plugin for Joomla 1.6 - 3.x (PHP 5.3 syntax: 3.x runs on PHP 5.3.10+).
 *
 * A thin adapter: it translates the 1.6+ user events (legacy listener methods, positional
 * arguments) into calls on the shared core (core/, CivicrmBridge_Bridge), which makes every
 * decision. Fail-open: every listener catches Exception and Throwable and returns true. Every
 * listener parameter has a default: a third-party trigger with fewer arguments must not raise
 * ArgumentCountError before the try (Joomla 4's adapter does the same).
 *
 * The login is sent from ONE place per Joomla version, never twice:
 *  - 3.2+: onUserAfterLogin. It fires only once every user plugin has accepted the login (a
 *    refused login, e.g. a blocked account, is not reported as a login) and its $options['user']
 *    carries the real id, so no lookup is needed.
 *  - 1.6 - 3.1 (no onUserAfterLogin): onUserLogin, with the id looked up by username.
 *
 * @license AGPL-3.0-or-later
 */
defined('_JEXEC') or die;

if (!class_exists('CivicrmBridge_Bridge', false)) {
    require_once dirname(__FILE__) . '/core/autoload.php';
}

class PlgUserCivicrmbridge extends JPlugin
{
    /** The com_ajax URL of "Edit my details" (a menu item of type URL points here). */
    const EDIT_DETAILS_URL = 'index.php?option=com_ajax&group=user&plugin=civicrmbridge&format=raw';

    protected $autoloadLanguage = true;

    /** @var CivicrmBridge_Bridge|null */
    private $bridge = null;
    /** @var CivicrmBridge_Config|null */
    private $config = null;

    /** The old user before a save: the core remembers the old email. No network here. */
    public function onUserBeforeSave($oldUser = array(), $isNew = false, $newUser = array())
    {
        try {
            if (!$isNew && is_array($oldUser) && ($bridge = $this->bridge()) !== null) {
                $bridge->beforeSave($oldUser);
            }
        } catch (Exception $e) {
            $this->logThrown($e);
        } catch (Throwable $e) {
            $this->logThrown($e);
        }
        return true;
    }

    public function onUserAfterSave($user = array(), $isNew = false, $success = true, $msg = null)
    {
        $this->forward('onUserAfterSave', $user, (bool) $isNew, (bool) $success);
        return true;
    }

    /** The user about to be deleted: the after-delete event then carries id, username and email. */
    public function onUserBeforeDelete($user = array())
    {
        try {
            if (is_array($user) && ($bridge = $this->bridge()) !== null) {
                $bridge->beforeDelete($user);
            }
        } catch (Exception $e) {
            $this->logThrown($e);
        } catch (Throwable $e) {
            $this->logThrown($e);
        }
        return true;
    }

    public function onUserAfterDelete($user = array(), $success = true, $msg = null)
    {
        $this->forward('onUserAfterDelete', is_array($user) ? $user : array(), null, (bool) $success);
        return true;
    }

    /**
     * $user is the authentication response (username, email, fullname, PLAINTEXT password), no id.
     * Sent from here only where onUserAfterLogin does not exist (1.6 - 3.1). Never returns false:
     * that would fail the login.
     */
    public function onUserLogin($user = array(), $options = array())
    {
        try {
            if ($this->afterLoginAvailable() || !is_array($user) || !isset($user['username'])) {
                return true;
            }
            if (($bridge = $this->bridge()) === null || !$this->config->forwards('login')) {
                return true;
            }
            // The id and the real block flag from #__users (the response has neither).
            $login = CivicrmBridge_Bridge::loadUser(new CivicrmBridge_JoomlaDb(JFactory::getDbo()), $user['username']);
            if ($login !== null) {
                $bridge->handle('onUserLogin', $login, null, true);
            }
        } catch (Exception $e) {
            $this->logThrown($e);
        } catch (Throwable $e) {
            $this->logThrown($e);
        }
        return true;
    }

    /** 3.2+: $options['user'] is the logged-in JUser (with its id). Sent as the protocol's onUserLogin. */
    public function onUserAfterLogin($options = array())
    {
        try {
            if ($this->afterLoginAvailable() && is_array($options) && isset($options['user']) && is_object($options['user'])) {
                $this->forward('onUserLogin', $options['user'], null, true);
            }
        } catch (Exception $e) {
            $this->logThrown($e);
        } catch (Throwable $e) {
            $this->logThrown($e);
        }
        return true;
    }

    public function onUserLogout($user = array(), $options = array())
    {
        $this->forward('onUserLogout', is_array($user) ? $user : array(), null, true);
        return true;
    }

    /**
     * "Edit my details" (com_ajax, 3.2+): index.php?option=com_ajax&group=user&plugin=civicrmbridge&format=raw.
     * A logged-in user is redirected to the bridge's profile page with a signed assertion (60 s,
     * single use); a guest to the login form, coming back here afterwards.
     */
    public function onAjaxCivicrmbridge()
    {
        $app = JFactory::getApplication();
        $to = array('url' => 'index.php', 'error' => true);
        try {
            if (($bridge = $this->bridge()) !== null) {
                $to = $bridge->editDetailsRedirect(JFactory::getUser(),
                    'index.php?option=com_users&view=login&return=' . base64_encode(self::EDIT_DETAILS_URL), 'index.php');
            }
        } catch (Exception $e) {
            $this->logThrown($e);
        } catch (Throwable $e) {
            $this->logThrown($e);
        }
        if ($to['error']) {
            $app->redirect($to['url'], JText::_('PLG_USER_CIVICRMBRIDGE_UNAVAILABLE'), 'error');
        } else {
            $app->redirect($to['url']);
        }
        return '';
    }

    /** onUserAfterLogin exists from 3.2 on. */
    protected function afterLoginAvailable()
    {
        return defined('JVERSION') && version_compare(JVERSION, '3.2', '>=');
    }

    private function forward($eventName, $user, $isNew, $success)
    {
        try {
            if (($bridge = $this->bridge()) !== null) {
                $bridge->handle($eventName, $user, $isNew, $success);
            }
        } catch (Exception $e) {
            $this->logThrown($e);
        } catch (Throwable $e) {
            $this->logThrown($e);
        }
    }

    /** One core facade per request (it remembers before-event data), from the plugin parameters. */
    private function bridge()
    {
        if ($this->bridge !== null) {
            return $this->bridge;
        }
        $this->config = CivicrmBridge_Config::fromParams($this->params);
        $this->bridge = new CivicrmBridge_Bridge(
            $this->config,
            new CivicrmBridge_JoomlaDb(JFactory::getDbo()),
            new CivicrmBridge_CurlTransport(),
            new CivicrmBridge_ErrorLogLogger()
        );
        return $this->bridge;
    }

    private function logThrown($e)
    {
        @error_log('[civicrmbridge] ' . get_class($e) . ': ' . $e->getMessage());
    }
}
