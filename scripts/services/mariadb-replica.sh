#!/usr/bin/env bash
# scripts/services/mariadb-replica.sh — a GTID replica of the MariaDB primary
# (mariadb.sh, 3306) on 127.0.0.1:3307 (server_id 2, read_only), for the
# topology tests (issue 13). Seeded once from a consistent mariadb-dump of
# the primary (all databases and accounts, --gtid: the dump sets
# gtid_slave_pos), then `CHANGE MASTER ... MASTER_USE_GTID=slave_pos`.
# Needs the primary's binary log, which mariadb.sh turns on at start: a
# primary started by an older services.sh runs without one; then this script
# says so and starts nothing (restart the primary: down, up).
# A private pair for experiments: ROTATOR_STATE_DIR=/tmp/x ROTATOR_MYSQL_PORT=3308
# ROTATOR_MYSQL_REPLICA_PORT=3309 bash scripts/services/mariadb{,-replica}.sh up
# shellcheck source=scripts/services/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
first_load mariadb-replica || return 0
# shellcheck source=scripts/services/mariadb.sh
. "$SERVICES_DIR/mariadb.sh"

MY_REPLICA_PORT="${ROTATOR_MYSQL_REPLICA_PORT:-3307}"
MY_REPLICA_DATA="$DATA/mariadb-replica"
MY_REPLICA_SOCK="$RUN/mariadb-replica.sock"

# answers, and its IO thread follows the primary (a test may pause the SQL
# thread; that is still a running replica)
mariadb_replica_ready() {
  my_sql_at "$MY_REPLICA_PORT" --column-names -e 'SHOW SLAVE STATUS\G' 2>/dev/null | grep -q 'Slave_IO_Running: Yes'
}
mariadb_replica_version() {
  local st
  st="$(my_sql_at "$MY_REPLICA_PORT" --column-names -e 'SHOW SLAVE STATUS\G' 2>/dev/null)"
  echo "MariaDB $(my_sql_at "$MY_REPLICA_PORT" -e 'SELECT VERSION()' 2>/dev/null) replica of $HOST:$MY_PORT (SQL thread $(sed -n 's/^ *Slave_SQL_Running: //p' <<<"$st"), $(sed -n 's/^ *Seconds_Behind_Master: //p' <<<"$st")s behind)"
}
mariadb_replica_addr() { echo "$HOST:$MY_REPLICA_PORT"; }
mariadb_replica_died() { died_by_pidfile mariadb-replica; }

# the primary writes a binary log (needed to replicate from it)
my_primary_has_binlog() { [[ "$(my_admin_sql -e 'SELECT @@log_bin' 2>/dev/null)" == 1 ]]; }

mariadb_replica_wanted() {
  my_primary_has_binlog && return 0
  log "mariadb-replica: the primary $HOST:$MY_PORT runs without a binary log (started by an older services.sh); restart it (down, up) to start the replica on $MY_REPLICA_PORT"
  return 1
}

# my_replica_seed LOGFILE: copy the primary's data and accounts, then follow it
my_replica_seed() {
  local logf="$1" t0
  t0="$(now)"
  log "mariadb-replica: seeding from $HOST:$MY_PORT (mariadb-dump --gtid)"
  MYSQL_PWD="$ADMIN_PW" "$(find_prog mariadb-dump mysqldump)" --no-defaults --protocol=TCP -h "$HOST" -P "$MY_PORT" \
    -u "$ADMIN_USER" --all-databases --single-transaction --gtid --master-data=1 \
    --routines --events --triggers 2>>"$logf" | my_root_sql_at "$MY_REPLICA_SOCK" >>"$logf" 2>&1 ||
    die "mariadb-replica: seeding from the primary failed; see $logf"
  # the password reaches the server on stdin, never in argv
  my_root_sql_at "$MY_REPLICA_SOCK" >>"$logf" 2>&1 <<EOS || die "mariadb-replica: CHANGE MASTER failed; see $logf"
FLUSH PRIVILEGES;
CHANGE MASTER TO MASTER_HOST = '$HOST', MASTER_PORT = $MY_PORT, MASTER_USER = '$ADMIN_USER',
  MASTER_PASSWORD = '$ADMIN_PW', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1;
START SLAVE;
EOS
  touch "$MY_REPLICA_DATA/.seeded"
  log "mariadb-replica: seeded in $(elapsed "$t0")"
}

mariadb_replica_start() {
  mariadb_replica_ready && return 0
  mariadb_ready || die "mariadb-replica: the primary $HOST:$MY_PORT does not answer"
  local logf="$LOG/mariadb-replica.log" i
  [[ -f "$MY_REPLICA_DATA/.seeded" ]] || my_install_db "$MY_REPLICA_DATA" "$logf"
  if ! pid_runs "$(read_pid "$RUN/mariadb-replica.pid")" "$MY_REPLICA_DATA"; then
    port_open "$MY_REPLICA_PORT" && die "mariadb-replica: $HOST:$MY_REPLICA_PORT is taken by another server; see $logf"
    log "mariadb-replica: starting"
    my_launch mariadb-replica "$MY_REPLICA_DATA" "$MY_REPLICA_PORT" "$MY_REPLICA_SOCK" "$logf" \
      --server-id=2 --read-only --relay-log="$MY_REPLICA_DATA/relay"
  fi
  [[ -f "$MY_REPLICA_DATA/.seeded" ]] && return 0
  for ((i = 0; i < WAIT_SECS * 10; i++)); do
    my_root_sql_at "$MY_REPLICA_SOCK" -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
  done
  my_replica_seed "$logf"
}

mariadb_replica_stop() { stop_pid mariadb-replica "$RUN/mariadb-replica.pid" "$MY_REPLICA_DATA" 60; }

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then standalone mariadb-replica "$@"; fi
