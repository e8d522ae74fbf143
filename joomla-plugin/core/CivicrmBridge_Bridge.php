<?php
/**
 * The one entry point every adapter uses: maps a Joomla user event, signs it, sends it to
 * the bridge within the configured timeout, and queues what the bridge did not take.
 *
 * No public method ever throws. Each one runs its work (a private doX method) through
 * guarded(), whose try/catch has two clauses: catch (Exception) and catch (Throwable). On
 * PHP 5 the Throwable clause is inert (a catch of an unknown class is legal PHP 5.2 syntax,
 * does not autoload and never matches); on PHP 7+ it also catches Error (TypeError, ...). So
 * no version-specific file is needed.
 *
 * Fail-open: a login or save is never held longer than the configured timeout (the transport
 * gets that as a total bound) and any failure only queues the event for a later retry.
 *
 * Per-request circuit breaker: once a delivery in this PHP request found the bridge down (no
 * answer, a timeout, 5xx, 429, or a page that is not the bridge), every later event of the same
 * request goes straight to the outbox without a network attempt, so a page that blocks or
 * deletes 50 users waits one timeout, not 50.
 */
class CivicrmBridge_Bridge
{
    const AUDIENCE = 'civicrm-bridge';
    const EVENT_TTL = 120;
    const ASSERTION_MAX_TTL = 60;
    const BASE_DELAY = 30;
    const MAX_DELAY = 21600;
    /** Below this much time left, another delivery is not attempted. */
    const MIN_DELIVERY_SECONDS = 0.1;
    /** Bound on the before-event memory (a CLI batch may delete thousands of users). */
    const MEMORY_SIZE = 100;

    private $config;
    private $db;
    private $transport;
    private $logger;
    private $clock;
    private $outbox;

    /** Per request (process), shared by every Bridge instance: adapters may build one per event. */
    private static $oldEmails = array();
    private static $deleted = array();
    private static $lastDeleted = null;
    /** Why the bridge was found down earlier in this request (null: not found down). */
    private static $circuitOpen = null;

    /** Permanent refusals (protocol.md "Answers"): kept as failed, never retried. */
    private static $permanent = array(400, 409, 413, 422);

    /**
     * @param CivicrmBridge_Config $config (an array of parameters is accepted too)
     * @param CivicrmBridge_Db $db
     * @param CivicrmBridge_Transport|null $transport default CivicrmBridge_CurlTransport
     * @param CivicrmBridge_Logger|null $logger default CivicrmBridge_NullLogger
     * @param object|null $clock anything with now() returning float unix time (tests)
     *
     * The parameters carry no type declarations: PHP 5.2 cannot write ?Type and PHP 8.4
     * deprecates "Type $x = null"; a wrong argument degrades instead of throwing.
     */
    public function __construct($config, $db, $transport = null, $logger = null, $clock = null)
    {
        $this->config = $config instanceof CivicrmBridge_Config ? $config : new CivicrmBridge_Config(is_array($config) ? $config : array());
        $this->db = $db instanceof CivicrmBridge_Db ? $db : null;
        $this->transport = $transport instanceof CivicrmBridge_Transport ? $transport : new CivicrmBridge_CurlTransport();
        $this->logger = $logger instanceof CivicrmBridge_Logger ? $logger : new CivicrmBridge_NullLogger();
        $this->clock = (is_object($clock) && method_exists($clock, 'now')) ? $clock : null;
        $this->outbox = $this->db !== null ? new CivicrmBridge_Outbox($this->db) : null;
    }

    /** Remembers the old email of a user about to be saved (logged when it changes). */
    public function beforeSave($oldUser)
    {
        $this->guarded('beforeSave', 'doBeforeSave', array($oldUser), null);
    }

    private function doBeforeSave($oldUser)
    {
        $user = CivicrmBridge_EventMapper::whitelistUser($oldUser);
        if ($user['id'] > 0) {
            self::remember(self::$oldEmails, $user['id'], $user['email']);
        }
    }

    /** Remembers a user about to be deleted: the after-delete event may carry less. */
    public function beforeDelete($user)
    {
        $this->guarded('beforeDelete', 'doBeforeDelete', array($user), null);
    }

    private function doBeforeDelete($user)
    {
        $user = CivicrmBridge_EventMapper::whitelistUser($user);
        if ($user['id'] > 0) {
            self::remember(self::$deleted, $user['id'], $user);
            self::$lastDeleted = $user;
        }
    }

    /**
     * @return array|null array('delivered' => bool, 'queued' => bool (stored in the outbox,
     *         as pending or failed), 'status' => int, 'response' => array|null), or null when
     *         the event is not forwarded (unknown, before-event, switched off, unconfigured)
     */
    public function handle($eventName, $user, $isNew = null, $success = null)
    {
        return $this->guarded('handle', 'doHandle', array($eventName, $user, $isNew, $success), null);
    }

    /**
     * Retries due outbox rows, oldest first.
     *
     * @param int|null $limit rows at most (default outbox_batch)
     * @param float|null $budgetSeconds total time allowed (null: each delivery gets the timeout)
     * @return array array('delivered' => n, 'failed' => n, 'pending' => n): what this run did
     *         with the due rows it read; 'pending' counts rows rescheduled or not reached
     */
    public function drainOutbox($limit = null, $budgetSeconds = null)
    {
        $counts = array('delivered' => 0, 'failed' => 0, 'pending' => 0);
        $this->guarded('drainOutbox', 'doDrain', array($limit, $budgetSeconds, &$counts), null);
        return $counts;
    }

    /**
     * "Test connection": one signed POST /v1/ping, checked the way the bridge checks events.
     *
     * @return array array('ok' => bool, 'reason' => 'connected' | 'not-configured' | 'unreachable'
     *         | 'wrong-secret' | 'wrong-url' | 'wrong-site', 'message' => a sentence for the site owner,
     *         'status' => HTTP status, 0 when there was none)
     */
    public function ping()
    {
        return $this->guarded('ping', 'doPing', array(), self::pingAnswer(false, 'unreachable', 0,
            'The connection test failed inside the plugin (see the PHP error log).'));
    }

    private function doPing()
    {
        if (!$this->config->isConfigured()) {
            return self::pingAnswer(false, 'not-configured', 0,
                'Fill in the bridge address, the shared secret (32 characters or more) and the site name first.');
        }
        $result = $this->post('/v1/ping', '{"ping":true}', CivicrmBridge_Jwt::randomId(), $this->config->get('timeout'));
        $status = $result['status'];
        $url = $this->config->get('bridge_url');
        if ($status === 0) {
            return self::pingAnswer(false, 'unreachable', 0, 'The bridge at ' . $url . ' could not be reached ('
                . ($result['error'] !== null ? $result['error'] : 'no answer') . '). Check the address and that the bridge is running.');
        }
        $answer = self::decoded($result['body']);
        if ($status === 401 || $status === 403) {
            return self::pingAnswer(false, 'wrong-secret', $status, 'The bridge answered but refused the signature:'
                . ' the shared secret (or the site name) is not the one the bridge has.');
        }
        if ($status === 200 && is_array($answer) && isset($answer['ok']) && $answer['ok'] === true) {
            $site = isset($answer['site']) && is_string($answer['site']) ? $answer['site'] : '';
            if ($site !== $this->config->get('site_id')) {
                return self::pingAnswer(false, 'wrong-site', $status, 'The bridge answered for another site ("' . $site . '").');
            }
            return self::pingAnswer(true, 'connected', $status, 'Connected: the bridge at ' . $url . ' accepted this site\'s signature.');
        }
        return self::pingAnswer(false, 'wrong-url', $status, 'Something answers at ' . $url . ' (HTTP ' . $status
            . ') but it is not the CiviCRM bridge: check the address.');
    }

    /**
     * What waits in the outbox, for the admin: every waiting row (not only the due ones).
     *
     * @return array|null array('pending' => n, 'failed' => n, 'last_error' => string|null,
     *         'oldest' => unix time of the oldest waiting event or null); null without a database
     */
    public function outboxStatus()
    {
        return $this->guarded('outboxStatus', 'doOutboxStatus', array(), null);
    }

    private function doOutboxStatus()
    {
        if ($this->outbox === null) {
            return null;
        }
        $counts = $this->outbox->counts();
        $last = $this->outbox->lastError();
        return array(
            'pending' => $counts['pending'],
            'failed' => $counts['failed'],
            'last_error' => $last === null ? null : $last['last_error'],
            'oldest' => $this->outbox->oldestPending(),
        );
    }

    /**
     * "Retry now": makes every waiting row due and sends one batch at once.
     * @return array the drain's counts, with 'waiting' (rows still pending afterwards)
     */
    public function retryNow($limit = null)
    {
        $counts = $this->guarded('retryNow', 'doRetryNow', array($limit), array('delivered' => 0, 'failed' => 0, 'pending' => 0));
        $status = $this->outboxStatus();
        $counts['waiting'] = $status === null ? 0 : $status['pending'];
        return $counts;
    }

    private function doRetryNow($limit)
    {
        if ($this->outbox !== null && $this->config->isConfigured()) {
            $this->outbox->makeDue();
            return $this->drainOutbox($limit);
        }
        return array('delivered' => 0, 'failed' => 0, 'pending' => 0);
    }

    private static function pingAnswer($ok, $reason, $status, $message)
    {
        return array('ok' => $ok, 'reason' => $reason, 'message' => $message, 'status' => $status);
    }

    /** @return string|null the event token for a body (iss, aud, iat, exp, jti, body_sha256); null when unconfigured */
    public function signEvent($body, $jti)
    {
        return $this->guarded('signEvent', 'doSignEvent', array($body, $jti), null);
    }

    private function doSignEvent($body, $jti)
    {
        if (!$this->config->isConfigured()) {
            return null;
        }
        $iat = (int) floor($this->now());
        $token = CivicrmBridge_Jwt::sign(array(
            'iss' => $this->config->get('site_id'),
            'aud' => self::AUDIENCE,
            'iat' => $iat,
            'exp' => $iat + self::EVENT_TTL,
            'jti' => (string) $jti,
            'body_sha256' => hash('sha256', (string) $body),
        ), $this->config->get('secret'));
        return $token === false ? null : $token;
    }

    /**
     * A short-lived signed assertion of a logged-in user (protocol.md "Signed assertion").
     * @return string|null null when unconfigured, for a guest, or an unknown act
     */
    public function mintAssertion($user, $act = 'profile', $ttl = 60)
    {
        return $this->guarded('mintAssertion', 'doMintAssertion', array($user, $act, $ttl), null);
    }

    private function doMintAssertion($user, $act, $ttl)
    {
        $user = CivicrmBridge_EventMapper::whitelistUser($user);
        if (!$this->config->isConfigured() || $user['id'] <= 0
            || !in_array($act, array('profile', 'contribution', 'membership'), true)) {
            return null;
        }
        $ttl = (int) $ttl;
        if ($ttl < 1 || $ttl > self::ASSERTION_MAX_TTL) {
            $ttl = self::ASSERTION_MAX_TTL;
        }
        $iat = (int) floor($this->now());
        $token = CivicrmBridge_Jwt::sign(array(
            'iss' => $this->config->get('site_id'),
            'aud' => self::AUDIENCE,
            'iat' => $iat,
            'exp' => $iat + $ttl,
            'jti' => CivicrmBridge_Jwt::randomId(),
            'act' => $act,
            'sub' => (string) $user['id'],
            'username' => $user['username'],
            'email' => $user['email'],
            'name' => $user['name'],
        ), $this->config->get('secret'));
        return $token === false ? null : $token;
    }

    /** @return string|null the bridge's "Edit my details" URL with a fresh assertion */
    public function editDetailsUrl($user, $gid = null)
    {
        return $this->guarded('editDetailsUrl', 'doEditDetailsUrl', array($user, $gid), null);
    }

    private function doEditDetailsUrl($user, $gid)
    {
        $gid = (int) $gid;
        if ($gid < 1) {
            $gid = (int) $this->config->get('menu_gid');
        }
        $token = $this->mintAssertion($user, 'profile');
        if ($token === null) {
            return null;
        }
        return $this->config->get('bridge_url') . '/civicrm/profile/edit?gid=' . $gid
            . '&assertion=' . rawurlencode($token);
    }

    /**
     * Where "Edit my details" sends the current user: a guest to $loginUrl (which comes back), a
     * logged-in user to the bridge's profile page with a fresh assertion. When no assertion can be
     * made (unconfigured), 'error' is true and the url is $homeUrl: the adapter shows its
     * PLG_USER_CIVICRMBRIDGE_UNAVAILABLE message there.
     *
     * @param array|object $user the current user (JUser/User); a guest has no id
     * @return array array('url' => string, 'error' => bool)
     */
    public function editDetailsRedirect($user, $loginUrl, $homeUrl)
    {
        $to = $this->guarded('editDetailsRedirect', 'doEditDetailsRedirect', array($user, $loginUrl), null);
        return $to !== null ? $to : array('url' => (string) $homeUrl, 'error' => true);
    }

    /** @return array|null null when no assertion could be made */
    private function doEditDetailsRedirect($user, $loginUrl)
    {
        $vars = is_object($user) ? get_object_vars($user) : (is_array($user) ? $user : array());
        $who = CivicrmBridge_EventMapper::whitelistUser($vars);
        if ($who['id'] <= 0 || !empty($vars['guest'])) {
            return array('url' => (string) $loginUrl, 'error' => false);
        }
        $url = $this->editDetailsUrl($who, null);
        if ($url !== null) {
            return array('url' => $url, 'error' => false);
        }
        return null;
    }

    /**
     * "Edit my details" through com_ajax on Joomla 4.x and later (the j4 and j5 adapters): the
     * redirect of editDetailsRedirect(), the login form coming back to $editDetailsUrl. Without a
     * bridge or an assertion: home, with $unavailableMessage queued (4.x+ redirect() takes none).
     *
     * @param object $app Joomla's web application (enqueueMessage, redirect)
     * @param CivicrmBridge_Bridge|null $bridge null when the adapter could not build one
     * @param object|null $user the current user (null when it could not be read)
     */
    public static function redirectToEditDetails($app, $bridge, $user, $editDetailsUrl, $unavailableMessage)
    {
        $to = array('url' => 'index.php', 'error' => true);
        if ($bridge instanceof CivicrmBridge_Bridge && $user !== null) {
            $to = $bridge->editDetailsRedirect($user,
                'index.php?option=com_users&view=login&return=' . base64_encode($editDetailsUrl), 'index.php');
        }
        if ($to['error']) {
            $app->enqueueMessage($unavailableMessage, 'error');
        }
        $app->redirect($to['url']);
    }

    /** The id of a username in #__users, 0 when none (the login event carries no id). */
    public static function resolveUserId($db, $username)
    {
        $user = self::loadUser($db, $username);
        return $user === null ? 0 : $user['id'];
    }

    /**
     * The #__users row of a username (id, username, email, name, block), null when none. The
     * login events of 1.5 - 3.1 carry no id and no block flag: without this, a blocked user
     * would be reported as not blocked (1.5 calls every user plugin even when another refused).
     */
    public static function loadUser($db, $username)
    {
        try {
            if (!($db instanceof CivicrmBridge_Db) || !is_string($username) || $username === '') {
                return null;
            }
            $rows = $db->fetchAll('SELECT id, username, email, name, block FROM #__users WHERE username = '
                . $db->quote($username) . ' LIMIT 1');
            return isset($rows[0]) ? CivicrmBridge_EventMapper::whitelistUser($rows[0]) : null;
        } catch (Exception $e) {
            return null;
        } catch (Throwable $e) {
            return null;
        }
    }

    /** Forgets what the before-events remembered (tests; long-running CLI jobs). */
    public static function forgetRemembered()
    {
        self::$oldEmails = array();
        self::$deleted = array();
        self::$lastDeleted = null;
    }

    /** Closes the per-request circuit breaker (tests; long-running CLI jobs between batches). */
    public static function resetCircuit()
    {
        self::$circuitOpen = null;
    }

    /** @return string|null why the bridge was found down earlier in this request, null when it was not */
    public static function circuitOpen()
    {
        return self::$circuitOpen;
    }

    private function doHandle($eventName, $user, $isNew, $success)
    {
        $kind = CivicrmBridge_EventMapper::kindOf($eventName);
        if ($kind === null) {
            return null;
        }
        // Before-events never touch the network: they only feed the after-events.
        if ($kind === 'before-save') {
            $this->beforeSave($user);
            return null;
        }
        if ($kind === 'before-delete') {
            $this->beforeDelete($user);
            return null;
        }
        if (!$this->config->forwards($kind)) {
            return null;
        }
        if (!$this->config->isConfigured()) {
            $this->log('debug', 'not configured (bridge URL, secret of 32+ bytes, site id): ' . $kind . ' not sent');
            return null;
        }
        $user = CivicrmBridge_EventMapper::whitelistUser($user);
        if ($kind === 'delete') {
            $user = $this->recallDeleted($user);
        }
        if ($user['id'] <= 0 && $user['username'] !== '') {
            $user['id'] = self::resolveUserId($this->db, $user['username']);
        }
        if ($user['id'] <= 0) {
            $this->log('warning', $kind . ' event without a user id (unknown username): not sent');
            return null;
        }
        if ($kind === 'save') {
            $this->noteEmailChange($user);
        }

        $start = $this->now();
        $event = CivicrmBridge_EventMapper::nativeName($eventName);
        $body = CivicrmBridge_EventMapper::body($event, $user, $isNew, $success, CivicrmBridge_EventMapper::isoTime($start));
        if ($body === false) {
            $this->log('error', 'could not encode the ' . $event . ' body of user ' . $user['id']);
            return null;
        }
        $jti = CivicrmBridge_Jwt::randomId();
        $timeout = $this->config->get('timeout');
        if (self::$circuitOpen !== null) {
            // Found down earlier in this request: no second wait, straight to the outbox.
            $result = array('status' => 0, 'body' => '', 'retryAfter' => null,
                'error' => 'not tried: the bridge did not answer earlier in this request (' . self::$circuitOpen . ')');
        } else {
            $result = $this->deliver($body, $jti, $timeout);
        }
        $outcome = $this->outcome($result);
        $this->noteDown($result, $outcome);
        $answer = array(
            'delivered' => $outcome === 'done',
            'queued' => false,
            'status' => $result['status'],
            'response' => self::decoded($result['body']),
        );
        if ($outcome === 'done') {
            $this->log('info', $event . ' of user ' . $user['id'] . ' delivered (jti ' . $jti . ')');
            // The bridge is up: use what is left of this request's budget on the backlog.
            $left = $timeout - ($this->now() - $start);
            if ($left >= self::MIN_DELIVERY_SECONDS) {
                $this->drainOutbox(null, $left);
            }
            return $answer;
        }

        $error = self::describe($result);
        if ($this->outbox === null) {
            $this->log('error', $event . ' of user ' . $user['id'] . ' lost: no database for the outbox (' . $error . ')');
            return $answer;
        }
        $now = (int) floor($this->now());
        try {
            if ($outcome === 'failed') {
                $this->outbox->add($jti, $event, $user['id'], $body, $error, 'failed', $now);
                $this->log('error', $event . ' of user ' . $user['id'] . ' refused, kept as failed (jti ' . $jti . '): ' . $error);
            } else {
                $next = $now + self::delay(0, $result['retryAfter']);
                $this->outbox->add($jti, $event, $user['id'], $body, $error, 'pending', $next);
                $this->log('warning', $event . ' of user ' . $user['id'] . ' queued for retry (jti ' . $jti . '): ' . $error);
            }
            $answer['queued'] = true;
        } catch (Exception $e) {
            $this->log('error', $event . ' of user ' . $user['id'] . ' lost: outbox write failed: ' . $e->getMessage());
        } catch (Throwable $e) {
            $this->log('error', $event . ' of user ' . $user['id'] . ' lost: outbox write failed: ' . $e->getMessage());
        }
        return $answer;
    }

    private function doDrain($limit, $budget, &$counts)
    {
        if ($this->outbox === null || !$this->config->isConfigured() || self::$circuitOpen !== null) {
            return;
        }
        $limit = $limit === null ? $this->config->get('outbox_batch') : max(1, (int) $limit);
        $budget = $budget === null ? null : (float) $budget;
        $start = $this->now();
        $rows = $this->outbox->due($limit, (int) floor($start));
        $total = count($rows);
        $timeout = $this->config->get('timeout');
        $maxAttempts = $this->config->get('outbox_max_attempts');
        for ($i = 0; $i < $total; $i++) {
            $row = $rows[$i];
            $allowed = $timeout;
            if ($budget !== null) {
                $left = $budget - ($this->now() - $start);
                if ($left < self::MIN_DELIVERY_SECONDS) {
                    $counts['pending'] += $total - $i;
                    return;
                }
                $allowed = min($timeout, $left);
            }
            $id = (int) $row['id'];
            // Same jti and body as the first try, signed again with a fresh iat/exp.
            $result = $this->deliver($row['body'], $row['jti'], $allowed);
            $outcome = $this->outcome($result);
            $this->noteDown($result, $outcome);
            if ($outcome === 'done') {
                $this->outbox->delivered($id);
                $counts['delivered']++;
                continue;
            }
            $error = self::describe($result);
            if ($outcome === 'failed') {
                $this->outbox->fail($id, $error);
                $counts['failed']++;
                $this->log('error', 'outbox ' . $row['event'] . ' (jti ' . $row['jti'] . ') refused, kept as failed: ' . $error);
                continue;
            }
            $attempts = (int) $row['attempts'] + 1;
            if ($attempts >= $maxAttempts) {
                $this->outbox->fail($id, 'gave up after ' . $attempts . ' retries: ' . $error);
                $counts['failed']++;
                $this->log('error', 'outbox ' . $row['event'] . ' (jti ' . $row['jti'] . ') gave up after ' . $attempts . ' retries: ' . $error);
            } else {
                $next = (int) floor($this->now()) + self::delay($attempts, $result['retryAfter']);
                $this->outbox->retryLater($id, $attempts, $error, $next);
                $counts['pending']++;
            }
            // Bridge down, asking us to back off, or not the bridge at all (a 200 without its
            // JSON answer): the rest would fail the same way.
            if ($result['status'] === 0 || $result['status'] === 429 || $result['status'] === 503
                || $result['status'] === 200) {
                $counts['pending'] += $total - $i - 1;
                return;
            }
        }
    }

    /**
     * Opens the circuit when the bridge did not take an event for a reason that would repeat:
     * no answer, a timeout, 5xx, 429, or a 200 that is not the bridge. Not for a permanent
     * refusal (4xx of one event): the next event may well be taken.
     */
    private function noteDown(array $result, $outcome)
    {
        if ($outcome === 'retry' && self::$circuitOpen === null) {
            self::$circuitOpen = self::describe($result);
        }
    }

    /** One signed POST of an event; never throws, a throwing transport counts as a network error. */
    private function deliver($body, $jti, $timeout)
    {
        return $this->post('/v1/joomla/events', $body, $jti, $timeout);
    }

    /** One signed POST to a bridge path; never throws. */
    private function post($path, $body, $jti, $timeout)
    {
        $token = $this->signEvent($body, $jti);
        if ($token === null) {
            return array('status' => 0, 'body' => '', 'error' => 'could not sign the event', 'retryAfter' => null);
        }
        $headers = array(
            'Authorization: Bearer ' . $token,
            'Content-Type: application/json',
            'Accept: application/json',
        );
        $url = $this->config->get('bridge_url') . $path;
        $result = null;
        try {
            $result = $this->transport->post($url, $headers, $body, $timeout);
        } catch (Exception $e) {
            $result = array('status' => 0, 'error' => 'transport threw ' . get_class($e) . ': ' . $e->getMessage());
        } catch (Throwable $e) {
            $result = array('status' => 0, 'error' => 'transport threw ' . get_class($e) . ': ' . $e->getMessage());
        }
        return self::normalised($result);
    }

    private static function normalised($result)
    {
        if (!is_array($result)) {
            $result = array('status' => 0, 'error' => 'transport returned no result');
        }
        $status = isset($result['status']) && is_numeric($result['status']) ? (int) $result['status'] : 0;
        $retryAfter = isset($result['retryAfter']) && is_numeric($result['retryAfter']) ? max(0, (int) $result['retryAfter']) : null;
        return array(
            'status' => $status,
            'body' => isset($result['body']) && is_string($result['body']) ? $result['body'] : '',
            'error' => isset($result['error']) && is_scalar($result['error']) ? (string) $result['error'] : null,
            'retryAfter' => $retryAfter,
        );
    }

    /**
     * 'done', 'failed' (permanent refusal) or 'retry' (protocol.md "Answers"). Only the bridge's
     * own answer counts as delivered: a 200 whose body is a JSON object with a string `action`.
     * Any other 200 (a wrong bridge URL serving a CMS page, a captive portal, a proxy) would
     * silently drop the event: it is retried like a temporary failure, with a warning.
     */
    private function outcome(array $result)
    {
        $status = $result['status'];
        if ($status === 200) {
            if (self::isBridgeAnswer($result['body'])) {
                return 'done';
            }
            $this->log('warning', 'the bridge URL ' . $this->config->get('bridge_url')
                . ' did not answer like the bridge (HTTP 200 without its JSON answer with an "action"): '
                . 'check the bridge URL; the event is kept for a retry');
            return 'retry';
        }
        return in_array($status, self::$permanent, true) ? 'failed' : 'retry';
    }

    /** The bridge's 200 body: a JSON object with a string action (protocol.md "Answers"). */
    private static function isBridgeAnswer($body)
    {
        $trimmed = ltrim((string) $body);
        if ($trimmed === '' || $trimmed[0] !== '{') {
            return false;
        }
        $answer = self::decoded($body);
        return is_array($answer) && isset($answer['action']) && is_string($answer['action']);
    }

    /** Back-off: min(30 * 2^attempts, 6 h) seconds, never sooner than Retry-After asks. */
    private static function delay($attempts, $retryAfter)
    {
        $delay = $attempts >= 10 ? self::MAX_DELAY : min(self::MAX_DELAY, self::BASE_DELAY * (1 << $attempts));
        if ($retryAfter !== null && $retryAfter > $delay) {
            $delay = min(self::MAX_DELAY, (int) $retryAfter);
        }
        return $delay;
    }

    /** A one-line reason for the outbox's last_error. */
    private static function describe(array $result)
    {
        if ($result['status'] === 0) {
            return 'network: ' . ($result['error'] !== null ? $result['error'] : 'no answer');
        }
        $text = 'HTTP ' . $result['status'];
        if ($result['status'] === 200) {
            // Only reached when the 200 was not the bridge's answer (see outcome()).
            return $text . ' not from the bridge (no JSON answer with an "action"): wrong bridge URL?';
        }
        $answer = self::decoded($result['body']);
        if (is_array($answer)) {
            foreach (array('error', 'message') as $key) {
                if (isset($answer[$key]) && is_scalar($answer[$key])) {
                    $text .= ' ' . $answer[$key];
                }
            }
        }
        return $text;
    }

    private static function decoded($body)
    {
        $value = CivicrmBridge_Json::decode($body);
        return is_array($value) ? $value : null;
    }

    private function recallDeleted(array $user)
    {
        $remembered = null;
        if ($user['id'] > 0 && isset(self::$deleted[$user['id']])) {
            $remembered = self::$deleted[$user['id']];
        } elseif ($user['id'] <= 0 && self::$lastDeleted !== null
            && ($user['username'] === '' || $user['username'] === self::$lastDeleted['username'])) {
            $remembered = self::$lastDeleted;
        }
        if ($remembered === null) {
            return $user;
        }
        if ($user['id'] <= 0) {
            $user['id'] = $remembered['id'];
            $user['block'] = $remembered['block'];
        }
        foreach (array('username', 'email', 'name') as $key) {
            if ($user[$key] === '') {
                $user[$key] = $remembered[$key];
            }
        }
        unset(self::$deleted[$remembered['id']]);
        if (self::$lastDeleted !== null && self::$lastDeleted['id'] === $remembered['id']) {
            self::$lastDeleted = null;
        }
        return $user;
    }

    private function noteEmailChange(array $user)
    {
        if (!isset(self::$oldEmails[$user['id']])) {
            return;
        }
        $old = self::$oldEmails[$user['id']];
        unset(self::$oldEmails[$user['id']]);
        if (strcasecmp($old, $user['email']) !== 0) {
            $this->log('info', 'user ' . $user['id'] . ' changed their email address');
        }
    }

    private static function remember(&$memory, $id, $value)
    {
        unset($memory[$id]);
        $memory[$id] = $value;
        if (count($memory) > self::MEMORY_SIZE) {
            // Drop the oldest (array_shift would renumber the integer keys).
            reset($memory);
            unset($memory[key($memory)]);
        }
    }

    private function now()
    {
        return $this->clock !== null ? (float) $this->clock->now() : microtime(true);
    }

    private function log($level, $message)
    {
        try {
            $this->logger->log($level, $message);
        } catch (Exception $e) {
            // A broken logger must not break a login.
        } catch (Throwable $e) {
        }
    }

    /**
     * The one place of the two catch clauses (see the class comment): runs the private method
     * $worker with $args for the public method $method; a throw is logged and gives $fallback.
     * (PHP 5.2 has no closures, so the work is named by its method.)
     */
    private function guarded($method, $worker, array $args, $fallback)
    {
        try {
            return call_user_func_array(array($this, $worker), $args);
        } catch (Exception $e) {
            $this->thrown($method, $e);
        } catch (Throwable $e) {
            $this->thrown($method, $e);
        }
        return $fallback;
    }

    private function thrown($method, $e)
    {
        $this->log('error', $method . ' failed: ' . get_class($e) . ': ' . $e->getMessage()
            . ' at ' . basename($e->getFile()) . ':' . $e->getLine());
    }
}
