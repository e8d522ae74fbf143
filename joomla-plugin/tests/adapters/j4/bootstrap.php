<?php
/** Joomla 4.x adapter tests: 4.x stubs, the core, the namespaced user and task plugins, the fixtures. */
require_once dirname(__DIR__) . '/fixtures/LoadGeneration.php';
CivicrmBridgeGeneration::bootstrapTests('j4');
