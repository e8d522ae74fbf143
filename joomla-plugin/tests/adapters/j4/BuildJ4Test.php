<?php
use PHPUnit\Framework\TestCase;

/** The 4.x package: pkg manifest, the user plugin zip and the task plugin zip inside, each matching its manifest. */
class BuildJ4Test extends TestCase
{
    public function testPackageMatchesItsManifests()
    {
        CivicrmBridgePackageChecks::assertPackage($this, 'pkg_civicrmbridge_j4.zip');
    }

    public function testAdapterSourcesParseOnPhp72()
    {
        foreach (CivicrmBridgeSyntaxChecks::phpFiles(CivicrmBridgeTestFixture::pluginRoot() . '/adapters/j4') as $f) {
            CivicrmBridgeSyntaxChecks::assertPhpSyntaxFor($f, '7.2');
        }
    }
}
