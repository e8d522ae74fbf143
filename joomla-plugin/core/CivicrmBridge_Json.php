<?php
/**
 * JSON encoding that never fails on user data: invalid UTF-8 is replaced by U+FFFD before
 * encoding (PHP < 7.2 has no JSON_INVALID_UTF8_SUBSTITUTE, and 5.2 warns and returns null).
 *
 * The output is pure ASCII: every non-ASCII character is escaped as \uXXXX (a 4-byte
 * character as a surrogate pair), as json_encode does without JSON_UNESCAPED_UNICODE on
 * every PHP version. So the exact bytes signed (body_sha256) and stored in the outbox survive
 * any table charset (utf8/utf8mb3 on Joomla 1.5 and old sites turned an emoji into '?').
 * Never add JSON_UNESCAPED_UNICODE here. Slashes are kept as is where the flag exists (5.4+).
 */
class CivicrmBridge_Json
{
    /** @return string|false ASCII-only JSON text, false only for values JSON cannot hold (INF, resources) */
    public static function encode($value)
    {
        $flags = 0;
        if (defined('JSON_UNESCAPED_SLASHES')) {
            $flags |= JSON_UNESCAPED_SLASHES;
        }
        $json = $flags ? json_encode(self::clean($value), $flags) : json_encode(self::clean($value));
        return is_string($json) ? $json : false;
    }

    /** @return mixed the decoded value (assoc arrays), or null */
    public static function decode($json)
    {
        if (!is_string($json) || $json === '') {
            return null;
        }
        return json_decode($json, true);
    }

    /** Makes every string in a value valid UTF-8. */
    public static function clean($value)
    {
        if (is_string($value)) {
            return self::utf8($value);
        }
        if (is_array($value)) {
            $out = array();
            foreach ($value as $k => $v) {
                $out[is_string($k) ? self::utf8($k) : $k] = self::clean($v);
            }
            return $out;
        }
        return $value;
    }

    /** Valid UTF-8 is returned unchanged; each invalid byte becomes U+FFFD. */
    public static function utf8($s)
    {
        $s = (string) $s;
        if ($s === '' || preg_match('//u', $s) === 1) {
            return $s;
        }
        // Without the /u modifier this walks bytes: the first group matches one well-formed
        // sequence (RFC 3629, no surrogates, no overlongs), the second any other single byte.
        preg_match_all(
            '/([\x00-\x7F]|[\xC2-\xDF][\x80-\xBF]|\xE0[\xA0-\xBF][\x80-\xBF]|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}'
            . '|\xED[\x80-\x9F][\x80-\xBF]|\xF0[\x90-\xBF][\x80-\xBF]{2}|[\xF1-\xF3][\x80-\xBF]{3}'
            . '|\xF4[\x80-\x8F][\x80-\xBF]{2})|(.)/s',
            $s,
            $m,
            PREG_SET_ORDER
        );
        $out = '';
        foreach ($m as $part) {
            $out .= (isset($part[2]) && $part[2] !== '') ? "\xEF\xBF\xBD" : $part[1];
        }
        return $out;
    }
}
