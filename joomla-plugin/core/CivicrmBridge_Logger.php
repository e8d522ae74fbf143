<?php
/**
 * Where the core reports what it did and what went wrong. Adapters may wrap JLog/Log.
 * Messages never contain the secret, a token or a password.
 */
interface CivicrmBridge_Logger
{
    /**
     * @param string $level 'debug', 'info', 'warning' or 'error'
     * @param string $message one line
     */
    public function log($level, $message);
}
