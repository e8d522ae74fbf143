<?php
// Test doubles for CivicrmBridge_Bridge (not a test file: PHPUnit only runs *Test.php).

/**
 * A scripted CivicrmBridge_Transport: answers from a queue (the last one repeats), records
 * every call with the fake clock's time, and simulates slowness by moving the clock; a
 * response slower than the timeout it was given becomes a timeout (status 0), as curl does.
 */
final class CivicrmBridgeFakeTransport implements CivicrmBridge_Transport
{
    public array $calls = [];
    /** @var array list of responses: array(status, body, retryAfter, seconds) or a Throwable */
    private array $script;

    public function __construct(private ?CivicrmBridgeFakeClock $clock, array $script = [[200]])
    {
        $this->script = $script;
    }

    public static function ok(): string
    {
        return '{"action":"linked-existing","contactId":12,"reason":null}';
    }

    public function post($url, array $headers, $body, $timeoutSeconds)
    {
        $this->calls[] = ['url' => $url, 'headers' => $headers, 'body' => $body, 'timeout' => $timeoutSeconds,
            'at' => $this->clock?->now(), 'token' => self::bearer($headers)];
        $next = count($this->script) > 1 ? array_shift($this->script) : $this->script[0];
        if ($next instanceof Throwable) {
            throw $next;
        }
        if (!is_array($next)) {
            return $next; // garbage on purpose
        }
        $status = $next[0];
        $seconds = $next[3] ?? 0.05;
        if ($seconds > $timeoutSeconds) {
            $this->clock?->advance($timeoutSeconds);
            return ['status' => 0, 'body' => '', 'error' => 'timed out after ' . $timeoutSeconds, 'retryAfter' => null];
        }
        $this->clock?->advance($seconds);
        $body = $next[1] ?? ($status === 200 ? self::ok() : json_encode(['error' => "E$status", 'message' => "scripted $status"]));
        return ['status' => $status, 'body' => $body, 'error' => $status === 0 ? 'connection refused' : null, 'retryAfter' => $next[2] ?? null];
    }

    private static function bearer(array $headers): ?string
    {
        foreach ($headers as $h) {
            if (stripos($h, 'Authorization: Bearer ') === 0) {
                return substr($h, 22);
            }
        }
        return null;
    }
}

/** A logger that throws on every call: the Bridge must survive it. */
final class CivicrmBridgeThrowingLogger implements CivicrmBridge_Logger
{
    public function log($level, $message)
    {
        throw new RuntimeException('logger down');
    }
}
