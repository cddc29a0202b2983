#!/usr/bin/env bash
# scripts/services/mariadb.sh — MariaDB 10.11 on 127.0.0.1:3306 (Debian
# mariadb-server), runs as the calling user. rotator_admin / rotator_admin_pw
# @'%' and @'localhost' with ALL ON *.* WITH GRANT OPTION; root has only
# unix_socket auth (bootstrap). Binary log with GTIDs (server_id 1) so the
# replica of scripts/services/mariadb-replica.sh can follow it.
# shellcheck source=scripts/services/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
first_load mariadb || return 0
# shellcheck source=scripts/services/tls.sh
. "$SERVICES_DIR/tls.sh"

MY_PORT="${ROTATOR_MYSQL_PORT:-3306}" # another port only for a private pair (see mariadb-replica.sh)
APT_PACKAGES+=(mariadb-server)
MY_DATA="$DATA/mariadb"
MY_SOCK="$RUN/mariadb.sock"

my_client() { find_prog mariadb mysql; }
# my_sql_at PORT ARGS...: the admin over TCP against one server
my_sql_at() {
  local port="$1"
  shift
  MYSQL_PWD="$ADMIN_PW" "$(my_client)" --no-defaults --protocol=TCP -h "$HOST" -P "$port" \
    -u "$ADMIN_USER" --connect-timeout=3 -N -B "$@"
}
my_admin_sql() { my_sql_at "$MY_PORT" "$@"; }
mariadb_ready() { [[ "$(my_admin_sql -e 'SELECT 1' 2>/dev/null)" == 1 ]]; }
mariadb_version() { echo "MariaDB $(my_admin_sql -e 'SELECT VERSION()' 2>/dev/null)"; }
mariadb_addr() { echo "$HOST:$MY_PORT"; }
mariadb_died() { died_by_pidfile mariadb; }
# root over a unix socket (unix_socket auth; only for bootstrap)
my_root_sql_at() {
  local sock="$1"
  shift
  "$(my_client)" --no-defaults -S "$sock" -u "$(id -un)" --connect-timeout=3 -N -B "$@"
}
my_root_sql() { my_root_sql_at "$MY_SOCK" "$@"; }

# my_install_db DIR LOGFILE: a fresh data directory. root@localhost:
# unix_socket (for the OS user running this) OR an invalid password, so root
# cannot log in with a password / over TCP at all
my_install_db() {
  local dir="$1" logf="$2"
  log "mariadb: mariadb-install-db $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  "$(find_prog mariadb-install-db mysql_install_db)" --no-defaults --datadir="$dir" \
    --user="$(id -un)" --auth-root-authentication-method=socket --auth-root-socket-user="$(id -un)" \
    --skip-test-db >>"$logf" 2>&1 || die "mariadb: mariadb-install-db failed; see $logf"
}

# my_launch NAME DIR PORT SOCKET LOGFILE EXTRA-ARGS...: mariadbd, detached
my_launch() {
  local name="$1" dir="$2" port="$3" sock="$4" logf="$5" mariadbd tls_args
  shift 5
  mariadbd="$(find_prog mariadbd mysqld)" || die "$name: mariadbd not found (apt package mariadb-server)"
  tls_certs
  mapfile -t tls_args < <(my_tls_args)
  setsid nohup "$mariadbd" --no-defaults --datadir="$dir" --user="$(id -un)" "${tls_args[@]}" \
    --bind-address="$HOST" --port="$port" --socket="$sock" \
    --pid-file="$RUN/$name.pid" --log-error="$logf" \
    --max-connections=300 --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=2 "$@" \
    </dev/null >>"$logf" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

mariadb_start() {
  mariadb_ready && return 0
  local logf="$LOG/mariadb.log"
  [[ -d "$MY_DATA/mysql" ]] || my_install_db "$MY_DATA" "$logf"
  # ours, but not answering yet: wait for it
  if pid_runs "$(read_pid "$RUN/mariadb.pid")" "$MY_DATA"; then return 0; fi
  if port_open "$MY_PORT"; then
    die "mariadb: $HOST:$MY_PORT is taken by a server that rejects $ADMIN_USER (not ours?); see $logf"
  fi
  log "mariadb: starting"
  my_launch mariadb "$MY_DATA" "$MY_PORT" "$MY_SOCK" "$logf" \
    --server-id=1 --log-bin="$MY_DATA/binlog" --binlog-format=ROW --expire-logs-days=2 \
    --log-bin-trust-function-creators=1 # as without a binlog: non-SUPER users may create functions
}

# my_admin_bootstrap_sql: creates/refreshes the admin accounts (root session)
my_admin_bootstrap_sql() {
  cat <<EOS
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
CREATE USER IF NOT EXISTS '$ADMIN_USER'@'%' IDENTIFIED BY '$ADMIN_PW';
CREATE USER IF NOT EXISTS '$ADMIN_USER'@'localhost' IDENTIFIED BY '$ADMIN_PW';
ALTER USER '$ADMIN_USER'@'%' IDENTIFIED BY '$ADMIN_PW';
ALTER USER '$ADMIN_USER'@'localhost' IDENTIFIED BY '$ADMIN_PW';
GRANT ALL PRIVILEGES ON *.* TO '$ADMIN_USER'@'%' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$ADMIN_USER'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
EOS
}

# called once the socket answers: create the admin user if it is missing
mariadb_bootstrap() {
  mariadb_ready && return 0
  my_root_sql -e "SELECT 1" >/dev/null 2>&1 || return 1
  log "mariadb: creating $ADMIN_USER"
  my_admin_bootstrap_sql | my_root_sql || return 1
}

mariadb_stop() { stop_pid mariadb "$RUN/mariadb.pid" "$MY_DATA" 60; }

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then standalone mariadb "$@"; fi
