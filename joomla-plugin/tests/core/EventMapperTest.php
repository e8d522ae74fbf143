<?php

use PHPUnit\Framework\TestCase;

final class EventMapperTest extends TestCase
{
    private const AT = '2026-11-25T08:00:00.000Z';

    public function testWhitelistKeepsFiveFieldsAndNeverThePassword(): void
    {
        $login = ['username' => 'ann', 'email' => 'ann@example.org', 'fullname' => 'Ann Lee', 'password' => 'hunter2', 'password_clear' => 'hunter2',
            'status' => 1, 'type' => 'Joomla', 'error_message' => '', 'params' => '{}', 'usertype' => 'Registered', 'gid' => 18];
        $user = CivicrmBridge_EventMapper::whitelistUser($login);
        $this->assertSame(['id' => 0, 'username' => 'ann', 'email' => 'ann@example.org', 'name' => 'Ann Lee', 'block' => 0], $user);
        $body = CivicrmBridge_EventMapper::body('onUserLogin', $login, null, true, self::AT);
        $this->assertStringNotContainsString('hunter2', $body);
        $this->assertStringNotContainsString('password', $body);
        $this->assertStringNotContainsString('usertype', $body);
    }

    public function testWhitelistAcceptsJUserLikeObjects(): void
    {
        $u = new stdClass();
        $u->id = '42';
        $u->name = 'Ann Lee';
        $u->username = 'ann';
        $u->email = 'ann@example.org';
        $u->block = '1';
        $u->password = '$2y$10$hash';
        $u->groups = [2 => 2];
        $this->assertSame(['id' => 42, 'username' => 'ann', 'email' => 'ann@example.org', 'name' => 'Ann Lee', 'block' => 1],
            CivicrmBridge_EventMapper::whitelistUser($u));
    }

    public function testWhitelistNormalisesOddValues(): void
    {
        $this->assertSame(['id' => 0, 'username' => '', 'email' => '', 'name' => '', 'block' => 0], CivicrmBridge_EventMapper::whitelistUser(null));
        $this->assertSame(['id' => 0, 'username' => '', 'email' => '', 'name' => '', 'block' => 0], CivicrmBridge_EventMapper::whitelistUser('ann'));
        $odd = CivicrmBridge_EventMapper::whitelistUser(['id' => -3, 'username' => ['x'], 'email' => null, 'name' => 12, 'block' => 'false']);
        $this->assertSame(['id' => 0, 'username' => '', 'email' => '', 'name' => '12', 'block' => 0], $odd);
        $this->assertSame(1, CivicrmBridge_EventMapper::whitelistUser(['block' => true])['block']);
        $this->assertSame(0, CivicrmBridge_EventMapper::whitelistUser(['block' => '0'])['block']);
        $this->assertSame(1, CivicrmBridge_EventMapper::whitelistUser(['block' => 1])['block']);
    }

    public function testKindOfBothGenerations(): void
    {
        $expected = [
            'onUserAfterSave' => 'save', 'onAfterStoreUser' => 'save',
            'onUserLogin' => 'login', 'onLoginUser' => 'login',
            'onUserAfterDelete' => 'delete', 'onAfterDeleteUser' => 'delete',
            'onUserLogout' => 'logout', 'onLogoutUser' => 'logout',
            'onUserBeforeSave' => 'before-save', 'onBeforeStoreUser' => 'before-save',
            'onUserBeforeDelete' => 'before-delete', 'onBeforeDeleteUser' => 'before-delete',
            'onuseraftersave' => 'save', 'ONLOGINUSER' => 'login',
            'onUserAfterLogin' => null, 'onContentPrepare' => null, '' => null,
        ];
        foreach ($expected as $event => $kind) {
            $this->assertSame($kind, CivicrmBridge_EventMapper::kindOf($event), $event);
        }
        $this->assertNull(CivicrmBridge_EventMapper::kindOf(null));
        $this->assertNull(CivicrmBridge_EventMapper::kindOf(['onUserLogin']));
        $this->assertSame('onLoginUser', CivicrmBridge_EventMapper::nativeName('onloginuser'));
    }

    public function testBodyIsTheProtocolsExactJson(): void
    {
        $user = ['id' => 42, 'username' => 'ann', 'email' => 'ann@example.org', 'name' => 'Ann Lee', 'block' => 0, 'password' => 'x'];
        $this->assertSame(
            '{"event":"onUserAfterSave","user":{"id":42,"username":"ann","email":"ann@example.org","name":"Ann Lee","block":0},"isNew":true,"success":true,"occurredAt":"2026-11-25T08:00:00.000Z"}',
            CivicrmBridge_EventMapper::body('onUserAfterSave', $user, true, true, self::AT)
        );
        // 1.5 names are sent under their own name; null isNew/success are left out.
        $this->assertSame(
            '{"event":"onLoginUser","user":{"id":42,"username":"ann","email":"ann@example.org","name":"Ann Lee","block":0},"occurredAt":"2026-11-25T08:00:00.000Z"}',
            CivicrmBridge_EventMapper::body('onloginuser', $user, null, null, self::AT)
        );
        $this->assertSame(false, json_decode(CivicrmBridge_EventMapper::body('onAfterDeleteUser', $user, null, 0, self::AT), true)['success']);
        $this->assertFalse(CivicrmBridge_EventMapper::body('onSomethingElse', $user, null, null, self::AT));
        // Slashes are not escaped.
        $this->assertStringContainsString('"a/b"', CivicrmBridge_EventMapper::body('onUserLogin', ['id' => 1, 'name' => 'a/b'], null, null, self::AT));
    }

    public function testUtf8AndLongNamesAreSentAsAsciiEscapesAndRoundTrip(): void
    {
        $name = str_repeat('😀', 200) . str_repeat('é', 200); // 400 characters, 4-byte and 2-byte
        $this->assertSame(400, mb_strlen($name));
        $user = ['id' => 7, 'username' => 'Zoë_𝒳', 'email' => 'zoë@exämple.org', 'name' => $name];
        $body = CivicrmBridge_EventMapper::body('onUserAfterSave', $user, false, true, self::AT);
        // Pure ASCII: the bytes survive an outbox table in utf8 (3-byte) or latin1 unchanged.
        $this->assertSame(1, preg_match('/^[\x20-\x7E]+$/', $body), 'the body is printable ASCII only');
        $this->assertStringNotContainsString('😀', $body);
        $this->assertStringContainsString('"username":"Zo\u00eb_\ud835\udcb3"', $body, '4-byte characters as surrogate pairs');
        $this->assertStringContainsString('"email":"zo\u00eb@ex\u00e4mple.org"', $body);
        $this->assertStringContainsString('"name":"' . str_repeat('\ud83d\ude00', 200) . str_repeat('\u00e9', 200) . '"', $body);
        $decoded = json_decode($body, true);
        $this->assertSame($name, $decoded['user']['name'], 'round-trips to the same string');
        $this->assertSame('Zoë_𝒳', $decoded['user']['username']);
        $this->assertSame('zoë@exämple.org', $decoded['user']['email']);
        $this->assertSame($body, CivicrmBridge_EventMapper::body('onUserAfterSave', $decoded['user'], false, true, self::AT), 'stable when encoded again');
    }

    public function testJsonEncodeIsAsciiOnlyForEveryCharacterClass(): void
    {
        // U+2028/2029 (JSON line separators), BMP, astral, the last code point, the replacement character.
        $s = "a\u{2028}b\u{2029}c ✓ Ω 中 🦊 \u{10FFFF} \u{FFFD} </x>";
        $json = CivicrmBridge_Json::encode(['s' => $s]);
        $this->assertSame('{"s":"a\u2028b\u2029c \u2713 \u03a9 \u4e2d \ud83e\udd8a \udbff\udfff \ufffd </x>"}', $json);
        $this->assertSame(['s' => $s], CivicrmBridge_Json::decode($json));
    }

    public function testInvalidUtf8IsReplacedNotAFailedEncode(): void
    {
        $user = ['id' => 7, 'username' => "bad\xff\xfe", 'email' => "e\xc3@x.org", 'name' => "ok \xed\xa0\x80 surrogate, \xf0\x9f\x98 cut, \xc0\xaf overlong, é"];
        $body = CivicrmBridge_EventMapper::body('onUserAfterSave', $user, true, true, self::AT);
        $this->assertIsString($body);
        $this->assertSame(1, preg_match('/^[\x20-\x7E]+$/', $body), 'ASCII only');
        $this->assertStringContainsString('"username":"bad\ufffd\ufffd"', $body);
        $decoded = json_decode($body, true);
        $this->assertSame("bad\u{FFFD}\u{FFFD}", $decoded['user']['username']);
        $this->assertSame("e\u{FFFD}@x.org", $decoded['user']['email']);
        $this->assertStringEndsWith(' overlong, é', $decoded['user']['name']);
        $this->assertStringStartsWith("ok \u{FFFD}\u{FFFD}\u{FFFD} surrogate", $decoded['user']['name']);
        $this->assertSame('valid ✓ 😀', CivicrmBridge_Json::utf8('valid ✓ 😀'));
    }

    public function testIsoTime(): void
    {
        $this->assertSame('2026-11-25T08:00:00.000Z', CivicrmBridge_EventMapper::isoTime(1795593600));
        $this->assertSame('2026-11-25T08:00:00.250Z', CivicrmBridge_EventMapper::isoTime(1795593600.25));
        $this->assertSame('1970-01-01T00:00:00.999Z', CivicrmBridge_EventMapper::isoTime(0.9999));
    }

    /** The bodies pass the bridge's own TypeBox schema (server/http/routes/events.ts). */
    public function testBodiesMatchTheBridgeSchema(): void
    {
        $root = dirname(__DIR__, 3);
        if (!is_file("$root/server/http/routes/events.ts") || !is_dir("$root/node_modules/tsx")) {
            $this->markTestSkipped('bridge sources or tsx not available');
        }
        $users = [
            ['id' => 42, 'username' => 'ann', 'email' => 'ann@example.org', 'name' => 'Ann Lee', 'block' => 0, 'password' => 'x'],
            ['id' => 1, 'username' => 'Zoë_𝒳', 'email' => '', 'name' => str_repeat('😀', 400), 'block' => '1'],
            ['id' => 4294967295, 'username' => "bad\xff", 'email' => 'not-an-email', 'name' => "x\xc3"],
        ];
        $bodies = [];
        foreach (['onUserAfterSave', 'onAfterStoreUser', 'onUserLogin', 'onLoginUser', 'onUserAfterDelete', 'onAfterDeleteUser', 'onUserLogout', 'onLogoutUser'] as $event) {
            foreach ($users as $user) {
                foreach ([[null, null], [true, true], [false, false]] as [$isNew, $success]) {
                    $bodies[] = CivicrmBridge_EventMapper::body($event, $user, $isNew, $success, CivicrmBridge_EventMapper::isoTime(1795593600.5));
                }
            }
        }
        // A control that must be refused, so the check is not vacuous.
        $bodies[] = '{"event":"onUserLogin","user":{"id":1,"username":"a","email":"","name":"","block":0,"password":"x"},"occurredAt":"2026-11-25T08:00:00.000Z"}';
        $script = <<<'JS'
            const { JoomlaEventBody } = await import('./server/http/routes/events.ts')
            const Ajv = (await import('ajv')).default
            const addFormats = (await import('ajv-formats')).default
            const ajv = new Ajv({ strict: false }); addFormats(ajv)
            const check = ajv.compile(JoomlaEventBody)
            let input = ''
            for await (const chunk of process.stdin) input += chunk
            const bad = JSON.parse(input).map((b) => JSON.parse(b)).filter((b) => !check(b)).map((b) => [b, check.errors])
            process.stdout.write(JSON.stringify(bad))
            JS;
        $proc = proc_open(['node', '--import', 'tsx', '--input-type=module', '-e', $script], [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, $root);
        fwrite($pipes[0], json_encode($bodies));
        fclose($pipes[0]);
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        $this->assertSame(0, proc_close($proc), $err);
        $refused = json_decode($out, true);
        $this->assertCount(1, $refused, 'bodies refused by the bridge schema: ' . $out);
        $this->assertSame('x', $refused[0][0]['user']['password']);
    }
}
