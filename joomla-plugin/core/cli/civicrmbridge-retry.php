<?php
/**
 * Cron job for sites without Scheduled Tasks (Joomla < 4.1): sends the outbox once.
 *
 *   php civicrmbridge-retry.php --dsn='mysql:host=localhost;dbname=joomla' --user=U --password=P \
 *       --prefix=jos_ --bridge-url=https://bridge.example.org --secret=S --site-id=ID [--limit=N]
 *       [--timeout=SECONDS] [--max-attempts=N]
 *
 * Prints "delivered N, failed N, pending N". Exit 0; 1 when the database is unreachable;
 * 2 on a usage error (missing or invalid options).
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

function civicrmbridge_retry_main($argv)
{
    $o = civicrmbridge_retry_options($argv);
    $get = array();
    foreach (array('dsn', 'user', 'password', 'prefix', 'bridge-url', 'secret', 'site-id', 'limit', 'timeout', 'max-attempts') as $key) {
        $get[$key] = isset($o[$key]) ? $o[$key] : null;
    }
    if (isset($o['help']) || $get['dsn'] === null || $get['prefix'] === null) {
        fwrite(STDERR, "usage: php civicrmbridge-retry.php --dsn=mysql:host=..;dbname=.. --user=.. --password=.. "
            . "--prefix=jos_ --bridge-url=.. --secret=.. --site-id=.. [--limit=N] [--timeout=S] [--max-attempts=N]\n");
        return 2;
    }
    $params = array(
        'bridge_url' => (string) $get['bridge-url'],
        'secret' => (string) $get['secret'],
        'site_id' => (string) $get['site-id'],
    );
    if ($get['timeout'] !== null) {
        $params['timeout'] = $get['timeout'];
    }
    if ($get['max-attempts'] !== null) {
        $params['outbox_max_attempts'] = $get['max-attempts'];
    }
    $config = new CivicrmBridge_Config($params);
    if (!$config->isConfigured()) {
        fwrite(STDERR, "civicrmbridge-retry: --bridge-url (http/https), --secret (32+ bytes) and --site-id are required\n");
        return 2;
    }
    $limit = $get['limit'] !== null && (int) $get['limit'] > 0 ? (int) $get['limit'] : 100;
    try {
        $pdo = new PDO($get['dsn'], (string) $get['user'], (string) $get['password'], array(PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION));
        $pdo->exec('SET NAMES utf8mb4');
        $db = new CivicrmBridge_PdoDb($pdo, $get['prefix']);
        // Fails here, not silently inside the drain, when the table or database is missing.
        $db->fetchAll('SELECT COUNT(*) AS n FROM #__civicrm_bridge_outbox');
    } catch (Exception $e) {
        fwrite(STDERR, 'civicrmbridge-retry: database unreachable: ' . $e->getMessage() . "\n");
        return 1;
    }
    $bridge = new CivicrmBridge_Bridge($config, $db, new CivicrmBridge_CurlTransport(), new CivicrmBridge_ErrorLogLogger('warning'));
    $counts = $bridge->drainOutbox($limit);
    echo 'delivered ' . $counts['delivered'] . ', failed ' . $counts['failed'] . ', pending ' . $counts['pending'] . "\n";
    return 0;
}

exit(civicrmbridge_retry_main($argv));
