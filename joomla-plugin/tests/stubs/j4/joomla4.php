<?php
/**
 * Minimal stubs of the Joomla 4.x classes the j4 adapter (and the task plugin) use. Loaded by
 * the j5 stubs too: 5.x/6.x provide the same classes. DatabaseDriver runs on a real MariaDB
 * through PDO and throws on SQL errors like the real one.
 */
namespace {
    if (!defined('_JEXEC')) {
        define('_JEXEC', 1);
    }
    if (!defined('JPATH_PLUGINS')) {
        define('JPATH_PLUGINS', sys_get_temp_dir() . '/civibridge-no-plugins');
    }
    if (!defined('JPATH_ROOT')) {
        define('JPATH_ROOT', sys_get_temp_dir());
    }
}

namespace Joomla\Registry {
    class Registry
    {
        private $data = [];

        public function __construct($data = null)
        {
            if (is_array($data) || is_object($data)) {
                $this->data = (array) $data;
            } elseif (is_string($data) && $data !== '') {
                $decoded = json_decode($data, true);
                $this->data = is_array($decoded) ? $decoded : [];
            }
        }

        public function get($path, $default = null)
        {
            return isset($this->data[$path]) && $this->data[$path] !== '' ? $this->data[$path] : $default;
        }

        public function set($path, $value)
        {
            $this->data[$path] = $value;
        }

        public function toArray()
        {
            return $this->data;
        }
    }
}

namespace Joomla\Event {
    interface EventInterface
    {
        public function getName();

        public function getArgument($name, $default = null);
    }

    abstract class AbstractEvent implements EventInterface
    {
        protected $name;
        protected $arguments;

        public function __construct($name, array $arguments = [])
        {
            $this->name = $name;
            $this->arguments = $arguments;
        }

        public function getName()
        {
            return $this->name;
        }

        public function getArgument($name, $default = null)
        {
            return array_key_exists($name, $this->arguments) ? $this->arguments[$name] : $default;
        }

        public function getArguments()
        {
            return $this->arguments;
        }

        public function hasArgument($name)
        {
            return array_key_exists($name, $this->arguments);
        }
    }

    class Event extends AbstractEvent
    {
        public function setArgument($name, $value)
        {
            $this->arguments[$name] = $value;
            return $this;
        }
    }

    interface SubscriberInterface
    {
        public static function getSubscribedEvents(): array;
    }

    interface DispatcherInterface
    {
    }

    class Dispatcher implements DispatcherInterface
    {
    }
}

namespace Joomla\Database\Exception {
    class DatabaseNotFoundException extends \RuntimeException
    {
    }

    class ExecutionFailureException extends \RuntimeException
    {
    }
}

namespace Joomla\Database {
    interface DatabaseInterface
    {
        public function quote($text, $escape = true);
    }

    interface DatabaseAwareInterface
    {
        public function setDatabase(DatabaseInterface $db): void;
    }

    trait DatabaseAwareTrait
    {
        private $databaseAwareTraitDatabase;

        protected function getDatabase(): DatabaseInterface
        {
            if ($this->databaseAwareTraitDatabase) {
                return $this->databaseAwareTraitDatabase;
            }
            throw new Exception\DatabaseNotFoundException('Database not set in ' . \get_class($this));
        }

        public function setDatabase(DatabaseInterface $db): void
        {
            $this->databaseAwareTraitDatabase = $db;
        }
    }

    class DatabaseDriver implements DatabaseInterface
    {
        private $pdo;
        private $tablePrefix;
        private $sql = '';
        private $affected = 0;
        /** tests: make every query fail */
        public $broken = false;

        public function __construct(\PDO $pdo, $prefix)
        {
            $this->pdo = $pdo;
            $this->tablePrefix = $prefix;
        }

        public function replacePrefix($sql, $prefix = '#__')
        {
            return str_replace($prefix, $this->tablePrefix, $sql);
        }

        public function setQuery($query, $offset = 0, $limit = 0)
        {
            $this->sql = (string) $query;
            return $this;
        }

        public function execute()
        {
            if ($this->broken) {
                throw new Exception\ExecutionFailureException('Lost connection to MySQL server', 2013);
            }
            try {
                $st = $this->pdo->query($this->replacePrefix($this->sql));
            } catch (\PDOException $e) {
                throw new Exception\ExecutionFailureException($e->getMessage(), (int) $e->getCode());
            }
            $this->affected = $st->rowCount();
            return $st;
        }

        public function getAffectedRows()
        {
            return $this->affected;
        }

        public function loadAssocList($key = null, $column = null)
        {
            return $this->execute()->fetchAll(\PDO::FETCH_ASSOC);
        }

        public function loadResult()
        {
            $row = $this->execute()->fetch(\PDO::FETCH_NUM);
            return $row ? $row[0] : null;
        }

        public function escape($text, $extra = false)
        {
            $r = substr($this->pdo->quote((string) $text), 1, -1);
            return $extra ? addcslashes($r, '%_') : $r;
        }

        public function quote($text, $escape = true)
        {
            return '\'' . ($escape ? $this->escape($text) : $text) . '\'';
        }

        public function quoteName($name, $as = null)
        {
            return '`' . str_replace('.', '`.`', $name) . '`';
        }

        public function getPrefix()
        {
            return $this->tablePrefix;
        }
    }
}

namespace Joomla\CMS\User {
    class User
    {
        public $id = 0;
        public $name = null;
        public $username = null;
        public $email = null;
        public $password = null;
        public $block = 0;
        public $guest = 1;

        public function __construct($props = [])
        {
            foreach ((array) $props as $k => $v) {
                $this->$k = $v;
            }
            $this->guest = $this->id ? 0 : 1;
        }

        /** tests: what authorise() answers (a Super User: true) */
        public $allowed = true;

        public function authorise($action, $assetname = null)
        {
            return $this->allowed;
        }

        public function get($property, $default = null)
        {
            return isset($this->$property) ? $this->$property : $default;
        }
    }
}

namespace Joomla\CMS\Application {
    use Joomla\CMS\User\User;

    class CMSApplication
    {
        public $redirected = null;
        public $messages = [];
        public $identity = null;
        /** @var \Joomla\Input\Input the request */
        public $input;

        public function __construct()
        {
            $this->input = new \Joomla\Input\Input();
        }

        public function getInput()
        {
            return $this->input;
        }

        /** @var \Joomla\CMS\Session\Session|null the user's session */
        public $session = null;

        public function getSession()
        {
            if ($this->session === null) {
                $this->session = new \Joomla\CMS\Session\Session();
            }
            return $this->session;
        }

        public function getIdentity()
        {
            if ($this->identity === null) {
                $this->identity = new User();
            }
            return $this->identity;
        }

        public function redirect($url, $status = 303)
        {
            $this->redirected = $url;
        }

        public function enqueueMessage($msg, $type = 'message')
        {
            $this->messages[] = [$msg, $type];
        }
    }
}

namespace Joomla\CMS\Language {
    class Text
    {
        /** The key and its arguments (no language files in the tests). */
        public static function sprintf($string, ...$args)
        {
            return $string . ' ' . implode(',', $args);
        }

        public static function _($string, $jsSafe = false, $interpretBackSlashes = true, $script = false)
        {
            return $string;
        }
    }
}

namespace Joomla\Input {
    class Input
    {
        public $data = [];

        public function getCmd($name, $default = '')
        {
            return isset($this->data[$name]) ? preg_replace('/[^A-Z0-9_\.-]/i', '', (string) $this->data[$name]) : $default;
        }

        public function getString($name, $default = '')
        {
            return (string) $this->get($name, $default);
        }

        public function getInt($name, $default = 0)
        {
            return (int) $this->get($name, $default);
        }

        public function get($name, $default = null, $filter = 'cmd')
        {
            return $this->data[$name] ?? $default;
        }
    }
}

namespace Joomla\CMS\Session {
    class Session
    {
        /** The user's session as an array (tests read and preset $data). */
        public $data = [];

        public function get($name, $default = null)
        {
            return $this->data[$name] ?? $default;
        }

        public function set($name, $value = null)
        {
            $old = $this->data[$name] ?? null;
            $this->data[$name] = $value;
            return $old;
        }

        public static function getFormToken($forceNew = false)
        {
            return 'beef0000beef0000beef0000beef0000';
        }

        public static function checkToken($method = 'post')
        {
            return (string) \Joomla\CMS\Factory::getApplication()->input->get(self::getFormToken(), '') === '1';
        }
    }
}

namespace Joomla\CMS\Uri {
    class Uri
    {
        public static $current = 'http://localhost/administrator/index.php?option=com_plugins&view=plugin&layout=edit&extension_id=9';

        public static function getInstance($uri = 'SERVER')
        {
            return new self();
        }

        public function toString(array $parts = [])
        {
            return self::$current;
        }
    }
}

namespace Joomla\CMS\Form {
    /** The form field base class, as far as the plugin's status field uses it. */
    abstract class FormField
    {
        /** @var object the form: getValue($name, $group) */
        protected $form = null;

        public function __construct($form = null)
        {
            $this->form = $form;
        }

        public function input()
        {
            return $this->getInput();
        }

        abstract protected function getInput();
    }
}

namespace Joomla\CMS {
    class Factory
    {
        public static $application = null;
        /** @var \Joomla\DI\Container|null what getContainer() returns (tests set the database in it) */
        public static $container = null;

        public static function getContainer()
        {
            if (self::$container === null) {
                self::$container = new \Joomla\DI\Container();
            }
            return self::$container;
        }

        public static function getApplication($id = null, array $config = [], $prefix = 'J')
        {
            if (self::$application === null) {
                self::$application = new Application\CMSApplication();
            }
            return self::$application;
        }
    }
}

namespace Joomla\CMS\Extension {
    interface PluginInterface
    {
    }
}

namespace Joomla\CMS\Plugin {
    use Joomla\Registry\Registry;

    /**
     * 4.x signature: the dispatcher first, then the plugin's row (type, name, params JSON). Like 3.x's
     * JPlugin stub: each generation's stubs are loaded alone (their class names clash), so no sharing.
     */
    /** The body of every CMSPlugin variant below (only the constructor's signature differs). */
    trait CMSPluginBody
    {
        public $params = null;
        protected $_name = null;
        protected $_type = null;
        protected $autoloadLanguage = false;
        private $application = null;
        private $dispatcher = null;

        private function init($subject, $config)
        {
            if (isset($config['params'])) {
                $this->params = $config['params'] instanceof Registry ? $config['params'] : new Registry($config['params']);
            } else {
                $this->params = new Registry();
            }
            if (isset($config['name'])) {
                $this->_name = $config['name'];
            }
            if (isset($config['type'])) {
                $this->_type = $config['type'];
            }
            $this->dispatcher = $subject;
        }

        public function loadLanguage($extension = '', $basePath = '')
        {
            return true;
        }

        public function setApplication($application): void
        {
            $this->application = $application;
        }

        protected function getApplication()
        {
            return $this->application;
        }

        public function setDispatcher($dispatcher)
        {
            $this->dispatcher = $dispatcher;
        }
    }

    $stubMinor = getenv('CIVICRMBRIDGE_STUB_JOOMLA') ?: (defined('CIVICRMBRIDGE_STUB_J5') ? '5.0' : '4.4');
    if (version_compare($stubMinor, '5.4', '>=')) {
        /** 5.4+: the plugin's row only; a dispatcher first still works but is deprecated (as core does). */
        abstract class CMSPlugin implements \Joomla\CMS\Extension\PluginInterface
        {
            use CMSPluginBody;

            public function __construct($config = [])
            {
                $dispatcher = null;
                if ($config instanceof \Joomla\Event\DispatcherInterface) {
                    @trigger_error('Passing an instance of Joomla\\Event\\DispatcherInterface to CMSPlugin::__construct() will not be supported in 7.0.', E_USER_DEPRECATED);
                    \Joomla\CMS\Plugin\PluginHelper::$deprecations[] = 'dispatcher passed to the plugin constructor';
                    $dispatcher = $config;
                    $config = func_num_args() > 1 ? func_get_arg(1) : [];
                }
                $this->init($dispatcher, $config);
            }
        }
    } elseif (version_compare($stubMinor, '5.0', '>=')) {
        /** 5.0 - 5.3: the dispatcher first, typed, not by reference. */
        abstract class CMSPlugin implements \Joomla\CMS\Extension\PluginInterface
        {
            use CMSPluginBody;

            public function __construct(\Joomla\Event\DispatcherInterface $dispatcher, array $config = [])
            {
                $this->init($dispatcher, $config);
            }
        }
    } else {
        /** 4.x: the dispatcher first, by reference. */
        abstract class CMSPlugin implements \Joomla\CMS\Extension\PluginInterface
        {
            use CMSPluginBody;

            public function __construct(&$subject, $config = [])
            {
                $this->init($subject, $config);
            }
        }
    }

    class PluginHelper
    {
        public static $plugins = [];
        /** tests: deprecated uses the stubs noticed (5.4+: a dispatcher passed to a plugin constructor) */
        public static $deprecations = [];

        public static function getPlugin($type, $plugin = null)
        {
            return isset(self::$plugins[$type . '.' . $plugin]) ? self::$plugins[$type . '.' . $plugin] : [];
        }
    }
}

namespace Joomla\DI {
    interface ServiceProviderInterface
    {
        public function register(Container $container);
    }

    class Container
    {
        private $factories = [];
        private $instances = [];

        public function set($key, $value, $shared = false, $protected = false)
        {
            $this->factories[$key] = $value;
            return $this;
        }

        public function get($key)
        {
            if (!array_key_exists($key, $this->instances)) {
                $f = $this->factories[$key];
                $this->instances[$key] = $f instanceof \Closure ? $f($this) : $f;
            }
            return $this->instances[$key];
        }
    }
}

namespace Joomla\Component\Scheduler\Administrator\Task {
    class Status
    {
        public const INVALID_EXIT = -2;
        public const NO_EXIT = -1;
        public const RUNNING = 1;
        public const NO_LOCK = 2;
        public const NO_RUN = 3;
        public const NO_RELEASE = 4;
        public const KNOCKOUT = 5;
        public const WILL_RESUME = 123;
        public const TIMEOUT = 124;
        public const NO_TASK = 125;
        public const NO_ROUTINE = 127;
        public const OK = 0;
    }

    class Task
    {
        public $logCategory = 'task1';
    }
}

namespace Joomla\Component\Scheduler\Administrator\Event {
    class ExecuteTaskEvent extends \Joomla\Event\Event
    {
        public function getRoutineId(): string
        {
            return (string) $this->getArgument('routineId');
        }

        public function setResult($snapshot)
        {
            $this->arguments['result'] = $snapshot;
        }

        public function getResultSnapshot()
        {
            return $this->getArgument('result');
        }
    }
}

namespace Joomla\Component\Scheduler\Administrator\Traits {
    use Joomla\Component\Scheduler\Administrator\Event\ExecuteTaskEvent;
    use Joomla\Component\Scheduler\Administrator\Task\Status;
    use Joomla\Event\EventInterface;

    /** The com_scheduler conventions a task plugin relies on (TASKS_MAP, routine signature, logTask). */
    trait TaskPluginTrait
    {
        protected $snapshot = [];
        /** tests: what logTask() received */
        public $taskLog = [];

        public function advertiseRoutines(EventInterface $event): void
        {
            $options = [];
            foreach (self::TASKS_MAP as $routineId => $details) {
                if (isset($details['langConstPrefix'])) {
                    $options[$routineId] = $details['langConstPrefix'];
                }
            }
            $event->getArgument('subject')->addOptions($options);
        }

        public function enhanceTaskItemForm($context, $data = null): bool
        {
            return true;
        }

        public function standardRoutineHandler(ExecuteTaskEvent $event): void
        {
            if (!array_key_exists($event->getRoutineId(), self::TASKS_MAP)) {
                return;
            }
            $this->snapshot = ['status' => Status::RUNNING, 'startTime' => microtime(true)];
            $methodName = (string) (self::TASKS_MAP[$event->getRoutineId()]['method'] ?? '');
            $ref = new \ReflectionClass($this);
            $exitCode = Status::NO_EXIT;
            if ($methodName !== '' && $ref->hasMethod($methodName)) {
                $method = $ref->getMethod($methodName);
                if ($method->getNumberOfRequiredParameters() !== 1
                    || !$method->getParameters()[0]->hasType()
                    || $method->getParameters()[0]->getType()->getName() !== ExecuteTaskEvent::class
                    || !$method->hasReturnType()
                    || $method->getReturnType()->getName() !== 'int') {
                    $this->logTask('Incorrect routine method signature for ' . $methodName, 'error');
                    return;
                }
                $method->setAccessible(true);
                $exitCode = $method->invoke($this, $event);
            }
            if (!is_int($exitCode) || !in_array($exitCode, (new \ReflectionClass(Status::class))->getConstants(), true)) {
                $exitCode = Status::INVALID_EXIT;
            }
            $this->snapshot['status'] = $exitCode;
            $event->setResult($this->snapshot);
        }

        protected function logTask(string $message, string $priority = 'info'): void
        {
            $this->taskLog[] = [$priority, $message];
        }
    }
}
