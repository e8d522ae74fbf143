<?php
/**
 * "Edit my details" entry for Joomla 1.5 (menu item: External Link to
 * plugins/user/civicrmbridge/editdetails.php, access Registered).
 *
 * A 1.5 user plugin cannot route a URL, and user plugins are not loaded on ordinary page views, so
 * this script boots the site application exactly as index.php does, loads the user plugin group
 * and triggers onCivicrmbridgeEditDetails: the plugin redirects a logged-in user to the bridge with a
 * signed assertion (60 s, single use), and a guest to the login form.
 */
define('_JEXEC', 1);
define('DS', DIRECTORY_SEPARATOR);
define('JPATH_BASE', dirname(dirname(dirname(dirname(__FILE__)))));

require_once JPATH_BASE . DS . 'includes' . DS . 'defines.php';
require_once JPATH_BASE . DS . 'includes' . DS . 'framework.php';

$mainframe =& JFactory::getApplication('site');
$mainframe->initialise();

// The site's root path (redirects relative to this folder would be wrong).
$base = str_replace('\\', '/', dirname($_SERVER['SCRIPT_NAME']));
$base = rtrim(preg_replace('#/plugins/user/civicrmbridge/?$#', '', $base), '/') . '/';

JPluginHelper::importPlugin('user', 'civicrmbridge');
$dispatcher =& JDispatcher::getInstance();
$dispatcher->trigger('onCivicrmbridgeEditDetails', array($base));

// Not enabled (nothing redirected): back to the home page.
$mainframe->redirect($base . 'index.php');
