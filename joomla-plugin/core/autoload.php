<?php
/**
 * Loads the whole core (adapters and the cron script include this file). Plain require_once
 * rather than an autoloader: PHP 5.2 has no closures, and Joomla 1.5 registers its own
 * __autoload that a spl_autoload_register call would silently replace.
 */
if (!class_exists('CivicrmBridge_Bridge', false)) {
    $civicrmBridgeCore = dirname(__FILE__);
    require_once $civicrmBridgeCore . '/CivicrmBridge_Json.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_Config.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_Jwt.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_EventMapper.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_Transport.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_CurlTransport.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_Db.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_PdoDb.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_JoomlaDb.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_Outbox.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_Logger.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_NullLogger.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_ErrorLogLogger.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_Bridge.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_AdminPanel.php';
    require_once $civicrmBridgeCore . '/CivicrmBridge_LazyLink.php';
    unset($civicrmBridgeCore);
}
