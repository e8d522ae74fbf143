<?php
/** Joomla 5.x/6.x adapter tests: 5.x stubs, the core, the namespaced user plugin, the task plugin, the fixtures. */
require_once dirname(__DIR__) . '/fixtures/LoadGeneration.php';
CivicrmBridgeGeneration::bootstrapTests('j5');
