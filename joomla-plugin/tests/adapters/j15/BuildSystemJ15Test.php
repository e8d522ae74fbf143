<?php
use PHPUnit\Framework\TestCase;

/** The 1.5 system plugin zip (lazy linking): manifest, files, PHP 5.2 syntax. */
class BuildSystemJ15Test extends TestCase
{
    public function testZipMatchesItsManifest()
    {
        $files = CivicrmBridgeBuildChecks::zip('plg_system_civicrmbridge_j15.zip');
        $xml = CivicrmBridgeBuildChecks::manifest($files, 'civicrmbridge.xml');
        $this->assertSame('install', $xml->getName());
        $this->assertSame('1.5', (string) $xml['version']);
        $this->assertSame('system', (string) $xml['group']);
        CivicrmBridgeBuildChecks::assertManifestMatchesZip($xml, $files, 'civicrmbridge.xml');
        CivicrmBridgeBuildChecks::assertPhpLints($files);
        $this->assertSame(array('civicrmbridge.xml', 'civicrmbridge.php'), array_keys($files), 'the core comes from the user plugin');
    }

    public function testSourcesUsePhp52Syntax()
    {
        $files = CivicrmBridgeSyntaxChecks::phpFiles(CivicrmBridgeTestFixture::pluginRoot() . '/adapters/system/j15');
        $this->assertCount(1, $files);
        CivicrmBridgeSyntaxChecks::assertPhpSyntaxFor($files[0], '5.2');
    }
}
