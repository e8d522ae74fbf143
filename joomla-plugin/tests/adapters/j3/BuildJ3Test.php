<?php
use PHPUnit\Framework\TestCase;

/** The 1.6-3.x zip: <extension version="3.1" type="plugin" group="user" method="upgrade">, files, sql, languages. */
class BuildJ3Test extends TestCase
{
    public function testZipMatchesItsManifest()
    {
        $files = CivicrmBridgeBuildChecks::zip('plg_user_civicrmbridge_j3.zip');
        $xml = CivicrmBridgeBuildChecks::manifest($files, 'civicrmbridge.xml');
        $this->assertSame('extension', $xml->getName());
        $this->assertStringStartsWith('3', (string) $xml['version']);
        $this->assertSame('plugin', (string) $xml['type']);
        $this->assertSame('user', (string) $xml['group']);
        $this->assertSame('upgrade', (string) $xml['method']);
        $this->assertCount(1, $xml->xpath('files/filename[@plugin="civicrmbridge"]'));
        CivicrmBridgeBuildChecks::assertManifestMatchesZip($xml, $files, 'civicrmbridge.xml');
        $this->assertSame('sql/install.mysql.sql', (string) $xml->install->sql->file);
        $this->assertSame('mysql', (string) $xml->install->sql->file['driver']);
        $this->assertSame('sql/uninstall.mysql.sql', (string) $xml->uninstall->sql->file);
        $this->assertStringContainsString('CREATE TABLE IF NOT EXISTS `#__civicrm_bridge_outbox`', $files['sql/install.mysql.sql']);
        $names = array();
        foreach ($xml->xpath('config/fields[@name="params"]/fieldset/field[@name]') as $f) {
            $names[] = (string) $f['name'];
        }
        CivicrmBridgeBuildChecks::assertParams($names);
        $this->assertCount(1, $xml->xpath('config/fields[@name="params"]/fieldset[@name="basic"]'));
        CivicrmBridgeBuildChecks::assertCoreShipped($files, 'core/');
        $ini = $files['language/en-GB/en-GB.plg_user_civicrmbridge.ini'];
        $this->assertIsArray(parse_ini_string($ini), 'the .ini parses');
        $this->assertIsArray(parse_ini_string($files['language/en-GB/en-GB.plg_user_civicrmbridge.sys.ini']));
        CivicrmBridgeBuildChecks::assertKeysDefined($xml, $files['civicrmbridge.xml'], $ini);
        CivicrmBridgeBuildChecks::assertWrittenForASiteOwner($ini, true);
        CivicrmBridgeBuildChecks::assertWrittenForASiteOwner($files['language/en-GB/en-GB.plg_user_civicrmbridge.sys.ini'], true);
        // MySQL before 5.5.3 has no utf8mb4 and 1.6 - 3.4 installers run the file as it is.
        $this->assertStringNotContainsString('CHARSET=utf8mb4', $files['sql/install.mysql.sql']);
        $this->assertStringContainsString('DEFAULT CHARSET=utf8;', $files['sql/install.mysql.sql']);
        $this->assertArrayHasKey('fields/civicrmbridgestatus.php', $files);
        $this->assertSame('/plugins/user/civicrmbridge/fields', (string) $xml->config->fields['addfieldpath']);
        CivicrmBridgeBuildChecks::assertPhpLints($files);
    }

    public function testAdapterSourcesUsePhp53Syntax()
    {
        foreach (CivicrmBridgeSyntaxChecks::phpFiles(CivicrmBridgeTestFixture::pluginRoot() . '/adapters/j3') as $f) {
            CivicrmBridgeSyntaxChecks::assertPhpSyntaxFor($f, '5.3');
        }
    }
}
