<?php

use PHPUnit\Framework\TestCase;

final class JwtTest extends TestCase
{
    private const SECRET = 'a-very-long-shared-secret-of-at-least-32-bytes!';
    private const NOW = 1764057600;

    public function testBase64UrlVectors(): void
    {
        // RFC 4648 section 10 vectors, in the URL alphabet and without padding.
        $vectors = ['' => '', 'f' => 'Zg', 'fo' => 'Zm8', 'foo' => 'Zm9v', 'foob' => 'Zm9vYg', 'fooba' => 'Zm9vYmE', 'foobar' => 'Zm9vYmFy'];
        foreach ($vectors as $plain => $encoded) {
            $this->assertSame($encoded, CivicrmBridge_Jwt::base64UrlEncode($plain));
            $this->assertSame($plain, CivicrmBridge_Jwt::base64UrlDecode($encoded));
        }
        // Bytes that map to + and / in standard base64 map to - and _ here.
        $this->assertSame('-_8', CivicrmBridge_Jwt::base64UrlEncode("\xfb\xff"));
        $this->assertSame("\xfb\xff", CivicrmBridge_Jwt::base64UrlDecode('-_8'));
        $bytes = random_bytes(257);
        $this->assertSame($bytes, CivicrmBridge_Jwt::base64UrlDecode(CivicrmBridge_Jwt::base64UrlEncode($bytes)));
    }

    public function testBase64UrlDecodeRejectsOtherAlphabetsAndBadLengths(): void
    {
        $this->assertFalse(CivicrmBridge_Jwt::base64UrlDecode('+/8'));
        $this->assertFalse(CivicrmBridge_Jwt::base64UrlDecode('Zm9v='));
        $this->assertFalse(CivicrmBridge_Jwt::base64UrlDecode('Z'));
        $this->assertFalse(CivicrmBridge_Jwt::base64UrlDecode('Zm 9v'));
        $this->assertFalse(CivicrmBridge_Jwt::base64UrlDecode(null));
    }

    public function testSignProducesTheStandardHs256Token(): void
    {
        $token = CivicrmBridge_Jwt::sign(['sub' => '1', 'iat' => self::NOW], self::SECRET);
        [$h, $p, $s] = explode('.', $token);
        $this->assertSame(['alg' => 'HS256', 'typ' => 'JWT'], json_decode(CivicrmBridge_Jwt::base64UrlDecode($h), true));
        $this->assertSame(['sub' => '1', 'iat' => self::NOW], json_decode(CivicrmBridge_Jwt::base64UrlDecode($p), true));
        $this->assertSame(CivicrmBridge_Jwt::base64UrlEncode(hash_hmac('sha256', "$h.$p", self::SECRET, true)), $s);
        $this->assertDoesNotMatchRegularExpression('/[+\/=]/', $token);
    }

    public function testRoundTrip(): void
    {
        $claims = ['iss' => 'site-1', 'aud' => 'civicrm-bridge', 'iat' => self::NOW, 'exp' => self::NOW + 120, 'name' => 'Zoë 😀 Ünïcødé'];
        $token = CivicrmBridge_Jwt::sign($claims, self::SECRET);
        $this->assertSame($claims, CivicrmBridge_Jwt::verify($token, self::SECRET, self::NOW));
        // The payload JSON is ASCII only: non-ASCII as \uXXXX escapes (surrogate pairs for 4-byte).
        $payload = CivicrmBridge_Jwt::base64UrlDecode(explode('.', $token)[1]);
        $this->assertSame(1, preg_match('/^[\x20-\x7E]+$/', $payload), 'ASCII only');
        $this->assertStringContainsString('"name":"Zo\u00eb \ud83d\ude00 \u00dcn\u00efc\u00f8d\u00e9"', $payload);
    }

    public function testTamperedTokensAreRefused(): void
    {
        $token = CivicrmBridge_Jwt::sign(['sub' => '1', 'exp' => self::NOW + 60], self::SECRET);
        [$h, $p, $s] = explode('.', $token);
        $forged = CivicrmBridge_Jwt::base64UrlEncode(json_encode(['sub' => '2', 'exp' => self::NOW + 60]));
        $this->assertNull(CivicrmBridge_Jwt::verify("$h.$forged.$s", self::SECRET, self::NOW));
        $flipped = $s;
        $flipped[5] = $flipped[5] === 'A' ? 'B' : 'A';
        $this->assertNull(CivicrmBridge_Jwt::verify("$h.$p.$flipped", self::SECRET, self::NOW));
        $this->assertNull(CivicrmBridge_Jwt::verify($token, self::SECRET . 'x', self::NOW));
        $this->assertNull(CivicrmBridge_Jwt::verify("$h.$p", self::SECRET, self::NOW));
        $this->assertNull(CivicrmBridge_Jwt::verify("$h.$p.$s.x", self::SECRET, self::NOW));
        $this->assertNull(CivicrmBridge_Jwt::verify("$h.$p.", self::SECRET, self::NOW));
        $this->assertNull(CivicrmBridge_Jwt::verify('', self::SECRET, self::NOW));
        $this->assertNull(CivicrmBridge_Jwt::verify(['not', 'a', 'string'], self::SECRET, self::NOW));
        $this->assertNotNull(CivicrmBridge_Jwt::verify($token, self::SECRET, self::NOW));
    }

    public function testAlgNoneAndOtherAlgorithmsAreRefused(): void
    {
        $payload = CivicrmBridge_Jwt::base64UrlEncode(json_encode(['sub' => '1']));
        foreach (['none', 'None', 'HS384', 'RS256', 'hs256'] as $alg) {
            $header = CivicrmBridge_Jwt::base64UrlEncode(json_encode(['alg' => $alg, 'typ' => 'JWT']));
            $this->assertNull(CivicrmBridge_Jwt::verify("$header.$payload.", self::SECRET, self::NOW), $alg);
            // Even correctly "signed" with the secret under another alg name.
            $sig = CivicrmBridge_Jwt::base64UrlEncode(hash_hmac('sha256', "$header.$payload", self::SECRET, true));
            $this->assertNull(CivicrmBridge_Jwt::verify("$header.$payload.$sig", self::SECRET, self::NOW), $alg);
        }
        $noAlg = CivicrmBridge_Jwt::base64UrlEncode('{"typ":"JWT"}');
        $sig = CivicrmBridge_Jwt::base64UrlEncode(hash_hmac('sha256', "$noAlg.$payload", self::SECRET, true));
        $this->assertNull(CivicrmBridge_Jwt::verify("$noAlg.$payload.$sig", self::SECRET, self::NOW));
    }

    public function testExpNbfAndIatWithThirtySecondsOfSkew(): void
    {
        $t = CivicrmBridge_Jwt::sign(['exp' => self::NOW], self::SECRET);
        $this->assertNotNull(CivicrmBridge_Jwt::verify($t, self::SECRET, self::NOW + 30));
        $this->assertNull(CivicrmBridge_Jwt::verify($t, self::SECRET, self::NOW + 31));

        $t = CivicrmBridge_Jwt::sign(['nbf' => self::NOW], self::SECRET);
        $this->assertNotNull(CivicrmBridge_Jwt::verify($t, self::SECRET, self::NOW - 30));
        $this->assertNull(CivicrmBridge_Jwt::verify($t, self::SECRET, self::NOW - 31));

        $t = CivicrmBridge_Jwt::sign(['iat' => self::NOW], self::SECRET);
        $this->assertNotNull(CivicrmBridge_Jwt::verify($t, self::SECRET, self::NOW - 30));
        $this->assertNull(CivicrmBridge_Jwt::verify($t, self::SECRET, self::NOW - 31));

        $t = CivicrmBridge_Jwt::sign(['exp' => (string) (self::NOW + 60)], self::SECRET);
        $this->assertNull(CivicrmBridge_Jwt::verify($t, self::SECRET, self::NOW), 'a string exp is refused');

        // Default "now" is the real clock.
        $t = CivicrmBridge_Jwt::sign(['exp' => time() - 60], self::SECRET);
        $this->assertNull(CivicrmBridge_Jwt::verify($t, self::SECRET));
        $t = CivicrmBridge_Jwt::sign(['exp' => time() + 60], self::SECRET);
        $this->assertNotNull(CivicrmBridge_Jwt::verify($t, self::SECRET));
    }

    public function testConstantTimeEquals(): void
    {
        $this->assertTrue(CivicrmBridge_Jwt::constantTimeEquals('', ''));
        $this->assertTrue(CivicrmBridge_Jwt::constantTimeEquals('abc', 'abc'));
        $this->assertTrue(CivicrmBridge_Jwt::constantTimeEquals("\x00\xff", "\x00\xff"));
        $this->assertFalse(CivicrmBridge_Jwt::constantTimeEquals('abc', 'abd'));
        $this->assertFalse(CivicrmBridge_Jwt::constantTimeEquals('abc', 'ab'));
        $this->assertFalse(CivicrmBridge_Jwt::constantTimeEquals('ab', 'abc'));
        $this->assertFalse(CivicrmBridge_Jwt::constantTimeEquals('abc', ''));
        $this->assertFalse(CivicrmBridge_Jwt::constantTimeEquals('', 'a'));
        // A prefix padded so that a naive XOR against $a ^ 0xFF would collide.
        $this->assertFalse(CivicrmBridge_Jwt::constantTimeEquals("a\x9e", 'a'));
        $this->assertFalse(CivicrmBridge_Jwt::constantTimeEquals('1', 1));
        $this->assertFalse(CivicrmBridge_Jwt::constantTimeEquals(null, null));
        for ($i = 0; $i < 200; $i++) {
            $a = random_bytes(random_int(1, 40));
            $b = random_int(0, 1) ? $a : substr(random_bytes(41), 0, random_int(0, 40));
            $this->assertSame(hash_equals($a, $b), CivicrmBridge_Jwt::constantTimeEquals($a, $b));
        }
    }

    public function testConstantTimeEqualsDoesNotExitEarly(): void
    {
        // Timing is noisy; compare a first-byte and a last-byte mismatch over many rounds and
        // only require the same order of magnitude (an early exit differs by ~1000x here).
        $a = str_repeat('x', 20000);
        $first = 'y' . substr($a, 1);
        $last = substr($a, 0, -1) . 'y';
        $time = function (string $b) use ($a): float {
            $best = INF;
            for ($round = 0; $round < 5; $round++) {
                $t = hrtime(true);
                CivicrmBridge_Jwt::constantTimeEquals($a, $b);
                $best = min($best, hrtime(true) - $t);
            }
            return $best;
        };
        $this->assertLessThan(10, $time($last) / max(1, $time($first)));
        $this->assertLessThan(10, $time($first) / max(1, $time($last)));
    }

    public function testRandomId(): void
    {
        $seen = [];
        for ($i = 0; $i < 100; $i++) {
            $id = CivicrmBridge_Jwt::randomId();
            $this->assertMatchesRegularExpression('/^[0-9a-f]{32}$/', $id);
            $seen[$id] = true;
        }
        $this->assertCount(100, $seen);
    }

    public function testPhpTokenVerifiesWithFastJwt(): void
    {
        $claims = ['iss' => 'site-1', 'aud' => 'civicrm-bridge', 'iat' => time(), 'exp' => time() + 120, 'jti' => CivicrmBridge_Jwt::randomId(), 'name' => 'Zoë 😀'];
        $token = CivicrmBridge_Jwt::sign($claims, self::SECRET);
        $out = $this->node(<<<'JS'
            const { createVerifier } = require('fast-jwt')
            const verify = createVerifier({ key: process.env.SECRET, algorithms: ['HS256'], allowedAud: 'civicrm-bridge' })
            process.stdout.write(JSON.stringify(verify(process.env.TOKEN)))
            JS, ['SECRET' => self::SECRET, 'TOKEN' => $token]);
        $this->assertSame($claims, json_decode($out, true));

        $bad = $this->node(<<<'JS'
            const { createVerifier } = require('fast-jwt')
            try { createVerifier({ key: process.env.SECRET, algorithms: ['HS256'] })(process.env.TOKEN); process.stdout.write('accepted') }
            catch (e) { process.stdout.write(e.code) }
            JS, ['SECRET' => self::SECRET . 'x', 'TOKEN' => $token]);
        $this->assertSame('FAST_JWT_INVALID_SIGNATURE', $bad);
    }

    public function testFastJwtTokenVerifiesInPhp(): void
    {
        $token = $this->node(<<<'JS'
            const { createSigner } = require('fast-jwt')
            const sign = createSigner({ key: process.env.SECRET, algorithm: 'HS256' })
            process.stdout.write(sign({ iss: 'site-1', aud: 'civicrm-bridge', iat: 1764057600, exp: 1764057660, jti: 'abc', name: 'Zoë 😀 / <b>' }))
            JS, ['SECRET' => self::SECRET]);
        $claims = CivicrmBridge_Jwt::verify($token, self::SECRET, self::NOW + 10);
        $this->assertSame(['iss' => 'site-1', 'aud' => 'civicrm-bridge', 'iat' => self::NOW, 'exp' => self::NOW + 60, 'jti' => 'abc', 'name' => 'Zoë 😀 / <b>'], $claims);
        $this->assertNull(CivicrmBridge_Jwt::verify($token, self::SECRET, self::NOW + 91));
        $this->assertNull(CivicrmBridge_Jwt::verify($token, 'another-secret-that-is-long-enough-too', self::NOW));
    }

    private function node(string $script, array $env): string
    {
        $root = dirname(__DIR__, 3);
        if (!is_dir("$root/node_modules/fast-jwt")) {
            $this->markTestSkipped('fast-jwt is not installed in node_modules');
        }
        $proc = proc_open(['node', '-e', $script], [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, $root, array_merge(getenv(), $env));
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        $code = proc_close($proc);
        $this->assertSame(0, $code, "node failed: $err");
        return $out;
    }
}
