<?php
/**
 * CiviCRM Bridge, user plugin for Joomla 1.5 (PHP 5.2 syntax).
 *
 * A thin adapter: it translates Joomla 1.5's user events into calls on the shared core
 * (civicrmbridge/core/, CivicrmBridge_Bridge), which makes every decision. Fail-open: every listener
 * catches everything and returns true, so the bridge can never fail or slow a login or a save
 * beyond the configured timeout.
 *
 * @license AGPL-3.0-or-later
 */
defined('_JEXEC') or die('Restricted access');

if (!class_exists('CivicrmBridge_Bridge', false)) {
    require_once dirname(__FILE__) . '/civicrmbridge/core/autoload.php';
}
if (!class_exists('CivicrmBridgeJ15_Db', false)) {
    require_once dirname(__FILE__) . '/civicrmbridge/CivicrmBridgeJ15_Db.php';
}

class plgUserCivicrmbridge extends JPlugin
{
    /** @var CivicrmBridge_Bridge|null one per request: it remembers before-save/before-delete data */
    var $_bridge = null;
    var $_config = null;
    /** @var array the header lines of the last redirect (kept for the tests: php-cli sends none) */
    var $_sentHeaders = array();

    function __construct(&$subject, $config = array())
    {
        parent::__construct($subject, $config);
    }

    /** Old user (array) before a save: the core remembers the old email. Never touches the network. */
    function onBeforeStoreUser($user = array(), $isnew = false)
    {
        try {
            if (!$isnew && is_array($user) && ($bridge = $this->_bridge()) !== null) {
                $bridge->beforeSave($user);
            }
        } catch (Exception $e) {
            $this->_log($e);
        } catch (Throwable $e) {
            $this->_log($e);
        }
        return true;
    }

    function onAfterStoreUser($user = array(), $isnew = false, $succes = true, $msg = '')
    {
        $this->_handle('onAfterStoreUser', $user, (bool) $isnew, (bool) $succes);
        return true;
    }

    /** The user about to be deleted: the core keeps it so the after-delete event carries id/username/email. */
    function onBeforeDeleteUser($user = array())
    {
        try {
            if (is_array($user) && ($bridge = $this->_bridge()) !== null) {
                $bridge->beforeDelete($user);
            }
        } catch (Exception $e) {
            $this->_log($e);
        } catch (Throwable $e) {
            $this->_log($e);
        }
        return true;
    }

    function onAfterDeleteUser($user = array(), $succes = true, $msg = '')
    {
        $this->_handle('onAfterDeleteUser', is_array($user) ? $user : array(), null, (bool) $succes);
        return true;
    }

    /**
     * $user is the authentication response (username, email, fullname, PLAINTEXT password): no id
     * and no block flag. 1.5's dispatcher calls every user plugin's onLoginUser even when another
     * refuses the login, so the user is read from #__users: its id and its real block flag (a
     * blocked user is then not linked by the bridge). Returning false here would fail the login:
     * this method always returns true.
     */
    function onLoginUser($user = array(), $options = array())
    {
        try {
            if (!is_array($user) || !isset($user['username']) || ($bridge = $this->_bridge()) === null) {
                return true;
            }
            if (!$this->_config->forwards('login')) {
                return true;
            }
            $db =& JFactory::getDBO();
            $login = CivicrmBridge_Bridge::loadUser(new CivicrmBridgeJ15_Db($db), $user['username']);
            if ($login !== null) {
                $bridge->handle('onLoginUser', $login, null, true);
            }
        } catch (Exception $e) {
            $this->_log($e);
        } catch (Throwable $e) {
            $this->_log($e);
        }
        return true;
    }

    function onLogoutUser($user = array(), $options = array())
    {
        $this->_handle('onLogoutUser', is_array($user) ? $user : array(), null, true);
        return true;
    }

    /**
     * "Edit my details". A 1.5 user plugin cannot route a URL, so the plugin ships a tiny entry script,
     * plugins/user/civicrmbridge/editdetails.php (the menu link, an External Link), which boots the site
     * application and triggers this custom event on the user plugin group. A logged-in user is sent
     * to the bridge's profile page with a short-lived signed assertion; a guest to the login form.
     *
     * @param string $base the site's root path (e.g. '/' or '/joomla/'): the script runs from
     *                     plugins/user/civicrmbridge/, where a relative 'index.php' would be wrong
     */
    function onCivicrmbridgeEditDetails($base = '')
    {
        $app =& JFactory::getApplication();
        $base = is_string($base) ? $base : '';
        $to = array('url' => $base . 'index.php', 'error' => true);
        try {
            if (($bridge = $this->_bridge()) !== null) {
                $to = $bridge->editDetailsRedirect(JFactory::getUser(),
                    $base . 'index.php?option=com_user&view=login&return=' . base64_encode('plugins/user/civicrmbridge/editdetails.php'),
                    $base . 'index.php');
            }
        } catch (Exception $e) {
            $this->_log($e);
        }
        if ($to['error']) {
            $app->enqueueMessage($this->_unavailableText(), 'error');
        }
        $this->_redirect303($to['url']);
        return true;
    }

    /**
     * 1.5's JApplication::redirect() answers 301 Moved Permanently: a browser caches it, and the
     * next "Edit my details" click would go straight to the spent assertion. A 303 that is never
     * stored instead (the queued message is kept in the session as redirect() does).
     */
    function _redirect303($url)
    {
        $app =& JFactory::getApplication();
        if (isset($app->_messageQueue) && count($app->_messageQueue)) {
            $session =& JFactory::getSession();
            $session->set('application.queue', $app->_messageQueue);
        }
        $this->_sentHeaders = array(
            'HTTP/1.1 303 See Other',
            'Location: ' . str_replace(array("\r", "\n"), '', $url),
            'Cache-Control: no-store, no-cache, must-revalidate, max-age=0',
            'Pragma: no-cache',
            'Expires: Mon, 01 Jan 2001 00:00:00 GMT',
        );
        if (!headers_sent()) {
            foreach ($this->_sentHeaders as $line) {
                header($line, true);
            }
        }
        $app->close();
    }

    /** The "not available" message, from the language file when it is loaded, else in English. */
    function _unavailableText()
    {
        $this->loadLanguage('plg_user_civicrmbridge', JPATH_ADMINISTRATOR);
        $text = JText::_('PLG_USER_CIVICRMBRIDGE_UNAVAILABLE');
        return $text === 'PLG_USER_CIVICRMBRIDGE_UNAVAILABLE' ? 'Editing your details is not available right now.' : $text;
    }

    /** Forwards one event through the core; catches everything. */
    function _handle($eventName, $user, $isNew, $success)
    {
        try {
            if (($bridge = $this->_bridge()) !== null) {
                $bridge->handle($eventName, $user, $isNew, $success);
            }
        } catch (Exception $e) {
            $this->_log($e);
        } catch (Throwable $e) {
            $this->_log($e);
        }
    }

    /** The core facade for this request, built from the plugin parameters (null when it cannot be built). */
    function _bridge()
    {
        if ($this->_bridge !== null) {
            return $this->_bridge;
        }
        $this->_config = CivicrmBridge_Config::fromParams($this->params);
        $db =& JFactory::getDBO();
        $this->_bridge = new CivicrmBridge_Bridge(
            $this->_config,
            new CivicrmBridgeJ15_Db($db),
            new CivicrmBridge_CurlTransport(),
            new CivicrmBridge_ErrorLogLogger()
        );
        return $this->_bridge;
    }

    function _log($e)
    {
        @error_log('[civicrmbridge] ' . get_class($e) . ': ' . $e->getMessage());
    }
}
