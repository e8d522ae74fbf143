<?php
/**
 * Lazy linking on CiviCRM's own pages in Joomla (docs/protocol.md "Page events").
 *
 * CiviCRM's front end (components/com_civicrm/civicrm.php) links the logged-in Joomla user to a
 * contact itself (CRM_Core_BAO_UFMatch::synchronize) before it runs the page named by the `task`
 * query variable (or, for a com_civicrm menu item with a `view`, by the menu item's `task`
 * parameter). The system plugin of each generation calls onPage() from onAfterRoute, i.e. before
 * the component runs: for a profile, contribution or membership page the bridge links the user
 * first, with the bridge's rules (no duplicate contact, trashed contacts passed over, audited),
 * so CiviCRM finds the link and puts the transaction on the right contact.
 *
 * Cost: a user already seen linked in this session costs nothing (the user's Joomla session
 * remembers the user id and email it was linked with). Otherwise one signed event, within the
 * plugin's timeout; a bridge that is down only queues the event in the outbox (fail-open, the
 * page always opens). PHP 5.2 syntax: the same file runs inside Joomla 1.5 sites.
 */
class CivicrmBridge_LazyLink
{
    /** The session key of the remembered link ("<user id>:<md5 of the lowercased email>"). */
    const SESSION_KEY = 'civicrmbridge.linked';

    /** CiviCRM paths (task) of the pages a logged-in user transacts on, by kind. */
    private static $tasks = array(
        'civicrm/profile' => 'profile',
        'civicrm/profile/edit' => 'profile',
        'civicrm/profile/create' => 'profile',
        'civicrm/profile/view' => 'profile',
        'civicrm/user' => 'profile',
        'civicrm/contribute/transact' => 'contribution',
        'civicrm/contribute/campaign' => 'contribution',
        'civicrm/pcp/support' => 'contribution',
    );

    /** Event name sent to the bridge, by kind. */
    private static $events = array(
        'profile' => 'onCivicrmProfile',
        'contribution' => 'onCivicrmContribution',
        'membership' => 'onCivicrmMembership',
    );

    /**
     * The kind of CiviCRM page a routed request opens: 'profile', 'contribution' or null (not a
     * transaction page). A membership signup is a contribution page; see kindOfPage().
     *
     * @param array $request 'option', 'task', 'view', and 'menuTask' (the com_civicrm menu item's task parameter)
     */
    public static function classify($request)
    {
        if (!is_array($request) || !isset($request['option']) || strtolower((string) $request['option']) !== 'com_civicrm') {
            return null;
        }
        $task = isset($request['task']) && is_scalar($request['task']) ? (string) $request['task'] : '';
        // civicrm.php: a menu item's parameters override the URL's when the request has a view.
        if (!empty($request['view']) && isset($request['menuTask']) && is_scalar($request['menuTask']) && $request['menuTask'] !== '') {
            $task = (string) $request['menuTask'];
        }
        $task = strtolower(trim($task, " \t/"));
        return isset(self::$tasks[$task]) ? self::$tasks[$task] : null;
    }

    /**
     * 'membership' for a contribution page with an active membership block (CiviCRM's
     * civicrm_membership_block, read from the site's database where CiviCRM usually lives),
     * else $kind. A failed read (CiviCRM in another database) keeps 'contribution'.
     */
    public static function kindOfPage($kind, $request, $db)
    {
        if ($kind !== 'contribution' || !($db instanceof CivicrmBridge_Db)) {
            return $kind;
        }
        $id = isset($request['id']) && is_numeric($request['id']) ? (int) $request['id'] : 0;
        if ($id <= 0) {
            return $kind;
        }
        try {
            $rows = $db->fetchAll("SELECT id FROM civicrm_membership_block WHERE entity_table = 'civicrm_contribution_page'"
                . ' AND entity_id = ' . $id . ' AND is_active = 1 LIMIT 1');
            return count($rows) > 0 ? 'membership' : $kind;
        } catch (Exception $e) {
            return $kind;
        } catch (Throwable $e) {
            return $kind;
        }
    }

    /**
     * The plugin parameters as each generation stores them: JSON (1.6+), INI lines (1.5), an
     * array, or an object with get() (JParameter/JRegistry/Registry).
     */
    public static function config($params)
    {
        if (is_string($params)) {
            $text = trim($params);
            if ($text !== '' && $text[0] === '{') {
                $decoded = CivicrmBridge_Json::decode($text);
                $params = is_array($decoded) ? $decoded : array();
            } else {
                $params = self::iniLines($text);
            }
        } elseif (is_object($params) && !method_exists($params, 'get')) {
            $params = get_object_vars($params);
        }
        return CivicrmBridge_Config::fromParams($params);
    }

    /**
     * Links the current user before a CiviCRM page runs; never throws, never blocks the page
     * longer than the plugin's timeout.
     *
     * @param CivicrmBridge_Bridge $bridge
     * @param object|null $session the Joomla session (get($key, $default), set($key, $value))
     * @param array|object $user the current user (JUser/User); a guest is ignored
     * @param array $request see classify(); 'id' for a contribution page
     * @param CivicrmBridge_Db|null $db the site's database, to tell a membership signup apart
     * @return array|null null when not a transaction page or a guest; else 'kind', 'sent'
     *         (false: remembered, no call), 'delivered', 'queued'
     */
    public static function onPage($bridge, $session, $user, $request, $db = null)
    {
        try {
            $kind = self::classify($request);
            if ($kind === null) {
                return null;
            }
            $vars = is_object($user) ? get_object_vars($user) : (is_array($user) ? $user : array());
            $who = CivicrmBridge_EventMapper::whitelistUser($vars);
            if ($who['id'] <= 0 || !empty($vars['guest']) || !($bridge instanceof CivicrmBridge_Bridge)) {
                return null;
            }
            $memo = $who['id'] . ':' . md5(strtolower(trim($who['email'])));
            if (self::remembered($session) === $memo) {
                return array('kind' => $kind, 'sent' => false, 'delivered' => false, 'queued' => false);
            }
            $kind = self::kindOfPage($kind, $request, $db);
            $answer = $bridge->handle(self::$events[$kind], $who);
            $delivered = is_array($answer) && !empty($answer['delivered']);
            $queued = is_array($answer) && !empty($answer['queued']);
            // Delivered (the bridge decided) or queued (the outbox delivers it): either way
            // nothing more to send for this user and email in this session.
            if ($delivered || $queued) {
                self::remember($session, $memo);
            }
            return array('kind' => $kind, 'sent' => is_array($answer), 'delivered' => $delivered, 'queued' => $queued);
        } catch (Exception $e) {
            return null;
        } catch (Throwable $e) {
            return null;
        }
    }

    /** Everything a system plugin does on onAfterRoute, from the user plugin's stored parameters. */
    public static function run($params, $db, $session, $user, $request, $transport = null, $logger = null)
    {
        try {
            if (self::classify($request) === null) {
                return null;
            }
            $bridge = new CivicrmBridge_Bridge(self::config($params), $db,
                $transport !== null ? $transport : new CivicrmBridge_CurlTransport(),
                $logger !== null ? $logger : new CivicrmBridge_ErrorLogLogger());
            return self::onPage($bridge, $session, $user, $request, $db);
        } catch (Exception $e) {
            return null;
        } catch (Throwable $e) {
            return null;
        }
    }

    private static function remembered($session)
    {
        if (!is_object($session) || !method_exists($session, 'get')) {
            return null;
        }
        $value = $session->get(self::SESSION_KEY, null);
        return is_string($value) ? $value : null;
    }

    private static function remember($session, $memo)
    {
        if (is_object($session) && method_exists($session, 'set')) {
            $session->set(self::SESSION_KEY, $memo);
        }
    }

    /** Joomla 1.5's INI parameters: one key=value a line (parse_ini_string is PHP 5.3+). */
    private static function iniLines($text)
    {
        $values = array();
        foreach (preg_split('/\r\n|\r|\n/', $text) as $line) {
            $eq = strpos($line, '=');
            if ($eq === false || $eq === 0) {
                continue;
            }
            $values[trim(substr($line, 0, $eq))] = trim(trim(substr($line, $eq + 1)), '"');
        }
        return $values;
    }
}
