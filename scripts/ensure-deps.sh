#!/usr/bin/env bash
# What the tests need besides Node, on Debian: PHP (cli, curl, mbstring, xml, pdo_mysql, pdo_pgsql) and
# PHPUnit for the Joomla plugin, Chromium for the pages, galera-4 and rsync for a Galera cluster,
# a MariaDB answering on 127.0.0.1:3306.
# The one place for that logic: `npm test` (scripts/test.js) and .ci/run both run it.
#   - as root: installs what is missing (apt-get) and starts MariaDB when it does not answer;
#   - otherwise: when something is missing, prints the exact command to run and exits 1 at once.
# Messages go to stderr; stdout carries only NAME=value lines for the tests' environment (the
# test user made when root has socket authentication only).
set -uo pipefail
log() { echo "[deps] $*" >&2; }
export DEBIAN_FRONTEND=noninteractive
is_root() { [ "$(id -u)" = 0 ]; }

# 0. Node: the version package.json's engines accepts (what CI runs must be what it declares).
if ! node -e '
  const want = require("./package.json").engines.node.replace(/^>=/, "").split(".").map(Number)
  const have = process.versions.node.split(".").map(Number)
  const older = want[0] !== have[0] ? have[0] < want[0] : (have[1] ?? 0) < (want[1] ?? 0)
  if (older) { console.error(`[deps] Node ${process.versions.node} is older than package.json engines (>=${want.join(".")}): install Node 22 or 24`); process.exit(1) }'; then
  exit 1
fi

# 1. Packages.
need=()
# Read once: `php -m | grep -q` under pipefail fails whenever grep's early exit kills php (SIGPIPE).
php_modules=$(php -m 2>/dev/null || true)
have_php_module() { grep -qix "$1" <<<"$php_modules"; }
command -v php >/dev/null || need+=(php-cli)
have_php_module curl || need+=(php-curl)
have_php_module mbstring || need+=(php-mbstring)
have_php_module dom || need+=(php-xml)
have_php_module pdo_mysql || need+=(php-mysql)
have_php_module pdo_pgsql || need+=(php-pgsql)   # the plugin's PostgreSQL outbox tests
command -v phpunit >/dev/null || [ -n "${PHPUNIT:-}" ] || need+=(phpunit)
# The browser tests launch Debian's Chromium at this path (test/browser-helper.ts).
[ -x /usr/bin/chromium ] || need+=(chromium)
# A 3-node Galera cluster for test/galera.test.ts (its state transfer copies data directories with rsync).
[ -e /usr/lib/galera/libgalera_smm.so ] || need+=(galera-4)
command -v rsync >/dev/null || need+=(rsync)
if ! command -v mariadb >/dev/null && ! command -v mysql >/dev/null; then need+=(mariadb-server mariadb-client); fi
if [ ${#need[@]} -gt 0 ]; then
  cmd="apt-get update && apt-get install -y ${need[*]}"
  if ! is_root; then
    log "missing for the tests: ${need[*]}. Run as root, then npm test again:"
    log "  $cmd"
    exit 1
  fi
  log "installing: ${need[*]}"
  # Another apt run (dpkg lock) is waited for, up to 5 minutes.
  if ! { apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null; }; then
    log "apt-get failed; run it yourself: $cmd"
    exit 1
  fi
fi

# 2. MariaDB on 127.0.0.1:3306 (root, empty password), unless the tests are pointed elsewhere.
[ -n "${TEST_DB_SERVER_URL:-}" ] && exit 0
client=$(command -v mariadb || command -v mysql)
db_ok() { "$client" -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; }
socket_ok() { "$client" -uroot -e 'SELECT 1' >/dev/null 2>&1; }
db_ok && exit 0
if ! socket_ok; then
  if ! is_root; then
    log "MariaDB does not answer on 127.0.0.1:3306. Start it as root, then npm test again:"
    log "  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld && start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql"
    log "(or set TEST_DB_SERVER_URL=mysql://user:pass@host:port/any)"
    exit 1
  fi
  log "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do db_ok && exit 0; socket_ok && break; sleep 1; done
fi
db_ok && exit 0
if socket_ok; then
  log "root has socket authentication only: the tests use the user civibridge_ci"
  "$client" -uroot -e "CREATE USER IF NOT EXISTS 'civibridge_ci'@'127.0.0.1' IDENTIFIED BY 'civibridge_ci'; GRANT ALL ON *.* TO 'civibridge_ci'@'127.0.0.1'; FLUSH PRIVILEGES;" || exit 1
  echo 'TEST_DB_SERVER_URL=mysql://civibridge_ci:civibridge_ci@127.0.0.1:3306/test'
  echo 'DEMO_DB_SERVER_URL=mysql://civibridge_ci:civibridge_ci@127.0.0.1:3306/test'
  exit 0
fi
log "MariaDB did not start; see its error log (journalctl, /var/log/mysql)"
exit 1
