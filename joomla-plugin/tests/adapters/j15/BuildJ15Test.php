<?php
use PHPUnit\Framework\TestCase;

/** The 1.5 zip: manifest root/attributes, every listed file shipped, the core inside, PHP 5.2 syntax. */
class BuildJ15Test extends TestCase
{
    public function testZipMatchesItsManifest()
    {
        $files = CivicrmBridgeBuildChecks::zip('plg_user_civicrmbridge_j15.zip');
        $xml = CivicrmBridgeBuildChecks::manifest($files, 'civicrmbridge.xml');
        $this->assertSame('install', $xml->getName());
        $this->assertSame('1.5', (string) $xml['version']);
        $this->assertSame('plugin', (string) $xml['type']);
        $this->assertSame('user', (string) $xml['group']);
        $plugin = $xml->xpath('files/filename[@plugin="civicrmbridge"]');
        $this->assertCount(1, $plugin);
        $this->assertSame('civicrmbridge.php', (string) $plugin[0]);
        CivicrmBridgeBuildChecks::assertManifestMatchesZip($xml, $files, 'civicrmbridge.xml');
        $names = array();
        foreach ($xml->xpath('params/param[@name]') as $p) {
            $names[] = (string) $p['name'];
        }
        CivicrmBridgeBuildChecks::assertParams($names);
        CivicrmBridgeBuildChecks::assertCoreShipped($files, 'civicrmbridge/core/');
        CivicrmBridgeBuildChecks::assertKeysDefined($xml, $files['civicrmbridge.xml'], $files['en-GB.plg_user_civicrmbridge.ini']);
        // 1.5 showed raw language keys: its labels and descriptions are plain English.
        foreach ($xml->xpath('//param') as $p) {
            foreach (array('label', 'description', 'default') as $attr) {
                $this->assertDoesNotMatchRegularExpression('/^PLG_/', (string) $p[$attr], 'param ' . $p['name'] . ' ' . $attr . ' is text, not a key');
            }
        }
        $this->assertDoesNotMatchRegularExpression('/^PLG_/', (string) $xml->description);
        CivicrmBridgeBuildChecks::assertWrittenForASiteOwner($files['civicrmbridge.xml'], false);
        $this->assertSame(array('civicrmbridge/elements/civicrmbridgestatus.php'), array_values(array_filter(array_keys($files), function ($f) {
            return strpos($f, 'elements/') !== false;
        })), 'the options panel element ships where params addpath points');
        $this->assertSame('/plugins/user/civicrmbridge/elements', (string) $xml->params['addpath']);
        CivicrmBridgeBuildChecks::assertPhpLints($files);
    }

    public function testAdapterSourcesUsePhp52Syntax()
    {
        $dir = CivicrmBridgeTestFixture::pluginRoot() . '/adapters/j15';
        $files = CivicrmBridgeSyntaxChecks::phpFiles($dir);
        $this->assertGreaterThanOrEqual(3, count($files));
        foreach ($files as $f) {
            CivicrmBridgeSyntaxChecks::assertPhpSyntaxFor($f, '5.2');
        }
    }

    /** The core's own PHP 5.2 checker (tests/php52-syntax-check.php) agrees, when present. */
    public function testCorePhp52CheckerAcceptsTheAdapter()
    {
        $checker = CivicrmBridgeTestFixture::pluginRoot() . '/tests/php52-syntax-check.php';
        if (!is_file($checker)) {
            $this->markTestSkipped('tests/php52-syntax-check.php not present');
        }
        exec(escapeshellarg(PHP_BINARY) . ' ' . escapeshellarg($checker) . ' '
            . escapeshellarg(CivicrmBridgeTestFixture::pluginRoot() . '/adapters/j15') . ' 2>&1', $out, $code);
        $this->assertSame(0, $code, implode("\n", $out));
    }
}
