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
        if ($this->broken) {
            $this->_errorNum = 2006;
            $this->_errorMsg = 'MySQL server has gone away SQL=' . $this->_sql;
            return false;
        }
        try {
            $this->_stmt = $this->_pdo->query($this->_sql);
            $this->_affected = $this->_stmt->rowCount();
            return $this->_stmt;
        } catch (PDOException $e) {
            $this->_errorNum = (int) $e->getCode();
            $this->_errorMsg = $e->getMessage() . ' SQL=' . $this->_sql;
            return false;
        }
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

/** The site application ($mainframe); redirect() records instead of exiting. */
class JApplication extends JObject
{
    var $redirected = null;
    var $messages = array();

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
    }
}

class JFactory
{
    /** test hooks */
    static $database = null;
    static $user = null;
    static $application = null;

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
}

class JText
{
    static function _($string, $jsSafe = false)
    {
        return $string;
    }
}
