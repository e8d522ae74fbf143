<?php
/**
 * HS256 JSON Web Tokens, by hand: the plugin must run on PHP 5.2 without Composer.
 * Only HS256 is produced or accepted (an "alg":"none" or RS256 token is refused).
 */
class CivicrmBridge_Jwt
{
    /** Seconds of clock difference tolerated on exp, nbf and iat (as the bridge). */
    const SKEW = 30;

    public static function base64UrlEncode($s)
    {
        return rtrim(strtr(base64_encode((string) $s), '+/', '-_'), '=');
    }

    /** @return string|false the bytes, or false when $s is not base64url */
    public static function base64UrlDecode($s)
    {
        if (!is_string($s) || preg_match('/^[A-Za-z0-9_-]*$/', $s) !== 1 || strlen($s) % 4 === 1) {
            return false;
        }
        $pad = strlen($s) % 4;
        if ($pad) {
            $s .= str_repeat('=', 4 - $pad);
        }
        return base64_decode(strtr($s, '-_', '+/'), true);
    }

    /** @return string|false the compact token, false when the claims cannot be encoded */
    public static function sign(array $claims, $secret)
    {
        $header = CivicrmBridge_Json::encode(array('alg' => 'HS256', 'typ' => 'JWT'));
        $payload = CivicrmBridge_Json::encode($claims);
        if ($payload === false) {
            return false;
        }
        $input = self::base64UrlEncode($header) . '.' . self::base64UrlEncode($payload);
        return $input . '.' . self::base64UrlEncode(hash_hmac('sha256', $input, (string) $secret, true));
    }

    /**
     * @param int|float|null $now unix time (tests), default time()
     * @return array|null the claims when the signature, alg and times are right
     */
    public static function verify($token, $secret, $now = null)
    {
        if (!is_string($token) || strlen($token) > 8192) {
            return null;
        }
        $parts = explode('.', $token);
        if (count($parts) !== 3) {
            return null;
        }
        $header = CivicrmBridge_Json::decode(self::base64UrlDecode($parts[0]));
        if (!is_array($header) || !isset($header['alg']) || $header['alg'] !== 'HS256') {
            return null;
        }
        $signature = self::base64UrlDecode($parts[2]);
        if ($signature === false) {
            return null;
        }
        $expected = hash_hmac('sha256', $parts[0] . '.' . $parts[1], (string) $secret, true);
        if (!self::constantTimeEquals($expected, $signature)) {
            return null;
        }
        $claims = CivicrmBridge_Json::decode(self::base64UrlDecode($parts[1]));
        if (!is_array($claims)) {
            return null;
        }
        $now = $now === null ? time() : $now;
        foreach (array('exp', 'nbf', 'iat') as $name) {
            if (isset($claims[$name]) && !is_int($claims[$name]) && !is_float($claims[$name])) {
                return null;
            }
        }
        if (isset($claims['exp']) && $now > $claims['exp'] + self::SKEW) {
            return null;
        }
        if (isset($claims['nbf']) && $now + self::SKEW < $claims['nbf']) {
            return null;
        }
        if (isset($claims['iat']) && $now + self::SKEW < $claims['iat']) {
            return null;
        }
        return $claims;
    }

    /**
     * Compares two strings in a time that depends only on the length of $a (the known
     * value), never on where they differ. hash_equals() does not exist before PHP 5.6.
     */
    public static function constantTimeEquals($a, $b)
    {
        if (!is_string($a) || !is_string($b)) {
            return false;
        }
        $la = strlen($a);
        $lb = strlen($b);
        $diff = $la ^ $lb;
        for ($i = 0; $i < $la; $i++) {
            // On a length mismatch keep walking (against $a itself) so timing stays flat.
            $cb = $i < $lb ? ord($b[$i]) : ord($a[$i]) ^ 0xFF;
            $diff |= ord($a[$i]) ^ $cb;
        }
        return $diff === 0;
    }

    /** 32 lowercase hex characters from the best randomness source the PHP version has. */
    public static function randomId()
    {
        $bytes = false;
        if (function_exists('random_bytes')) {
            try {
                $bytes = random_bytes(16);
            } catch (Exception $e) {
                $bytes = false;
            }
        }
        if ($bytes === false && function_exists('openssl_random_pseudo_bytes')) {
            $strong = false;
            $bytes = openssl_random_pseudo_bytes(16, $strong);
        }
        if (!is_string($bytes) || strlen($bytes) !== 16) {
            // PHP 5.2 without openssl: not cryptographic, but a jti only has to be unique.
            $bytes = '';
            for ($i = 0; $i < 16; $i++) {
                $bytes .= chr(mt_rand(0, 255));
            }
            $bytes = substr(md5($bytes . uniqid('', true), true), 0, 16);
        }
        return bin2hex($bytes);
    }
}
