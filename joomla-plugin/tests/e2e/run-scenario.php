<?php
/**
 * End-to-end driver: ONE Joomla request of one generation, against a real bridge and a real
 * database. Loads that generation's stubs, the core and the adapter (tests/adapters/fixtures/
 * LoadGeneration.php, as the PHPUnit bootstraps do), builds the plugin as Joomla does (1.5/3.x:
 * the plugin class with its row; 4.x/5.x: the plugin's services/provider.php), changes the
 * #__users row as Joomla's user code does, and fires the listeners with the arguments that
 * generation passes (1.5/3.x/4.x positionally, 5.x typed event objects). Test code (PHP 8).
 *
 *   php run-scenario.php <j15|j3|j4|j5> <scenario> '<json config>'
 *
 * Scenarios: install (what installing and configuring the plugin creates: the outbox table on
 * 1.6+, #__extensions with the parameters on 4.x/5.x), register, email-change, login, delete,
 * block-many (several users blocked in one request), panel (the options' connection and queue
 * panel, config.action test|retry), drain (1.5/3.x: the core's cron script; 4.x/5.x: the
 * Scheduled Task routine), page (a logged-in user's request to com_civicrm: the system plugin's
 * onAfterRoute, then what CiviCRM would find in civicrm_uf_match when it runs; config request
 * {task, id, view}, session in/out).
 * Config: bridgeUrl, secret, siteId, dsn, dbUser, dbPassword, prefix, timeout (optional), and
 * user {id, username, email, name, block} for the user scenarios.
 *
 * Prints one JSON line: generation, scenario, calls (each listener fired: event, returned,
 * seconds), elapsed (seconds spent in listeners or the drain), outbox (every row afterwards),
 * drain (counts, for drain), log (what the plugin wrote to the error log). Exit 0; 1 when the
 * driver itself failed (then the line has "error").
 */
error_reporting(E_ALL);
ini_set('display_errors', 'stderr');
date_default_timezone_set('UTC');

$logFile = tempnam(sys_get_temp_dir(), 'civibridge-e2e-');
ini_set('error_log', $logFile);

require_once dirname(__DIR__) . '/adapters/fixtures/LoadGeneration.php';

final class CivicrmBridgeE2eSite
{
    /** Joomla 5's typed class of each user event (the dispatcher hands listeners these objects). */
    private const J5_EVENTS = [
        'onUserBeforeSave' => \Joomla\CMS\Event\User\BeforeSaveEvent::class,
        'onUserAfterSave' => \Joomla\CMS\Event\User\AfterSaveEvent::class,
        'onUserBeforeDelete' => \Joomla\CMS\Event\User\BeforeDeleteEvent::class,
        'onUserAfterDelete' => \Joomla\CMS\Event\User\AfterDeleteEvent::class,
        'onUserLogin' => \Joomla\CMS\Event\User\LoginEvent::class,
        'onUserAfterLogin' => \Joomla\CMS\Event\User\AfterLoginEvent::class,
    ];

    /** Joomla 1.5's names of the same events (and the arguments 1.5 passes, by position). */
    private const J15_EVENTS = [
        'onUserBeforeSave' => ['onBeforeStoreUser', 2],
        'onUserAfterSave' => ['onAfterStoreUser', 4],
        'onUserBeforeDelete' => ['onBeforeDeleteUser', 1],
        'onUserAfterDelete' => ['onAfterDeleteUser', 3],
        'onUserLogin' => ['onLoginUser', 2],
    ];

    public string $gen;
    public array $cfg;
    public PDO $pdo;
    public string $prefix;
    /** @var array list of ['event', 'returned', 'seconds'] */
    public array $calls = [];
    private $db = null;

    public function __construct(string $gen, array $cfg)
    {
        $this->gen = $gen;
        $this->cfg = $cfg;
        $this->prefix = (string) ($cfg['prefix'] ?? 'jos_');
        $this->pdo = new PDO((string) $cfg['dsn'], (string) ($cfg['dbUser'] ?? 'root'), (string) ($cfg['dbPassword'] ?? ''), [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
        // The shared fixture's table helpers (install SQL, #__extensions) work on this database.
        CivicrmBridgeTestFixture::$pdo = $this->pdo;
        CivicrmBridgeTestFixture::$prefix = $this->prefix;
    }

    /** The plugin's parameters as the administrator saved them. */
    public function params(): array
    {
        $params = [
            'bridge_url' => (string) $this->cfg['bridgeUrl'],
            'secret' => (string) $this->cfg['secret'],
            'site_id' => (string) $this->cfg['siteId'],
        ];
        if (isset($this->cfg['timeout'])) {
            $params['timeout'] = (string) $this->cfg['timeout'];
        }
        // Other parameters as saved (e.g. forward_save "0").
        foreach ((array) ($this->cfg['params'] ?? []) as $k => $v) {
            $params[(string) $k] = (string) $v;
        }
        return $params;
    }

    /** The site's database object of this generation (JFactory::getDBO() / the DI container's). */
    public function joomlaDb()
    {
        if ($this->db === null) {
            switch ($this->gen) {
                case 'j15':
                    $this->db = JFactory::$database = new JDatabase($this->pdo, $this->prefix);
                    break;
                case 'j3':
                    $this->db = JFactory::$database = new JDatabaseDriver($this->pdo, $this->prefix);
                    break;
                default:
                    $this->db = new \Joomla\Database\DatabaseDriver($this->pdo, $this->prefix);
            }
        }
        return $this->db;
    }

    /** The user plugin, built the way its Joomla generation builds it. */
    public function plugin()
    {
        $db = $this->joomlaDb();
        switch ($this->gen) {
            case 'j15':
                // JPluginHelper::_import: the row of #__plugins, params as INI text.
                $ini = [];
                foreach ($this->params() as $k => $v) {
                    $ini[] = $k . '=' . $v;
                }
                $dispatcher = new JDispatcher();
                return new plgUserCivicrmbridge($dispatcher, ['type' => 'user', 'name' => 'civicrmbridge', 'params' => implode("\n", $ini)]);
            case 'j3':
                // JPluginHelper::import: the row of #__extensions, params as JSON.
                $dispatcher = new JEventDispatcher();
                return new PlgUserCivicrmbridge($dispatcher, ['type' => 'user', 'name' => 'civicrmbridge', 'params' => json_encode($this->params())]);
            default:
                \Joomla\CMS\Plugin\PluginHelper::$plugins['user.civicrmbridge'] = (object) [
                    'type' => 'user', 'name' => 'civicrmbridge', 'params' => json_encode($this->params())];
                return $this->fromProvider('/adapters/' . $this->gen . '/user/services/provider.php', $db);
        }
    }

    /** The system plugin (lazy linking on CiviCRM's pages), with the user plugin enabled beside it. */
    public function systemPlugin()
    {
        $root = CivicrmBridgeTestFixture::pluginRoot();
        switch ($this->gen) {
            case 'j15':
                $ini = [];
                foreach ($this->params() as $k => $v) {
                    $ini[] = $k . '=' . $v;
                }
                JPluginHelper::$plugins['user.civicrmbridge'] = (object) ['type' => 'user', 'name' => 'civicrmbridge', 'params' => implode("\n", $ini)];
                require_once $root . '/adapters/system/j15/civicrmbridge.php';
                $dispatcher = new JDispatcher();
                return new plgSystemCivicrmbridge($dispatcher, ['type' => 'system', 'name' => 'civicrmbridge', 'params' => '']);
            case 'j3':
                JPluginHelper::$plugins['user.civicrmbridge'] = (object) ['type' => 'user', 'name' => 'civicrmbridge', 'params' => json_encode($this->params())];
                require_once $root . '/adapters/system/j3/civicrmbridge.php';
                $dispatcher = new JEventDispatcher();
                return new PlgSystemCivicrmbridge($dispatcher, ['type' => 'system', 'name' => 'civicrmbridge', 'params' => '{}']);
            default:
                \Joomla\CMS\Plugin\PluginHelper::$plugins['user.civicrmbridge'] = (object) [
                    'type' => 'user', 'name' => 'civicrmbridge', 'params' => json_encode($this->params())];
                \Joomla\CMS\Plugin\PluginHelper::$plugins['system.civicrmbridge'] = (object) [
                    'type' => 'system', 'name' => 'civicrmbridge', 'params' => '{}'];
                CivicrmBridgeNsSupport::autoload('Civicrm\\Plugin\\System\\Civicrmbridge\\', $root . '/adapters/system/j4/src');
                return $this->fromProvider('/adapters/system/j4/services/provider.php', $this->joomlaDb());
        }
    }

    /** The logged-in user, the routed request and the session as this generation's application holds them. */
    public function routeRequest(array $row, array $request, array $session): void
    {
        $this->joomlaDb(); // the site's database (JFactory::getDbo() on 1.5/3.x)
        $props = array_intersect_key(self::properties($row), get_class_vars($this->gen === 'j15' || $this->gen === 'j3' ? 'JUser' : \Joomla\CMS\User\User::class));
        switch ($this->gen) {
            case 'j15':
                JFactory::$user = new JUser($props);
                JRequest::$data = $request;
                JFactory::getSession()->data = $session;
                break;
            case 'j3':
                JFactory::$user = new JUser($props);
                JFactory::getApplication()->input->data = $request;
                JFactory::getSession()->data = $session;
                break;
            default:
                $app = \Joomla\CMS\Factory::getApplication();
                $app->identity = new \Joomla\CMS\User\User($props);
                $app->getInput()->data = $request;
                $app->getSession()->data = $session;
        }
    }

    public function sessionData(): array
    {
        switch ($this->gen) {
            case 'j15':
            case 'j3':
                return JFactory::getSession()->data;
            default:
                return \Joomla\CMS\Factory::getApplication()->getSession()->data;
        }
    }

    /** The Scheduled Task plugin (4.x/5.x packages), from its service provider. */
    public function taskPlugin()
    {
        \Joomla\CMS\Plugin\PluginHelper::$plugins['task.civicrmbridgeretry'] = (object) [
            'type' => 'task', 'name' => 'civicrmbridgeretry', 'params' => '{}'];
        return $this->fromProvider('/adapters/j4/task/services/provider.php', $this->joomlaDb());
    }

    private function fromProvider(string $file, $db)
    {
        $provider = require CivicrmBridgeTestFixture::pluginRoot() . $file;
        $container = new \Joomla\DI\Container();
        $container->set(\Joomla\Event\DispatcherInterface::class, new \Joomla\Event\Dispatcher());
        $container->set(\Joomla\Database\DatabaseInterface::class, $db);
        $provider->register($container);
        return $container->get(\Joomla\CMS\Extension\PluginInterface::class);
    }

    /**
     * Fires one event at the plugin as the generation's dispatcher does. $args are named (Joomla
     * 5's argument names) in Joomla's positional order; $positional, when the older generations
     * pass other arguments (onUserAfterLogin: only the options). Returns what the listener
     * returned; an event the plugin does not listen to is recorded as "not-listening".
     */
    public function fire($plugin, string $event, array $args, ?array $positional = null)
    {
        $started = microtime(true);
        $listening = true;
        $returned = null;
        if ($this->gen === 'j5') {
            // Joomla 5: typed event objects, to the method getSubscribedEvents() names.
            $map = $plugin::getSubscribedEvents();
            $class = self::J5_EVENTS[$event];
            $object = new $class($event, $args);
            if (isset($map[$event])) {
                $returned = $plugin->{$map[$event]}($object);
            } else {
                $listening = false;
            }
        } else {
            $method = $event;
            $positional = $positional ?? array_values($args);
            if ($this->gen === 'j15') {
                [$method, $count] = self::J15_EVENTS[$event];
                $positional = array_slice($positional, 0, $count);
            }
            // 1.5/3.x: JDispatcher calls the method when the plugin has it; 4.x registers every
            // public on* method as a legacy listener and calls it with array_values($arguments).
            if (method_exists($plugin, $method)) {
                $returned = $plugin->$method(...$positional);
            } else {
                $listening = false;
            }
            $event = $method;
        }
        $this->calls[] = ['event' => $event, 'returned' => $listening ? $returned : 'not-listening', 'seconds' => microtime(true) - $started];
        return $returned;
    }

    /** A #__users row; null when there is none. */
    public function userRow(array $where): ?array
    {
        $key = isset($where['id']) ? 'id' : 'username';
        $st = $this->pdo->prepare('SELECT * FROM `' . $this->prefix . 'users` WHERE ' . $key . ' = ?');
        $st->execute([$where[$key]]);
        $row = $st->fetch(PDO::FETCH_ASSOC);
        return $row === false ? null : $row;
    }

    /** JUser::getProperties() of a user: every column (the password hash too) and the extras. */
    public static function properties(array $row): array
    {
        $props = $row + ['id' => 0, 'name' => '', 'username' => '', 'email' => '', 'password' => '', 'block' => 0, 'params' => ''];
        $props['id'] = (int) $props['id'];
        $props['block'] = (int) $props['block'];
        $props['password_clear'] = '';
        $props['guest'] = $props['id'] ? 0 : 1;
        $props['groups'] = [2 => 2];
        return $props;
    }

    /** The logged-in user object Joomla hands the after-login event (loaded by id). */
    public function userObject(array $row)
    {
        $class = $this->gen === 'j15' || $this->gen === 'j3' ? 'JUser' : \Joomla\CMS\User\User::class;
        // The properties the class declares (the stubs declare fewer than Joomla's User).
        $props = array_intersect_key(self::properties($row), get_class_vars($class));
        return new $class($props);
    }

    public function insertUser(array $u): void
    {
        $st = $this->pdo->prepare('INSERT INTO `' . $this->prefix . 'users` (id, name, username, email, password, block, params, registerDate) VALUES (?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP())');
        $st->execute([(int) $u['id'], (string) $u['name'], (string) $u['username'], (string) $u['email'], (string) $u['password'], (int) $u['block'], '{}']);
    }

    public function updateUser(array $u): void
    {
        $st = $this->pdo->prepare('UPDATE `' . $this->prefix . 'users` SET name = ?, email = ? WHERE id = ?');
        $st->execute([(string) $u['name'], (string) $u['email'], (int) $u['id']]);
    }

    public function deleteUser(int $id): void
    {
        $this->pdo->prepare('DELETE FROM `' . $this->prefix . 'users` WHERE id = ?')->execute([$id]);
    }

    public function outboxRows(): array
    {
        $table = $this->prefix . 'civicrm_bridge_outbox';
        if (!$this->pdo->query("SHOW TABLES LIKE '" . $table . "'")->fetchAll()) {
            return [];
        }
        return $this->pdo->query('SELECT * FROM `' . $table . '` ORDER BY id')->fetchAll(PDO::FETCH_ASSOC);
    }
}

/** The user of the config, as Joomla's save form would hand it over. */
function civicrmbridge_e2e_user(array $cfg): array
{
    $u = $cfg['user'] ?? [];
    return [
        'id' => (int) ($u['id'] ?? 0),
        'name' => (string) ($u['name'] ?? ''),
        'username' => (string) ($u['username'] ?? ''),
        'email' => (string) ($u['email'] ?? ''),
        'password' => '$2y$10$e2e.secret.hash.never.sent',
        'block' => (int) ($u['block'] ?? 0),
    ];
}

function civicrmbridge_e2e_run(CivicrmBridgeE2eSite $site, string $scenario): array
{
    $out = [];
    switch ($scenario) {
        case 'install':
            if ($site->gen !== 'j15') {
                // 1.6+: the installer runs the plugin's sql/install.mysql.sql. 1.5 creates the table lazily.
                CivicrmBridgeTestFixture::installOutbox();
            }
            if ($site->gen === 'j4' || $site->gen === 'j5') {
                CivicrmBridgeNsSupport::createExtensionsTable();
                CivicrmBridgeNsSupport::storeUserPluginParams($site->params());
            }
            return $out;

        case 'register':
            // JUser::save() of a new user: before-save with the empty old user, the row is
            // inserted, after-save with the stored user.
            $plugin = $site->plugin();
            $user = civicrmbridge_e2e_user($site->cfg);
            $old = CivicrmBridgeE2eSite::properties([]);
            $new = CivicrmBridgeE2eSite::properties($user);
            $site->fire($plugin, 'onUserBeforeSave', ['subject' => $old, 'isNew' => true, 'data' => $new]);
            $site->insertUser($user);
            $site->fire($plugin, 'onUserAfterSave', ['subject' => $new, 'isNew' => true, 'savingResult' => true, 'errorMessage' => '']);
            return $out;

        case 'email-change':
            $plugin = $site->plugin();
            $changed = civicrmbridge_e2e_user($site->cfg);
            $row = $site->userRow(['id' => $changed['id']]);
            if ($row === null) {
                throw new RuntimeException('no user ' . $changed['id'] . ' to change');
            }
            $old = CivicrmBridgeE2eSite::properties($row);
            $new = array_merge($old, ['email' => $changed['email']], $changed['name'] !== '' ? ['name' => $changed['name']] : []);
            $site->fire($plugin, 'onUserBeforeSave', ['subject' => $old, 'isNew' => false, 'data' => $new]);
            $site->updateUser($new);
            $site->fire($plugin, 'onUserAfterSave', ['subject' => $new, 'isNew' => false, 'savingResult' => true, 'errorMessage' => '']);
            return $out;

        case 'login':
            // The application's login(): onUserLogin with the authentication response (no id,
            // the PLAINTEXT password), then (3.2+) onUserAfterLogin with the user loaded by id.
            $plugin = $site->plugin();
            $username = civicrmbridge_e2e_user($site->cfg)['username'];
            $row = $site->userRow(['username' => $username]);
            $response = ['status' => 1, 'type' => 'Joomla', 'error_message' => '', 'username' => $username,
                'email' => $row['email'] ?? '', 'fullname' => $row['name'] ?? '', 'password' => 'plain-secret',
                'password_clear' => 'plain-secret'];
            $options = ['remember' => false, 'action' => 'core.login.site'];
            $ok = $site->fire($plugin, 'onUserLogin', ['subject' => $response, 'options' => $options]);
            if ($site->gen !== 'j15' && $ok !== false && $row !== null) {
                $options['user'] = $site->userObject($row);
                $options['responseType'] = 'Joomla';
                $site->fire($plugin, 'onUserAfterLogin', ['subject' => $response, 'options' => $options], [$options]);
            }
            return $out;

        case 'delete':
            $plugin = $site->plugin();
            $id = civicrmbridge_e2e_user($site->cfg)['id'];
            $row = $site->userRow(['id' => $id]);
            if ($row === null) {
                throw new RuntimeException('no user ' . $id . ' to delete');
            }
            $props = CivicrmBridgeE2eSite::properties($row);
            $site->fire($plugin, 'onUserBeforeDelete', ['subject' => $props]);
            $site->deleteUser($id);
            $site->fire($plugin, 'onUserAfterDelete', ['subject' => $props, 'deletingResult' => true, 'errorMessage' => '']);
            return $out;

        case 'block-many':
            // An admin blocks several users in one request (Users - Block): before-save and
            // after-save per user, block = 1. Config: users [{id, username, email, name}].
            $plugin = $site->plugin();
            foreach ($site->cfg['users'] ?? [] as $u) {
                $row = $site->userRow(['id' => (int) $u['id']]);
                if ($row === null) {
                    throw new RuntimeException('no user ' . $u['id'] . ' to block');
                }
                $old = CivicrmBridgeE2eSite::properties($row);
                $new = array_merge($old, ['block' => 1]);
                $site->fire($plugin, 'onUserBeforeSave', ['subject' => $old, 'isNew' => false, 'data' => $new]);
                $site->pdo->prepare('UPDATE `' . $site->prefix . 'users` SET block = 1 WHERE id = ?')->execute([(int) $u['id']]);
                $site->fire($plugin, 'onUserAfterSave', ['subject' => $new, 'isNew' => false, 'savingResult' => true, 'errorMessage' => '']);
            }
            return $out;

        case 'panel':
            // The plugin's options page: the connection and queue panel; config.action test|retry|''.
            return ['panel' => civicrmbridge_e2e_panel($site, (string) ($site->cfg['action'] ?? ''))];

        case 'page':
            // A logged-in user's request to com_civicrm: Joomla routes it, triggers the system
            // plugins' onAfterRoute, then dispatches the component (CiviCRM, which looks the user
            // up in civicrm_uf_match). What CiviCRM would find is read right after onAfterRoute.
            $id = civicrmbridge_e2e_user($site->cfg)['id'];
            $row = $site->userRow(['id' => $id]);
            if ($row === null) {
                throw new RuntimeException('no user ' . $id . ' to log in');
            }
            $request = (array) ($site->cfg['request'] ?? []) + ['option' => 'com_civicrm'];
            $site->routeRequest($row, $request, (array) ($site->cfg['session'] ?? []));
            $plugin = $site->systemPlugin();
            $started = microtime(true);
            $returned = $site->gen === 'j4' || $site->gen === 'j5' ? $plugin->onAfterRoute(new \Joomla\Event\Event('onAfterRoute')) : $plugin->onAfterRoute();
            $site->calls[] = ['event' => 'onAfterRoute', 'returned' => $returned, 'seconds' => microtime(true) - $started];
            $st = $site->pdo->prepare('SELECT contact_id FROM civicrm_uf_match WHERE uf_id = ? ORDER BY id');
            $st->execute([$id]);
            return ['civicrmFinds' => array_map('intval', $st->fetchAll(PDO::FETCH_COLUMN)), 'session' => $site->sessionData()];

        case 'drain':
            return ['drain' => $site->gen === 'j15' || $site->gen === 'j3' ? civicrmbridge_e2e_cron($site) : civicrmbridge_e2e_task($site)];
    }
    throw new InvalidArgumentException('unknown scenario ' . $scenario);
}

/**
 * 1.5 - 4.0: cron runs the core's cli/civicrmbridge-retry.php. No secret on its command line: the
 * settings come from the environment here (on a site: configuration.php and the stored parameters).
 */
function civicrmbridge_e2e_cron(CivicrmBridgeE2eSite $site): array
{
    $cfg = $site->cfg;
    $cmd = [PHP_BINARY, CivicrmBridgeTestFixture::coreDir() . '/cli/civicrmbridge-retry.php'];
    if (isset($cfg['timeout'])) {
        $cmd[] = '--timeout=' . $cfg['timeout'];
    }
    $env = ['CIVICRMBRIDGE_DSN' => $cfg['dsn'], 'CIVICRMBRIDGE_DB_USER' => $cfg['dbUser'] ?? 'root', 'CIVICRMBRIDGE_DB_PASSWORD' => $cfg['dbPassword'] ?? '',
        'CIVICRMBRIDGE_DB_PREFIX' => $site->prefix, 'CIVICRMBRIDGE_BRIDGE_URL' => $cfg['bridgeUrl'], 'CIVICRMBRIDGE_SECRET' => $cfg['secret'],
        'CIVICRMBRIDGE_SITE_ID' => $cfg['siteId'], 'PATH' => (string) getenv('PATH')];
    $started = microtime(true);
    $proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
    $stdout = stream_get_contents($pipes[1]);
    $stderr = stream_get_contents($pipes[2]);
    fclose($pipes[1]);
    fclose($pipes[2]);
    $code = proc_close($proc);
    $site->calls[] = ['event' => 'cron:civicrmbridge-retry.php', 'returned' => $code, 'seconds' => microtime(true) - $started];
    $counts = preg_match('/^delivered (\d+), failed (\d+), pending (\d+)$/m', $stdout, $m)
        ? ['delivered' => (int) $m[1], 'failed' => (int) $m[2], 'pending' => (int) $m[3]] : null;
    return ['via' => 'cron', 'exit' => $code, 'output' => trim($stdout), 'stderr' => trim($stderr), 'counts' => $counts];
}

/** 4.1+: com_scheduler runs the task plugin's routine (it reads the user plugin's parameters). */
function civicrmbridge_e2e_task(CivicrmBridgeE2eSite $site): array
{
    CivicrmBridgeNsSupport::storeUserPluginParams($site->params());
    $started = microtime(true);
    [$task, $status] = CivicrmBridgeNsSupport::runRetryTask($site->joomlaDb(), $site->taskPlugin());
    $site->calls[] = ['event' => 'onExecuteTask', 'returned' => $status, 'seconds' => microtime(true) - $started];
    $line = isset($task->taskLog[0][1]) ? $task->taskLog[0][1] : '';
    $counts = preg_match('/^delivered (\d+), failed (\d+), pending (\d+)$/', $line, $m)
        ? ['delivered' => (int) $m[1], 'failed' => (int) $m[2], 'pending' => (int) $m[3]] : null;
    return ['via' => 'task', 'exit' => $status, 'output' => $line, 'taskLog' => $task->taskLog, 'counts' => $counts];
}

/** Renders the generation's options panel (element/field) with the saved parameters, as the admin sees it. */
function civicrmbridge_e2e_panel(CivicrmBridgeE2eSite $site, string $action): string
{
    $params = $site->params();
    $root = CivicrmBridgeTestFixture::pluginRoot();
    $site->joomlaDb();
    $started = microtime(true);
    switch ($site->gen) {
        case 'j15':
            require_once $root . '/adapters/j15/civicrmbridge/elements/civicrmbridgestatus.php';
            $ini = [];
            foreach ($params as $k => $v) {
                $ini[] = $k . '=' . $v;
            }
            JRequest::$data = $action === '' ? [] : ['civicrmbridge' => $action, JUtility::getToken() => '1'];
            $node = null;
            $html = (new JElementCivicrmbridgestatus(new JParameter(implode("\n", $ini))))->fetchElement('civicrmbridge_status', '', $node, 'params');
            break;
        case 'j3':
            require_once $root . '/adapters/j3/fields/civicrmbridgestatus.php';
            JRequest::$data = $action === '' ? [] : ['civicrmbridge' => $action, JSession::getFormToken() => '1'];
            $html = (new JFormFieldCivicrmbridgestatus(new CivicrmBridgeE2eForm($params)))->input();
            break;
        default:
            \Joomla\CMS\Factory::getContainer()->set(\Joomla\Database\DatabaseInterface::class, $site->joomlaDb());
            \Joomla\CMS\Factory::getApplication()->input->data = $action === '' ? [] : ['civicrmbridge' => $action, \Joomla\CMS\Session\Session::getFormToken() => '1'];
            $html = (new \Civicrm\Plugin\User\Civicrmbridge\Field\CivicrmbridgestatusField(new CivicrmBridgeE2eForm($params)))->input();
    }
    $site->calls[] = ['event' => 'panel:' . ($action === '' ? 'show' : $action), 'returned' => null, 'seconds' => microtime(true) - $started];
    return $html;
}

/** The options form as a field sees it: the saved parameters under 'params'. */
final class CivicrmBridgeE2eForm
{
    public function __construct(private array $params)
    {
    }

    public function getValue($name, $group = null)
    {
        return $group === 'params' ? ($this->params[$name] ?? null) : null;
    }
}

function civicrmbridge_e2e_main(array $argv, string $logFile): int
{
    $result = ['generation' => $argv[1] ?? null, 'scenario' => $argv[2] ?? null];
    $code = 0;
    try {
        if (count($argv) !== 4) {
            throw new InvalidArgumentException('usage: php run-scenario.php <j15|j3|j4|j5> <scenario> <json config>');
        }
        $cfg = json_decode($argv[3], true);
        if (!is_array($cfg)) {
            throw new InvalidArgumentException('the config is not a JSON object');
        }
        CivicrmBridgeGeneration::load($argv[1]);
        $site = new CivicrmBridgeE2eSite($argv[1], $cfg);
        $started = microtime(true);
        $result += civicrmbridge_e2e_run($site, $argv[2]);
        $result['elapsed'] = microtime(true) - $started;
        $result['calls'] = $site->calls;
        $result['outbox'] = $site->outboxRows();
    } catch (Throwable $e) {
        $result['error'] = get_class($e) . ': ' . $e->getMessage() . ' at ' . basename($e->getFile()) . ':' . $e->getLine();
        $code = 1;
    }
    $log = is_file($logFile) ? file($logFile, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) : [];
    @unlink($logFile);
    $result['log'] = $log === false ? [] : $log;
    echo json_encode($result, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE), "\n";
    return $code;
}

exit(civicrmbridge_e2e_main($argv, $logFile));
