<?php
/**
 * POST with curl, bounded by a total timeout (connection included), so a slow or dead bridge
 * never holds a Joomla login longer than configured. Without curl, a stream context is the
 * fallback (its timeout is per read, a weaker bound: curl is preferred).
 */
class CivicrmBridge_CurlTransport implements CivicrmBridge_Transport
{
    /** Answers longer than this are cut: the bridge's are a few hundred bytes. */
    const MAX_BODY = 65536;

    private $useCurl;
    private $headerLines = array();

    /** @param bool $forceStreams use the stream fallback even when curl exists (tests) */
    public function __construct($forceStreams = false)
    {
        $this->useCurl = !$forceStreams && function_exists('curl_init');
    }

    public function post($url, array $headers, $body, $timeoutSeconds)
    {
        $timeout = (float) $timeoutSeconds;
        if ($timeout <= 0) {
            $timeout = 0.001;
        }
        if (!preg_match('#^https?://#i', (string) $url)) {
            return self::result(0, '', 'unsupported URL', null);
        }
        return $this->useCurl
            ? $this->postCurl((string) $url, $headers, (string) $body, $timeout)
            : $this->postStream((string) $url, $headers, (string) $body, $timeout);
    }

    /** CURLOPT_HEADERFUNCTION callback (public because curl calls it). */
    public function collectHeader($ch, $line)
    {
        $trimmed = trim($line);
        if (strncasecmp($trimmed, 'HTTP/', 5) === 0) {
            // A new response (after a 100 Continue): forget the previous headers.
            $this->headerLines = array();
        }
        if ($trimmed !== '') {
            $this->headerLines[] = $trimmed;
        }
        return strlen($line);
    }

    private function postCurl($url, array $headers, $body, $timeout)
    {
        $this->headerLines = array();
        $ch = curl_init($url);
        if ($ch === false) {
            return self::result(0, '', 'curl_init failed', null);
        }
        // Expect: 100-continue would add a round trip (and a 1 s wait on some servers).
        $headers[] = 'Expect:';
        $options = array(
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => $body,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_HEADERFUNCTION => array($this, 'collectHeader'),
            CURLOPT_FOLLOWLOCATION => false,
        );
        if (defined('CURLOPT_TIMEOUT_MS')) {
            $ms = max(1, (int) ceil($timeout * 1000));
            $options[CURLOPT_TIMEOUT_MS] = $ms;
            $options[CURLOPT_CONNECTTIMEOUT_MS] = $ms;
            // Sub-second timeouts need NOSIGNAL with curl's synchronous resolver.
            $options[CURLOPT_NOSIGNAL] = true;
        } else {
            $seconds = max(1, (int) ceil($timeout));
            $options[CURLOPT_TIMEOUT] = $seconds;
            $options[CURLOPT_CONNECTTIMEOUT] = $seconds;
        }
        if (defined('CURLOPT_PROTOCOLS')) {
            $options[CURLOPT_PROTOCOLS] = CURLPROTO_HTTP | CURLPROTO_HTTPS;
        }
        curl_setopt_array($ch, $options);
        $response = curl_exec($ch);
        $status = (int) curl_getinfo($ch, CURLINFO_HTTP_CODE);
        $error = $response === false ? 'curl error ' . curl_errno($ch) . ': ' . curl_error($ch) : null;
        // curl_close() is a no-op from PHP 8.0 and deprecated in 8.5.
        if (version_compare(PHP_VERSION, '8.0.0', '<')) {
            curl_close($ch);
        }
        if ($response === false) {
            return self::result(0, '', $error, null);
        }
        return self::result($status, (string) $response, null, self::retryAfter($this->headerLines));
    }

    private function postStream($url, array $headers, $body, $timeout)
    {
        $headers[] = 'Content-Length: ' . strlen($body);
        $headers[] = 'Connection: close';
        $context = stream_context_create(array('http' => array(
            'method' => 'POST',
            'header' => implode("\r\n", $headers),
            'content' => $body,
            'timeout' => $timeout,
            'ignore_errors' => true,
            'follow_location' => 0,
            'max_redirects' => 1,
            'protocol_version' => 1.0,
        )));
        $level = error_reporting(0);
        $stream = fopen($url, 'rb', false, $context);
        error_reporting($level);
        if ($stream === false) {
            return self::result(0, '', 'connection failed or timed out', null);
        }
        stream_set_timeout($stream, (int) floor($timeout), (int) (($timeout - floor($timeout)) * 1000000));
        $response = stream_get_contents($stream, self::MAX_BODY);
        $meta = stream_get_meta_data($stream);
        fclose($stream);
        if (!empty($meta['timed_out'])) {
            return self::result(0, '', 'timed out', null);
        }
        $lines = isset($meta['wrapper_data']) && is_array($meta['wrapper_data']) ? $meta['wrapper_data'] : array();
        $status = 0;
        $current = array();
        foreach ($lines as $line) {
            if (preg_match('#^HTTP/\S+\s+(\d{3})#', $line, $m)) {
                $status = (int) $m[1];
                $current = array();
            }
            $current[] = $line;
        }
        if ($status === 0) {
            return self::result(0, '', 'no HTTP status line', null);
        }
        return self::result($status, (string) $response, null, self::retryAfter($current));
    }

    /** Retry-After in seconds: delta-seconds or an HTTP date; null when absent or unreadable. */
    private static function retryAfter(array $lines)
    {
        foreach ($lines as $line) {
            if (stripos($line, 'Retry-After:') !== 0) {
                continue;
            }
            $value = trim(substr($line, 12));
            if (preg_match('/^\d{1,10}$/', $value)) {
                return (int) $value;
            }
            $when = strtotime($value);
            if ($when !== false && $when !== -1) {
                return max(0, $when - time());
            }
            return null;
        }
        return null;
    }

    private static function result($status, $body, $error, $retryAfter)
    {
        if (strlen($body) > self::MAX_BODY) {
            $body = substr($body, 0, self::MAX_BODY);
        }
        return array('status' => $status, 'body' => $body, 'error' => $error, 'retryAfter' => $retryAfter);
    }
}
