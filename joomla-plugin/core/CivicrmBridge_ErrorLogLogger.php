<?php
/** Logs to PHP's error_log(), from a minimum level up (default: warnings and errors). */
class CivicrmBridge_ErrorLogLogger implements CivicrmBridge_Logger
{
    private static $ranks = array('debug' => 0, 'info' => 1, 'warning' => 2, 'error' => 3);
    private $min;

    public function __construct($minLevel = 'warning')
    {
        $this->min = isset(self::$ranks[$minLevel]) ? self::$ranks[$minLevel] : 2;
    }

    public function log($level, $message)
    {
        $rank = isset(self::$ranks[$level]) ? self::$ranks[$level] : 3;
        if ($rank >= $this->min) {
            // One line per entry: newlines in a message would forge log lines.
            error_log('[civicrm-bridge] ' . $level . ': ' . str_replace(array("\r", "\n"), ' ', (string) $message));
        }
    }
}
