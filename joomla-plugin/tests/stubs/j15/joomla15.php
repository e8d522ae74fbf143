<?php
/**
 * Minimal stubs of the Joomla 1.5 classes the j15 adapter uses (JPlugin, JParameter, JFactory,
 * JDatabase, JRequest, JUser, the application's redirect). JDatabase runs its SQL on a real
 * MariaDB through PDO, with 1.5's error style: query() returns false, no exceptions.
 */
if (!defined('_JEXEC')) {
    define('_JEXEC', 1);
}
if (!defined('JPATH_BASE')) {
    define('JPATH_BASE', sys_get_temp_dir());
}
if (!defined('JPATH_ADMINISTRATOR')) {
    define('JPATH_ADMINISTRATOR', sys_get_temp_dir());
}

class JObject
{
    function get($property, $default = null)
    {
        return isset($this->$property) ? $this->$property : $default;
    }

    function set($property, $value = null)
    {
        $previous = isset($this->$property) ? $this->$property : null;
        $this->$property = $value;
        return $previous;
    }
}

/** 1.5 plugin params: INI text "key=value" per line. */
class JParameter
{
    var $_data = array();

    function __construct($data, $path = '')
    {
        if (is_array($data)) {
            $this->_data = $data;
            return;
        }
        foreach (preg_split('/\r?\n/', (string) $data) as $line) {
            $pos = strpos($line, '=');
            if ($pos !== false) {
                $this->_data[trim(substr($line, 0, $pos))] = trim(substr($line, $pos + 1));
            }
        }
    }

    function get($key, $default = '', $group = '_default')
    {
        return isset($this->_data[$key]) && $this->_data[$key] !== '' ? $this->_data[$key] : $default;
    }

    function set($key, $value = '', $group = '_default')
    {
        $this->_data[$key] = $value;
    }
}

class JDispatcher extends JObject
{
}

class JEvent extends JObject
{
    var $_subject = null;

    function __construct(&$subject)
    {
        $this->_subject = $subject;
    }
}

class JPlugin extends JEvent
{
    var $params = null;
    var $_name = null;
    var $_type = null;

    function __construct(&$subject, $config = array())
    {
        if (isset($config['params'])) {
            if (is_a($config['params'], 'JParameter')) {
                $this->params = $config['params'];
            } else {
                $this->params = new JParameter($config['params']);
            }
        }
        if (isset($config['name'])) {
            $this->_name = $config['name'];
        }
        if (isset($config['type'])) {
            $this->_type = $config['type'];
        }
        parent::__construct($subject);
    }

    function loadLanguage($extension = '', $basePath = JPATH_BASE)
    {
        return true;
    }
}

class JDatabase extends JObject
{
    /** @var PDO */
    var $_pdo;
    var $_table_prefix;
    var $_sql = '';
    var $_errorNum = 0;
    var $_errorMsg = '';
    var $_affected = 0;
    var $_stmt = null;
    /** tests: make every query fail */
    var $broken = false;
    /** 1.5's debug flag (Global Configuration - Debug System): an SQL error raises JError 500 */
    var $_debug = 0;
    /** tests: every statement run */
    var $log = array();

    function __construct($pdo, $prefix)
    {
        $this->_pdo = $pdo;
        $this->_table_prefix = $prefix;
    }

    function replacePrefix($sql, $prefix = '#__')
    {
        return str_replace($prefix, $this->_table_prefix, $sql);
    }

    function setQuery($sql, $offset = 0, $limit = 0, $prefix = '#__')
    {
        $this->_sql = $this->replacePrefix($sql, $prefix);
    }

    function getQuery()
    {
        return $this->_sql;
    }

    function query()
    {
        $this->_errorNum = 0;
        $this->_errorMsg = '';
        $this->_stmt = null;
        $this->log[] = $this->_sql;
        if ($this->broken) {
            $this->_errorNum = 2006;
            $this->_errorMsg = 'MySQL server has gone away SQL=' . $this->_sql;
        } else {
            try {
                $this->_stmt = $this->_pdo->query($this->_sql);
                $this->_affected = $this->_stmt->rowCount();
                return $this->_stmt;
            } catch (PDOException $e) {
                // The MySQL error number (1146: no such table), as mysql_errno() gives it.
                $this->_errorNum = isset($e->errorInfo[1]) ? (int) $e->errorInfo[1] : (int) $e->getCode();
                $this->_errorMsg = $e->getMessage() . ' SQL=' . $this->_sql;
            }
        }
        if ($this->_debug) {
            JError::raiseError(500, 'JDatabaseMySQL::query: ' . $this->_errorNum . ' - ' . $this->_errorMsg);
        }
        return false;
    }

    function debug($level)
    {
        $this->_debug = (int) $level;
    }

    function getAffectedRows()
    {
        return $this->_affected;
    }

    function loadAssocList($key = '')
    {
        if (!($cur = $this->query())) {
            return null;
        }
        return $cur->fetchAll(PDO::FETCH_ASSOC);
    }

    function loadResult()
    {
        if (!($cur = $this->query())) {
            return null;
        }
        $row = $cur->fetch(PDO::FETCH_NUM);
        return $row ? $row[0] : null;
    }

    function getEscaped($text, $extra = false)
    {
        $q = $this->_pdo->quote((string) $text);
        $result = substr($q, 1, -1);
        if ($extra) {
            $result = addcslashes($result, '%_');
        }
        return $result;
    }

    function Quote($text, $escaped = true)
    {
        return '\'' . ($escaped ? $this->getEscaped($text) : $text) . '\'';
    }

    function getErrorNum()
    {
        return $this->_errorNum;
    }

    function getErrorMsg($escaped = false)
    {
        return $this->_errorMsg;
    }

    function getPrefix()
    {
        return $this->_table_prefix;
    }
}

class JUser extends JObject
{
    var $id = 0;
    var $name = null;
    var $username = null;
    var $email = null;
    var $password = null;
    var $block = 0;
    var $guest = 1;
    var $gid = 0;

    function __construct($props = array())
    {
        foreach ($props as $k => $v) {
            $this->$k = $v;
        }
        $this->guest = $this->id ? 0 : 1;
    }
}

/**
 * JError as 1.5 sets it up: E_ERROR handled by 'callback' JError::customErrorPage, which renders
 * the error page and exits (here: recorded in $pages, so a test sees it happened).
 */
class JError
{
    static $handlers = array();
    static $pages = array();

    static function reset()
    {
        JError::$handlers = array(
            E_NOTICE => array('mode' => 'message'),
            E_WARNING => array('mode' => 'message'),
            E_ERROR => array('mode' => 'callback', 'options' => array('JError', 'customErrorPage')),
        );
        JError::$pages = array();
    }

    static function getErrorHandling($level)
    {
        return JError::$handlers[$level];
    }

    static function setErrorHandling($level, $mode, $options = null)
    {
        JError::$handlers[$level] = array('mode' => $mode);
        if ($options !== null) {
            JError::$handlers[$level]['options'] = $options;
        }
        return true;
    }

    static function raiseError($code, $msg, $info = null)
    {
        if (JError::$handlers[E_ERROR]['mode'] === 'callback') {
            JError::$pages[] = $code . ' ' . $msg;
        }
        return false;
    }
}
JError::reset();

class JSession extends JObject
{
    var $data = array();

    function set($name, $value = null, $namespace = 'default')
    {
        $this->data[$namespace . '.' . $name] = $value;
    }

    function get($name, $default = null, $namespace = 'default')
    {
        return isset($this->data[$namespace . '.' . $name]) ? $this->data[$namespace . '.' . $name] : $default;
    }
}

class JURI extends JObject
{
    static $current = 'http://localhost/administrator/index.php?option=com_plugins&view=plugin&client=site&task=edit&cid[]=9';
    var $_uri;

    static function &getInstance($uri = 'SERVER')
    {
        $instance = new JURI();
        $instance->_uri = JURI::$current;
        return $instance;
    }

    function toString($parts = array())
    {
        return $this->_uri;
    }
}

class JUtility
{
    static function getToken($forceNew = false)
    {
        return 'f00dcafef00dcafef00dcafef00dcafe';
    }
}

/** JParameter's element base class (what fetchElement gets: $this->_parent is the JParameter). */
class JElement extends JObject
{
    var $_parent = null;

    function __construct($parent = null)
    {
        $this->_parent = $parent;
    }
}

/** The site application ($mainframe); redirect() records instead of exiting. */
class JApplication extends JObject
{
    var $redirected = null;
    var $messages = array();
    var $_messageQueue = array();
    var $closed = false;

    function close($code = 0)
    {
        $this->closed = true; // the real one exits
    }

    function redirect($url, $msg = '', $msgType = 'message')
    {
        $this->redirected = $url;
        if ($msg !== '') {
            $this->messages[] = array($msg, $msgType);
        }
    }

    function enqueueMessage($msg, $type = 'message')
    {
        $this->messages[] = array($msg, $type);
        $this->_messageQueue[] = array('message' => $msg, 'type' => strtolower($type));
    }
}

class JFactory
{
    /** test hooks */
    static $database = null;
    static $user = null;
    static $application = null;
    static $session = null;

    static function &getSession($options = array())
    {
        if (JFactory::$session === null) {
            JFactory::$session = new JSession();
        }
        return JFactory::$session;
    }

    static function &getDBO()
    {
        return JFactory::$database;
    }

    static function &getUser($id = null)
    {
        if (JFactory::$user === null) {
            JFactory::$user = new JUser();
        }
        return JFactory::$user;
    }

    static function &getApplication($id = null, $config = array(), $prefix = 'J')
    {
        if (JFactory::$application === null) {
            JFactory::$application = new JApplication();
        }
        return JFactory::$application;
    }
}

class JRequest
{
    static $data = array();

    static function getVar($name, $default = null, $hash = 'default', $type = 'none', $mask = 0)
    {
        return isset(JRequest::$data[$name]) ? JRequest::$data[$name] : $default;
    }

    static function getCmd($name, $default = '', $hash = 'default')
    {
        return preg_replace('/[^A-Z0-9_\.-]/i', '', (string) JRequest::getVar($name, $default));
    }

    static function getInt($name, $default = 0, $hash = 'default')
    {
        return (int) JRequest::getVar($name, $default);
    }

    static function setVar($name, $value = null, $hash = 'method', $overwrite = true)
    {
        JRequest::$data[$name] = $value;
    }

    /** 1.5: the form token is a request variable named by the token, with the value 1. */
    static function checkToken($method = 'post')
    {
        return JRequest::getVar(JUtility::getToken(), '') === '1' || JRequest::getVar(JUtility::getToken(), '') === 1;
    }
}

class JText
{
    static function _($string, $jsSafe = false)
    {
        return $string;
    }
}

/** The enabled plugins' rows (tests fill $plugins, keyed 'type.name'). */
class JPluginHelper
{
    static $plugins = array();

    static function getPlugin($type, $plugin = null)
    {
        return isset(JPluginHelper::$plugins[$type . '.' . $plugin]) ? JPluginHelper::$plugins[$type . '.' . $plugin] : array();
    }
}

if (!defined('JPATH_PLUGINS')) {
    define('JPATH_PLUGINS', sys_get_temp_dir() . '/civibridge-no-plugins');
}
