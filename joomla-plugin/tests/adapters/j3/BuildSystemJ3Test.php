<?php
use PHPUnit\Framework\TestCase;

/** The 1.6-3.x system plugin zip (lazy linking): manifest, files, PHP 5.3 syntax. */
class BuildSystemJ3Test extends TestCase
{
    public function testZipMatchesItsManifest()
    {
        $files = CivicrmBridgeBuildChecks::zip('plg_system_civicrmbridge_j3.zip');
        $xml = CivicrmBridgeBuildChecks::manifest($files, 'civicrmbridge.xml');
        $this->assertSame('extension', $xml->getName());
        $this->assertSame('plugin', (string) $xml['type']);
        $this->assertSame('system', (string) $xml['group']);
        CivicrmBridgeBuildChecks::assertManifestMatchesZip($xml, $files, 'civicrmbridge.xml');
        CivicrmBridgeBuildChecks::assertPhpLints($files);
    }

    public function testSourcesUsePhp53Syntax()
    {
        $files = CivicrmBridgeSyntaxChecks::phpFiles(CivicrmBridgeTestFixture::pluginRoot() . '/adapters/system/j3');
        $this->assertCount(1, $files);
        CivicrmBridgeSyntaxChecks::assertPhpSyntaxFor($files[0], '5.3');
    }
}
