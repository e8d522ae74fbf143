<?php

use PHPUnit\Framework\TestCase;

final class ConfigTest extends TestCase
{
    public const SECRET = '0123456789abcdef0123456789abcdef';

    public function testDefaults(): void
    {
        $c = new CivicrmBridge_Config([]);
        $this->assertSame(2.0, $c->get('timeout'));
        $this->assertSame(20, $c->get('outbox_max_attempts'));
        $this->assertSame(10, $c->get('outbox_batch'));
        $this->assertSame(1, $c->get('menu_gid'));
        foreach (['save', 'login', 'delete', 'logout'] as $kind) {
            $this->assertTrue($c->forwards($kind), $kind);
        }
        $this->assertFalse($c->forwards('before-save'));
        $this->assertFalse($c->forwards(null));
        $this->assertFalse($c->isConfigured());
        $this->assertNull($c->get('nope'));
    }

    /** Every generation's parameter object (get($key, $default)) or the decoded #__extensions JSON. */
    public function testFromParamsReadsAGetterObjectKeyByKeyOrAnArray(): void
    {
        $registry = new class {
            public array $asked = [];

            public function get($key, $default = null)
            {
                $this->asked[] = $key;
                $data = ['bridge_url' => 'https://bridge.example.org', 'secret' => ConfigTest::SECRET, 'site_id' => 's1', 'timeout' => '', 'forward_login' => '0'];
                return $data[$key] ?? $default;
            }
        };
        $c = CivicrmBridge_Config::fromParams($registry);
        $this->assertTrue($c->isConfigured());
        $this->assertSame(2.0, $c->get('timeout'), 'an empty value is the default');
        $this->assertFalse($c->forwards('login'));
        $this->assertSame(['bridge_url', 'secret', 'site_id', 'timeout', 'forward_save', 'forward_login', 'forward_delete',
            'forward_logout', 'outbox_max_attempts', 'outbox_batch', 'menu_gid'], $registry->asked);
        $fromArray = CivicrmBridge_Config::fromParams(['bridge_url' => 'https://b.example.org', 'secret' => self::SECRET, 'site_id' => 's1', 'outbox_batch' => '', 'unknown' => 1]);
        $this->assertTrue($fromArray->isConfigured());
        $this->assertSame(10, $fromArray->get('outbox_batch'));
        foreach ([null, 'text', 42, new stdClass()] as $nothing) {
            $this->assertFalse(CivicrmBridge_Config::fromParams($nothing)->isConfigured());
        }
    }

    public function testNormalisation(): void
    {
        $c = new CivicrmBridge_Config(['bridge_url' => ' https://bridge.example.org/// ', 'secret' => self::SECRET . "\n", 'site_id' => 'site-1',
            'timeout' => '0.05', 'outbox_max_attempts' => '3', 'outbox_batch' => 0, 'menu_gid' => '7']);
        $this->assertSame('https://bridge.example.org', $c->get('bridge_url'));
        $this->assertSame(self::SECRET, $c->get('secret'));
        $this->assertSame(0.2, $c->get('timeout'));
        $this->assertSame(3, $c->get('outbox_max_attempts'));
        $this->assertSame(1, $c->get('outbox_batch'));
        $this->assertSame(7, $c->get('menu_gid'));
        $this->assertTrue($c->isConfigured());
        $this->assertSame(10.0, (new CivicrmBridge_Config(['timeout' => 99]))->get('timeout'));
        $this->assertSame(2.0, (new CivicrmBridge_Config(['timeout' => 'abc']))->get('timeout'));
        $this->assertSame(1.5, (new CivicrmBridge_Config(['timeout' => '1.5']))->get('timeout'));
    }

    public function testSwitches(): void
    {
        $values = ['0' => false, 0 => false, 'false' => false, 'off' => false, 'no' => false, '1' => true, 1 => true, 'true' => true, '' => true];
        foreach ($values as $raw => $expected) {
            $this->assertSame($expected, (new CivicrmBridge_Config(['forward_login' => $raw]))->forwards('login'), var_export($raw, true));
        }
        $this->assertFalse((new CivicrmBridge_Config(['forward_delete' => false]))->forwards('delete'));
        $this->assertTrue((new CivicrmBridge_Config(['forward_delete' => true]))->forwards('delete'));
        $c = new CivicrmBridge_Config(['forward_save' => '0', 'forward_logout' => 0]);
        $this->assertFalse($c->forwards('save'));
        $this->assertFalse($c->forwards('logout'));
        $this->assertTrue($c->forwards('login'));
    }

    public function testIsConfigured(): void
    {
        $ok = ['bridge_url' => 'http://127.0.0.1:8080', 'secret' => self::SECRET, 'site_id' => 's'];
        $this->assertTrue((new CivicrmBridge_Config($ok))->isConfigured());
        $this->assertFalse((new CivicrmBridge_Config(['secret' => substr(self::SECRET, 1)] + $ok))->isConfigured(), '31-byte secret');
        $this->assertFalse((new CivicrmBridge_Config(['site_id' => ''] + $ok))->isConfigured());
        $this->assertFalse((new CivicrmBridge_Config(['site_id' => str_repeat('s', 65)] + $ok))->isConfigured());
        $this->assertFalse((new CivicrmBridge_Config(['bridge_url' => ''] + $ok))->isConfigured());
        $this->assertFalse((new CivicrmBridge_Config(['bridge_url' => 'ftp://x'] + $ok))->isConfigured());
    }

    public function testObjectsAndGarbageDoNotFatal(): void
    {
        $o = new stdClass();
        $o->site_id = 'from-object';
        $this->assertSame('from-object', (new CivicrmBridge_Config($o))->get('site_id'));
        $this->assertFalse((new CivicrmBridge_Config('nonsense'))->isConfigured());
        $this->assertSame('', (new CivicrmBridge_Config(['secret' => ['x']]))->get('secret'));
    }
}
