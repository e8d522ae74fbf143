<?php
/**
 * What the site owner sees in the plugin's options (every generation's status field renders
 * this): the outbox (events waiting, failed, the oldest waiting, the last error), a "Test
 * connection" link and a "Send waiting events now" link. The links reload the options page with
 * ?civicrmbridge=test|retry and the form token; the adapter checks the token and passes the
 * action here. Test connection uses the saved settings.
 */
class CivicrmBridge_AdminPanel
{
    /**
     * @param CivicrmBridge_Bridge $bridge built from the saved parameters and the site's database
     * @param string $action '' (just show), 'test' or 'retry' (token already checked by the adapter)
     * @param string $testUrl link of the Test connection button
     * @param string $retryUrl link of the Send now button
     * @param int|null $now unix time (tests)
     * @return string HTML
     */
    public static function render($bridge, $action, $testUrl, $retryUrl, $now = null)
    {
        $html = '<div class="civicrmbridge-status">';
        try {
            if ($action === 'test') {
                $ping = $bridge->ping();
                $html .= '<div class="alert ' . ($ping['ok'] ? 'alert-success' : 'alert-danger') . '"><strong>'
                    . self::e(self::pingTitle($ping['reason'])) . '</strong> ' . self::e($ping['message']) . '</div>';
            } elseif ($action === 'retry') {
                $sent = $bridge->retryNow();
                $html .= '<div class="alert alert-info">' . self::e('Sent now: ' . $sent['delivered'] . '. Refused by the bridge (kept as failed): '
                    . $sent['failed'] . '. Still waiting: ' . $sent['waiting'] . '.') . '</div>';
            }
            $status = $bridge->outboxStatus();
            if ($status === null) {
                $html .= '<p>' . self::e('The list of waiting events cannot be read (see the PHP error log).') . '</p>';
            } else {
                $html .= '<p>' . self::e('Events waiting to be sent to CiviCRM: ') . '<strong class="civicrmbridge-pending">' . (int) $status['pending']
                    . '</strong>. ' . self::e('Refused by the bridge and no longer retried: ') . '<strong class="civicrmbridge-failed">'
                    . (int) $status['failed'] . '</strong>.</p>';
                if ($status['oldest'] !== null) {
                    $now = $now === null ? time() : (int) $now;
                    $html .= '<p>' . self::e('The oldest has waited ' . self::age($now - $status['oldest']) . '.') . '</p>';
                }
                if ($status['last_error'] !== null) {
                    $html .= '<p>' . self::e('Last problem: ') . '<code>' . self::e($status['last_error']) . '</code></p>';
                }
            }
        } catch (Exception $e) {
            $html .= '<p>' . self::e('The status cannot be shown: ' . $e->getMessage()) . '</p>';
        } catch (Throwable $e) {
            $html .= '<p>' . self::e('The status cannot be shown: ' . $e->getMessage()) . '</p>';
        }
        $html .= '<p><a class="btn btn-secondary civicrmbridge-test" href="' . self::e($testUrl) . '">' . self::e('Test connection')
            . '</a> <a class="btn btn-secondary civicrmbridge-retry" href="' . self::e($retryUrl) . '">' . self::e('Send waiting events now') . '</a></p>'
            . '<p><small>' . self::e('Both use the saved settings: save your changes first.') . '</small></p></div>';
        return $html;
    }

    /** The link of an action: the current page's URL with civicrmbridge=<action> and the form token. */
    public static function actionUrl($currentUrl, $action, $tokenName)
    {
        $url = (string) $currentUrl;
        $at = strpos($url, '?');
        $kept = array();
        if ($at !== false) {
            foreach (explode('&', substr($url, $at + 1)) as $pair) {
                if ($pair !== '' && strpos($pair, 'civicrmbridge=') !== 0 && $pair !== $tokenName . '=1') {
                    $kept[] = $pair;
                }
            }
            $url = substr($url, 0, $at);
        }
        $kept[] = 'civicrmbridge=' . rawurlencode($action);
        $kept[] = rawurlencode($tokenName) . '=1';
        return $url . '?' . implode('&', $kept);
    }

    private static function pingTitle($reason)
    {
        $titles = array(
            'connected' => 'Connected.',
            'not-configured' => 'Not set up yet.',
            'unreachable' => 'Not connected: the bridge cannot be reached.',
            'wrong-secret' => 'Not connected: wrong shared secret.',
            'wrong-url' => 'Not connected: wrong bridge address.',
            'wrong-site' => 'Not connected: wrong site name.',
        );
        return isset($titles[$reason]) ? $titles[$reason] : 'Not connected.';
    }

    private static function age($seconds)
    {
        $seconds = max(0, (int) $seconds);
        if ($seconds < 120) {
            return $seconds . ' seconds';
        }
        if ($seconds < 7200) {
            return floor($seconds / 60) . ' minutes';
        }
        if ($seconds < 172800) {
            return floor($seconds / 3600) . ' hours';
        }
        return floor($seconds / 86400) . ' days';
    }

    private static function e($text)
    {
        return htmlspecialchars((string) $text, ENT_QUOTES, 'UTF-8');
    }
}
