<?php
/**
 * How the core sends one HTTP request. The core only needs POST; an adapter may wrap the
 * CMS's HTTP client, tests script the answers.
 */
interface CivicrmBridge_Transport
{
    /**
     * @param string $url
     * @param array $headers list of "Name: value"
     * @param string $body
     * @param float $timeoutSeconds total time allowed, connection included
     * @return array array('status' => int (0 = network error or timeout), 'body' => string,
     *               'error' => string|null, 'retryAfter' => int|null seconds)
     */
    public function post($url, array $headers, $body, $timeoutSeconds);
}
