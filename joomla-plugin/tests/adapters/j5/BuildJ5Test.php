<?php
use PHPUnit\Framework\TestCase;

/** The 5.x/6.x package: pkg manifest, the user plugin zip (typed events) and the task plugin zip. */
class BuildJ5Test extends TestCase
{
    public function testPackageMatchesItsManifests()
    {
        list($pkg, , $user) = CivicrmBridgePackageChecks::assertPackage($this, 'pkg_civicrmbridge_j5.zip');
        $this->assertStringContainsString('SubscriberInterface', $user['src/Extension/Civicrmbridge.php']);
        $this->assertStringContainsString('AfterSaveEvent', $user['src/Extension/Civicrmbridge.php']);
        $this->assertSame('8.1.0', (string) $pkg->php_minimum);
    }

    public function testJ4AndJ5ShipDifferentUserPlugins()
    {
        $j4 = CivicrmBridgeZipReader::read(CivicrmBridgeBuildChecks::zip('pkg_civicrmbridge_j4.zip')['packages/plg_user_civicrmbridge.zip']);
        $j5 = CivicrmBridgeZipReader::read(CivicrmBridgeBuildChecks::zip('pkg_civicrmbridge_j5.zip')['packages/plg_user_civicrmbridge.zip']);
        $this->assertNotSame($j4['src/Extension/Civicrmbridge.php'], $j5['src/Extension/Civicrmbridge.php']);
        $this->assertStringNotContainsString('SubscriberInterface', $j4['src/Extension/Civicrmbridge.php']);
    }
}
