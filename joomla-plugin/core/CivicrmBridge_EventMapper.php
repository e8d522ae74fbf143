<?php
/**
 * Joomla's user events, all generations, to the bridge's body (docs/protocol.md).
 * Only five user fields ever leave the plugin: the login event's array carries the
 * PLAINTEXT password, and the bridge refuses unknown properties anyway.
 */
class CivicrmBridge_EventMapper
{
    /** lower-case event name => array(native spelling, kind). Joomla matches names case-insensitively. */
    private static $events = array(
        'onuseraftersave' => array('onUserAfterSave', 'save'),
        'onafterstoreuser' => array('onAfterStoreUser', 'save'),
        'onuserlogin' => array('onUserLogin', 'login'),
        'onloginuser' => array('onLoginUser', 'login'),
        'onuserafterdelete' => array('onUserAfterDelete', 'delete'),
        'onafterdeleteuser' => array('onAfterDeleteUser', 'delete'),
        'onuserlogout' => array('onUserLogout', 'logout'),
        'onlogoutuser' => array('onLogoutUser', 'logout'),
        'onuserbeforesave' => array('onUserBeforeSave', 'before-save'),
        'onbeforestoreuser' => array('onBeforeStoreUser', 'before-save'),
        'onuserbeforedelete' => array('onUserBeforeDelete', 'before-delete'),
        'onbeforedeleteuser' => array('onBeforeDeleteUser', 'before-delete'),
        // Not Joomla's: a logged-in user opening one of CiviCRM's pages (CivicrmBridge_LazyLink).
        'oncivicrmprofile' => array('onCivicrmProfile', 'page'),
        'oncivicrmcontribution' => array('onCivicrmContribution', 'page'),
        'oncivicrmmembership' => array('onCivicrmMembership', 'page'),
    );

    /**
     * @param array|object $user a listener's user array, or a JUser/User object
     * @return array id, username, email, name, block and nothing else
     */
    public static function whitelistUser($user)
    {
        if (is_object($user)) {
            $user = get_object_vars($user);
        }
        if (!is_array($user)) {
            $user = array();
        }
        $id = isset($user['id']) && is_numeric($user['id']) ? (int) $user['id'] : 0;
        $name = self::str($user, 'name');
        if ($name === '') {
            // The login array calls it fullname.
            $name = self::str($user, 'fullname');
        }
        $block = isset($user['block']) ? $user['block'] : 0;
        if (is_string($block)) {
            $block = trim($block);
            $block = ($block !== '' && $block !== '0' && strtolower($block) !== 'false');
        }
        return array(
            'id' => $id > 0 ? $id : 0,
            'username' => self::str($user, 'username'),
            'email' => self::str($user, 'email'),
            'name' => $name,
            'block' => $block ? 1 : 0,
        );
    }

    /** @return string|null 'save', 'login', 'delete', 'logout', 'page', 'before-save', 'before-delete' or null */
    public static function kindOf($eventName)
    {
        $key = is_string($eventName) ? strtolower($eventName) : '';
        return isset(self::$events[$key]) ? self::$events[$key][1] : null;
    }

    /** The native spelling of a known event name, or null. */
    public static function nativeName($eventName)
    {
        $key = is_string($eventName) ? strtolower($eventName) : '';
        return isset(self::$events[$key]) ? self::$events[$key][0] : null;
    }

    /**
     * The exact body of POST /v1/joomla/events. isNew and success are left out when null
     * (the bridge's schema has them optional booleans; success defaults to true there).
     * The JSON is pure ASCII (non-ASCII as \uXXXX escapes, see CivicrmBridge_Json), so the
     * outbox keeps its exact bytes whatever the table's charset.
     *
     * @return string|false JSON, false only for an unknown event name
     */
    public static function body($eventName, array $user, $isNew, $success, $occurredAt)
    {
        $event = self::nativeName($eventName);
        if ($event === null) {
            return false;
        }
        $body = array('event' => $event, 'user' => self::whitelistUser($user));
        if ($isNew !== null) {
            $body['isNew'] = (bool) $isNew;
        }
        if ($success !== null) {
            $body['success'] = (bool) $success;
        }
        $body['occurredAt'] = (string) $occurredAt;
        return CivicrmBridge_Json::encode($body);
    }

    /** ISO-8601 UTC with milliseconds for a unix time (date('v') is PHP 7+ only). */
    public static function isoTime($unixTime)
    {
        $seconds = (int) floor($unixTime);
        $ms = (int) floor(($unixTime - $seconds) * 1000);
        if ($ms > 999) {
            $ms = 999;
        }
        return gmdate('Y-m-d\TH:i:s', $seconds) . sprintf('.%03dZ', $ms);
    }

    private static function str($user, $key)
    {
        if (!isset($user[$key]) || !is_scalar($user[$key]) || is_bool($user[$key])) {
            return '';
        }
        return (string) $user[$key];
    }
}
