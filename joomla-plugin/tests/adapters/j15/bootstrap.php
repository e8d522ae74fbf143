<?php
/** Joomla 1.5 adapter tests: 1.5 stubs, the core, the adapter, the shared fixtures. */
require_once dirname(__DIR__) . '/fixtures/LoadGeneration.php';
CivicrmBridgeGeneration::bootstrapTests('j15');
