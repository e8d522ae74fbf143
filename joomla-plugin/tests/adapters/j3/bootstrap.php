<?php
/** Joomla 1.6-3.x adapter tests: 3.x stubs, the core, the adapter, the shared fixtures. */
require_once dirname(__DIR__) . '/fixtures/LoadGeneration.php';
CivicrmBridgeGeneration::bootstrapTests('j3');

/** The same plugin as on Joomla 1.6 - 3.1, where onUserAfterLogin does not exist. */
class PlgUserCivicrmbridgeOnJoomla31 extends PlgUserCivicrmbridge
{
    protected function afterLoginAvailable()
    {
        return false;
    }
}
