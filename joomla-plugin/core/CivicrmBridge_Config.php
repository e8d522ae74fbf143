<?php
/**
 * The plugin's parameters, normalised once so every other class can trust them.
 * PHP 5.2 syntax on purpose: the same file runs inside Joomla 1.5 sites.
 */
class CivicrmBridge_Config
{
    /** @var array normalised values, every known key present */
    private $values;

    /** Keys whose value is a forwarding switch, by event kind. */
    private static $switches = array(
        'save' => 'forward_save',
        'login' => 'forward_login',
        'delete' => 'forward_delete',
        'logout' => 'forward_logout',
    );

    /** Every parameter of the plugin (the manifests' <config> fields). */
    private static $keys = array('bridge_url', 'secret', 'site_id', 'timeout', 'forward_save', 'forward_login',
        'forward_delete', 'forward_logout', 'outbox_max_attempts', 'outbox_batch', 'menu_gid');

    /**
     * The configuration of a plugin's parameters as every Joomla generation hands them over: an
     * object with get($key, $default) (1.5 JParameter, 1.6-3.x JRegistry, 4.x+ Registry) is read
     * key by key, an array (the decoded params JSON of #__extensions) as it is. Empty values mean
     * the default; anything else gives the defaults (an unconfigured plugin).
     *
     * @return CivicrmBridge_Config
     */
    public static function fromParams($params)
    {
        $values = is_array($params) ? $params : array();
        if (is_object($params) && method_exists($params, 'get')) {
            foreach (self::$keys as $key) {
                $value = $params->get($key, null);
                if ($value !== null && $value !== '') {
                    $values[$key] = $value;
                }
            }
        }
        return new CivicrmBridge_Config($values);
    }

    /**
     * @param array $params plugin parameters (an object with toArray() or public
     *                      properties is accepted too, so a JRegistry slip never fatals)
     */
    public function __construct($params)
    {
        if (is_object($params)) {
            $params = method_exists($params, 'toArray') ? $params->toArray() : get_object_vars($params);
        }
        if (!is_array($params)) {
            $params = array();
        }
        $url = self::str($params, 'bridge_url');
        $this->values = array(
            // The bridge's routes are appended with a leading slash.
            'bridge_url' => rtrim($url, '/'),
            // Pasted secrets often carry a trailing newline or space.
            'secret' => self::str($params, 'secret'),
            'site_id' => self::str($params, 'site_id'),
            'timeout' => self::floatIn($params, 'timeout', 2.0, 0.2, 10.0),
            'forward_save' => self::flag($params, 'forward_save'),
            'forward_login' => self::flag($params, 'forward_login'),
            'forward_delete' => self::flag($params, 'forward_delete'),
            'forward_logout' => self::flag($params, 'forward_logout'),
            'outbox_max_attempts' => self::intMin($params, 'outbox_max_attempts', 20, 1),
            'outbox_batch' => self::intMin($params, 'outbox_batch', 10, 1),
            'menu_gid' => self::intMin($params, 'menu_gid', 1, 1),
        );
    }

    /** The normalised value of a key, or null for an unknown key. */
    public function get($key)
    {
        return array_key_exists($key, $this->values) ? $this->values[$key] : null;
    }

    /** True when the plugin can sign and send: URL, a secret of >= 32 bytes, a site id. */
    public function isConfigured()
    {
        $url = $this->values['bridge_url'];
        $site = $this->values['site_id'];
        return preg_match('#^https?://[^/\s]+#i', $url) === 1
            && strlen($this->values['secret']) >= 32
            && $site !== '' && strlen($site) <= 64;
    }

    /**
     * Whether events of this kind ('save', 'login', 'delete', 'logout', 'page') are sent. CiviCRM
     * page events have no switch here: enabling the system plugin "System - CiviCRM Bridge" is it.
     */
    public function forwards($kind)
    {
        if ($kind === 'page') {
            return true;
        }
        if (!is_string($kind) || !isset(self::$switches[$kind])) {
            return false;
        }
        return $this->values[self::$switches[$kind]];
    }

    private static function str($params, $key)
    {
        if (!isset($params[$key]) || !is_scalar($params[$key])) {
            return '';
        }
        return trim((string) $params[$key]);
    }

    /** Bool-ish: '0'/'1'/0/1/true/false/'yes'/'no'/'on'/'off'; missing or empty means true (the default). */
    private static function flag($params, $key)
    {
        if (!isset($params[$key])) {
            return true;
        }
        $v = $params[$key];
        if (is_bool($v)) {
            return $v;
        }
        if (!is_scalar($v)) {
            return true;
        }
        $v = strtolower(trim((string) $v));
        if ($v === '') {
            return true;
        }
        return !in_array($v, array('0', 'false', 'no', 'off'), true);
    }

    private static function floatIn($params, $key, $default, $min, $max)
    {
        if (!isset($params[$key]) || !is_numeric($params[$key])) {
            return $default;
        }
        $v = (float) $params[$key];
        if ($v < $min) {
            return $min;
        }
        return $v > $max ? $max : $v;
    }

    private static function intMin($params, $key, $default, $min)
    {
        if (!isset($params[$key]) || !is_numeric($params[$key])) {
            return $default;
        }
        $v = (int) $params[$key];
        return $v < $min ? $min : $v;
    }
}
