<?php
/** A logger that drops everything (the default when an adapter gives none). */
class CivicrmBridge_NullLogger implements CivicrmBridge_Logger
{
    public function log($level, $message)
    {
    }
}
