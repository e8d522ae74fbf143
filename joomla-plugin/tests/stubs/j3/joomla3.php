<?php
/**
 * Minimal stubs of the Joomla 1.6-3.x classes the j3 adapter uses: JPlugin, JRegistry, JFactory,
 * JDatabaseDriver (over a real MariaDB through PDO; throws RuntimeException on SQL errors like 3.x),
 * JUser, the CMS application (redirect recorded, not exiting), JText, JVERSION.
 */
if (!defined('_JEXEC')) {
    define('_JEXEC', 1);
}
if (!defined('JVERSION')) {
    define('JVERSION', '3.10.12');
}
if (!defined('JPATH_PLUGINS')) {
    define('JPATH_PLUGINS', sys_get_temp_dir());
}

class JRegistry
{
    protected $data = array();

    public function __construct($data = null)
    {
        if (is_array($data)) {
            $this->data = $data;
        } elseif (is_string($data) && $data !== '') {
            $this->loadString($data);
        }
    }

    public function loadString($data, $format = 'JSON')
    {
        $decoded = json_decode($data, true);
        if (is_array($decoded)) {
            $this->data = array_merge($this->data, $decoded);
        }
        return $this;
    }

    public function get($path, $default = null)
    {
        return isset($this->data[$path]) && $this->data[$path] !== '' ? $this->data[$path] : $default;
    }

    public function set($path, $value)
    {
        $this->data[$path] = $value;
    }
}

class JEventDispatcher
{
}

class JPlugin
{
    public $params = null;
    protected $_name = null;
    protected $_type = null;
    protected $autoloadLanguage = false;

    public function __construct(&$subject, $config = array())
    {
        if (isset($config['params'])) {
            $this->params = $config['params'] instanceof JRegistry ? $config['params'] : new JRegistry($config['params']);
        } else {
            $this->params = new JRegistry();
        }
        if (isset($config['name'])) {
            $this->_name = $config['name'];
        }
        if (isset($config['type'])) {
            $this->_type = $config['type'];
        }
    }

    public function loadLanguage($extension = '', $basePath = '')
    {
        return true;
    }
}

class JDatabaseDriver
{
    /** @var PDO */
    protected $pdo;
    protected $tablePrefix;
    protected $sql = '';
    protected $affected = 0;
    /** tests: make every query fail */
    public $broken = false;

    public function __construct($pdo, $prefix)
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
        $this->sql = $this->replacePrefix((string) $query);
        return $this;
    }

    public function execute()
    {
        if ($this->broken) {
            throw new RuntimeException('Lost connection to MySQL server', 2013);
        }
        try {
            $st = $this->pdo->query($this->sql);
        } catch (PDOException $e) {
            throw new RuntimeException($e->getMessage(), (int) $e->getCode());
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
        $st = $this->execute();
        return $st->fetchAll(PDO::FETCH_ASSOC);
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

    public function getPrefix()
    {
        return $this->tablePrefix;
    }
}

class JUser
{
    public $id = 0;
    public $name = null;
    public $username = null;
    public $email = null;
    public $password = null;
    public $block = 0;
    public $guest = 1;

    public function __construct($props = array())
    {
        foreach ($props as $k => $v) {
            $this->$k = $v;
        }
        $this->guest = $this->id ? 0 : 1;
    }

    public function get($property, $default = null)
    {
        return isset($this->$property) ? $this->$property : $default;
    }
}

class JApplicationCms
{
    public $redirected = null;
    public $messages = array();
    /** @var JInput */
    public $input;

    public function __construct()
    {
        $this->input = new JInput();
    }

    public function redirect($url, $msg = '', $msgType = 'message', $moved = false)
    {
        $this->redirected = $url;
        if ($msg !== '') {
            $this->messages[] = array($msg, $msgType);
        }
    }

    public function enqueueMessage($msg, $type = 'message')
    {
        $this->messages[] = array($msg, $type);
    }
}

class JFactory
{
    public static $database = null;
    public static $user = null;
    public static $application = null;
    public static $session = null;

    public static function getSession(array $options = array())
    {
        if (self::$session === null) {
            self::$session = new JSession();
        }
        return self::$session;
    }

    public static function getDbo()
    {
        return self::$database;
    }

    public static function getUser($id = null)
    {
        if (self::$user === null) {
            self::$user = new JUser();
        }
        return self::$user;
    }

    public static function getApplication($id = null, array $config = array(), $prefix = 'J')
    {
        if (self::$application === null) {
            self::$application = new JApplicationCms();
        }
        return self::$application;
    }
}

class JText
{
    public static function _($string, $jsSafe = false, $interpretBackSlashes = true, $script = false)
    {
        return $string;
    }
}

/** The form field base class, as far as the plugin's status field uses it. */
abstract class JFormField
{
    /** @var object the form: getValue($name, $group) */
    public $form = null;

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

class JRequest
{
    public static $data = array();

    public static function getCmd($name, $default = '', $hash = 'default')
    {
        return isset(self::$data[$name]) ? preg_replace('/[^A-Z0-9_\.-]/i', '', (string) self::$data[$name]) : $default;
    }

    /** The form token is a request variable named by the token, with the value 1. */
    public static function checkToken($method = 'post')
    {
        return isset(self::$data[JSession::getFormToken()]) && (string) self::$data[JSession::getFormToken()] === '1';
    }
}

/** The form token, and the user's session as an array (tests read and preset $data). */
class JSession
{
    public $data = array();

    public static function getFormToken($forceNew = false)
    {
        return 'c0ffee00c0ffee00c0ffee00c0ffee00';
    }

    public function get($name, $default = null, $namespace = 'default')
    {
        return isset($this->data[$namespace . '.' . $name]) ? $this->data[$namespace . '.' . $name] : $default;
    }

    public function set($name, $value = null, $namespace = 'default')
    {
        $this->data[$namespace . '.' . $name] = $value;
    }
}

class JUri
{
    public static $current = 'http://localhost/administrator/index.php?option=com_plugins&view=plugin&layout=edit&extension_id=9';

    public static function getInstance($uri = 'SERVER')
    {
        return new self();
    }

    public function toString(array $parts = array())
    {
        return self::$current;
    }
}

/** The request's variables (tests fill $data). */
class JInput
{
    public $data = array();

    public function get($name, $default = null, $filter = 'cmd')
    {
        return isset($this->data[$name]) ? $this->data[$name] : $default;
    }

    public function getCmd($name, $default = '')
    {
        return preg_replace('/[^A-Z0-9_\.-]/i', '', (string) $this->get($name, $default));
    }

    public function getString($name, $default = '')
    {
        return (string) $this->get($name, $default);
    }

    public function getInt($name, $default = 0)
    {
        return (int) $this->get($name, $default);
    }
}

/** The enabled plugins' rows (tests fill $plugins, keyed 'type.name'). */
class JPluginHelper
{
    public static $plugins = array();

    public static function getPlugin($type, $plugin = null)
    {
        return isset(self::$plugins[$type . '.' . $plugin]) ? self::$plugins[$type . '.' . $plugin] : array();
    }
}
