<?php
/**
 * Cron job for sites without Scheduled Tasks (Joomla < 4.1): sends the outbox once.
 *
 *   php /path/to/joomla/plugins/user/civicrmbridge/core/cli/civicrmbridge-retry.php
 *       [--site=/path/to/joomla] [--limit=N] [--timeout=SECONDS] [--max-attempts=N]
 *
 * No secret on the command line (it would show in `ps` and in the crontab): the database comes
 * from the site's configuration.php (found from this script's place, or --site), the bridge
 * address, secret and site name from the user plugin's stored parameters. Without a readable
 * configuration.php, the environment gives them: CIVICRMBRIDGE_DSN, CIVICRMBRIDGE_DB_USER,
 * CIVICRMBRIDGE_DB_PASSWORD, CIVICRMBRIDGE_DB_PREFIX; CIVICRMBRIDGE_BRIDGE_URL,
 * CIVICRMBRIDGE_SECRET and CIVICRMBRIDGE_SITE_ID override the stored parameters.
 *
 * Prints "delivered N, failed N, pending N" (pending: every row still waiting afterwards, due
 * or not) and a second line with the failed rows kept and the last error. Exit 0; 1 when the
 * database is unreachable; 2 on a usage error (missing settings, a secret on the command line).
 */
if (PHP_SAPI !== 'cli') {
    exit(2);
}
require_once dirname(dirname(__FILE__)) . '/autoload.php';

/** --name=value options into an array; a bare --name means '1'. */
function civicrmbridge_retry_options($argv)
{
    $options = array();
    foreach (array_slice($argv, 1) as $arg) {
        if (preg_match('/^--([a-z][a-z-]*)(?:=(.*))?$/s', $arg, $m)) {
            $options[$m[1]] = isset($m[2]) ? $m[2] : '1';
        }
    }
    return $options;
}

function civicrmbridge_retry_env($name)
{
    $value = getenv($name);
    return $value === false || $value === '' ? null : (string) $value;
}

/**
 * The database settings of a Joomla site's configuration.php (class JConfig, 1.5 - 6.x).
 * @return array|null array('dsn', 'user', 'password', 'prefix'), null when there is no such file
 */
function civicrmbridge_retry_site_db($site)
{
    $file = rtrim((string) $site, '/\\') . '/configuration.php';
    if (!is_file($file) || !is_readable($file)) {
        return null;
    }
    if (!defined('_JEXEC')) {
        define('_JEXEC', 1);
    }
    if (!class_exists('JConfig', false)) {
        require_once $file;
    }
    if (!class_exists('JConfig', false)) {
        return null;
    }
    $c = new JConfig();
    $type = isset($c->dbtype) ? strtolower((string) $c->dbtype) : 'mysqli';
    $driver = in_array($type, array('pgsql', 'postgresql', 'pdopostgresql'), true) ? 'pgsql' : 'mysql';
    $host = isset($c->host) ? (string) $c->host : 'localhost';
    $where = 'host=' . $host;
    // "host:port" or "host:/path/to/socket" (Joomla's own notation).
    if (preg_match('/^(.*):(\d+)$/', $host, $m)) {
        $where = 'host=' . $m[1] . ';port=' . $m[2];
    } elseif (preg_match('/^(.*):(\/.+)$/', $host, $m)) {
        $where = $driver === 'mysql' ? 'unix_socket=' . $m[2] : 'host=' . $m[2];
    }
    return array(
        'dsn' => $driver . ':' . $where . ';dbname=' . (isset($c->db) ? $c->db : ''),
        'user' => isset($c->user) ? (string) $c->user : '',
        'password' => isset($c->password) ? (string) $c->password : '',
        'prefix' => isset($c->dbprefix) ? (string) $c->dbprefix : 'jos_',
    );
}

/**
 * utf8mb4 where the server has it; MySQL before 5.5.3 only knows utf8 (all the cron writes is
 * ASCII anyway). PostgreSQL talks UTF-8 by default.
 */
function civicrmbridge_retry_set_names($pdo)
{
    if ($pdo->getAttribute(PDO::ATTR_DRIVER_NAME) !== 'mysql') {
        return null;
    }
    try {
        $pdo->exec('SET NAMES utf8mb4');
        return 'utf8mb4';
    } catch (Exception $e) {
        $pdo->exec('SET NAMES utf8');
        return 'utf8';
    }
}

/** The user plugin's stored parameters: #__extensions (JSON, 1.6+) or #__plugins (INI, 1.5). */
function civicrmbridge_retry_stored_params($db)
{
    try {
        $rows = $db->fetchAll("SELECT params FROM #__extensions WHERE type = 'plugin' AND folder = 'user' AND element = 'civicrmbridge'");
        if (isset($rows[0]['params'])) {
            $params = json_decode((string) $rows[0]['params'], true);
            return is_array($params) ? $params : array();
        }
    } catch (Exception $e) {
        // 1.5 has no #__extensions.
    }
    try {
        $rows = $db->fetchAll("SELECT params FROM #__plugins WHERE folder = 'user' AND element = 'civicrmbridge'");
        if (isset($rows[0]['params'])) {
            $params = array();
            foreach (preg_split('/\r\n|\r|\n/', (string) $rows[0]['params']) as $line) {
                $at = strpos($line, '=');
                if ($at !== false) {
                    $params[trim(substr($line, 0, $at))] = substr($line, $at + 1);
                }
            }
            return $params;
        }
    } catch (Exception $e) {
        // Neither table: only the environment can configure this run.
    }
    return array();
}

function civicrmbridge_retry_main($argv)
{
    $o = civicrmbridge_retry_options($argv);
    $usage = "usage: php civicrmbridge-retry.php [--site=/path/to/joomla] [--limit=N] [--timeout=S] [--max-attempts=N]\n"
        . "  settings come from the site's configuration.php and the plugin's parameters, or from the\n"
        . "  environment: CIVICRMBRIDGE_DSN, CIVICRMBRIDGE_DB_USER, CIVICRMBRIDGE_DB_PASSWORD, CIVICRMBRIDGE_DB_PREFIX,\n"
        . "  CIVICRMBRIDGE_BRIDGE_URL, CIVICRMBRIDGE_SECRET, CIVICRMBRIDGE_SITE_ID\n";
    if (isset($o['help'])) {
        fwrite(STDOUT, $usage);
        return 0;
    }
    foreach (array('secret', 'password', 'user', 'dsn', 'prefix', 'bridge-url', 'site-id') as $gone) {
        if (isset($o[$gone])) {
            fwrite(STDERR, 'civicrmbridge-retry: --' . $gone . ' is no longer accepted (a secret on the command line shows in ps and'
                . " in the crontab): the settings come from the site's configuration.php and the plugin's parameters,"
                . " or from the CIVICRMBRIDGE_* environment variables\n" . $usage);
            return 2;
        }
    }
    // plugins/user/civicrmbridge/core/cli/ (1.5 - 6.x alike) is five levels below the site.
    $site = isset($o['site']) ? $o['site'] : dirname(dirname(dirname(dirname(dirname(dirname(__FILE__))))));
    $fromSite = civicrmbridge_retry_site_db($site);
    $dbc = array(
        'dsn' => civicrmbridge_retry_env('CIVICRMBRIDGE_DSN'),
        'user' => civicrmbridge_retry_env('CIVICRMBRIDGE_DB_USER'),
        'password' => civicrmbridge_retry_env('CIVICRMBRIDGE_DB_PASSWORD'),
        'prefix' => civicrmbridge_retry_env('CIVICRMBRIDGE_DB_PREFIX'),
    );
    foreach ($dbc as $key => $value) {
        if ($value === null && $fromSite !== null) {
            $dbc[$key] = $fromSite[$key];
        }
    }
    if ($dbc['dsn'] === null || $dbc['prefix'] === null) {
        fwrite(STDERR, 'civicrmbridge-retry: no Joomla configuration.php in ' . $site
            . ' and no CIVICRMBRIDGE_DSN/CIVICRMBRIDGE_DB_PREFIX in the environment' . "\n" . $usage);
        return 2;
    }
    try {
        $pdo = new PDO($dbc['dsn'], (string) $dbc['user'], (string) $dbc['password'], array(PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION));
        civicrmbridge_retry_set_names($pdo);
        $db = new CivicrmBridge_PdoDb($pdo, $dbc['prefix']);
        // Fails here, not silently inside the drain, when the table or database is missing.
        $db->fetchAll('SELECT COUNT(*) AS n FROM #__civicrm_bridge_outbox');
    } catch (Exception $e) {
        fwrite(STDERR, 'civicrmbridge-retry: database unreachable: ' . $e->getMessage() . "\n");
        return 1;
    }
    $params = civicrmbridge_retry_stored_params($db);
    foreach (array('bridge_url' => 'CIVICRMBRIDGE_BRIDGE_URL', 'secret' => 'CIVICRMBRIDGE_SECRET', 'site_id' => 'CIVICRMBRIDGE_SITE_ID') as $key => $env) {
        if (civicrmbridge_retry_env($env) !== null) {
            $params[$key] = civicrmbridge_retry_env($env);
        }
    }
    if (isset($o['timeout'])) {
        $params['timeout'] = $o['timeout'];
    }
    if (isset($o['max-attempts'])) {
        $params['outbox_max_attempts'] = $o['max-attempts'];
    }
    $config = new CivicrmBridge_Config($params);
    if (!$config->isConfigured()) {
        fwrite(STDERR, "civicrmbridge-retry: the plugin has no bridge address (http/https), shared secret (32+ bytes) or site name yet:"
            . " fill them in the plugin's options (or CIVICRMBRIDGE_BRIDGE_URL, CIVICRMBRIDGE_SECRET, CIVICRMBRIDGE_SITE_ID)\n");
        return 2;
    }
    $limit = isset($o['limit']) && (int) $o['limit'] > 0 ? (int) $o['limit'] : 100;
    $bridge = new CivicrmBridge_Bridge($config, $db, new CivicrmBridge_CurlTransport(), new CivicrmBridge_ErrorLogLogger('warning'));
    $counts = $bridge->drainOutbox($limit);
    $status = $bridge->outboxStatus();
    $waiting = $status === null ? $counts['pending'] : $status['pending'];
    echo 'delivered ' . $counts['delivered'] . ', failed ' . $counts['failed'] . ', pending ' . $waiting . "\n";
    if ($status !== null) {
        echo 'outbox: ' . $status['pending'] . ' waiting, ' . $status['failed'] . ' failed (kept, not retried)'
            . ($status['last_error'] !== null ? '; last error: ' . $status['last_error'] : '') . "\n";
    }
    return 0;
}

// A test defines CIVICRMBRIDGE_RETRY_LIBRARY to call the functions above without running.
if (!defined('CIVICRMBRIDGE_RETRY_LIBRARY')) {
    exit(civicrmbridge_retry_main($argv));
}
