#!/usr/bin/env bash
# scripts/services/pgbouncer.sh — PgBouncer 1.18 (Debian `pgbouncer`) on
# 127.0.0.1:6432 in front of PostgreSQL 127.0.0.1:5432, for the delivery
# target tests: auth_type scram-sha-256, auth_file
# $STATE/data/pgbouncer/userlist.txt (SCRAM verifiers copied from pg_authid),
# admin console user rotator_admin; runs as OS user postgres when we are root
# (PgBouncer refuses root).
# Environment the tests read (defaults in test/helpers/services.ts):
#   ROTATOR_PGBOUNCER_PORT ROTATOR_PGBOUNCER_AUTH_FILE
# shellcheck source=scripts/services/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
first_load pgbouncer || return 0
# shellcheck source=scripts/services/postgres.sh
. "$SERVICES_DIR/postgres.sh"

BOUNCER_PORT=6432
BOUNCER_DIR="$DATA/pgbouncer"
APT_PACKAGES+=(pgbouncer)

admin_verifier() {
  pg_psql -c "SELECT rolpassword FROM pg_authid WHERE rolname = '$ADMIN_USER'"
}

pgbouncer_ready() {
  [[ "$(PGPASSWORD="$ADMIN_PW" PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -X -w -q -h "$HOST" -p "$BOUNCER_PORT" -U "$ADMIN_USER" -d pgbouncer -tA -c 'SHOW VERSION' 2>/dev/null)" == *PgBouncer* ]]
}
pgbouncer_version() { pgbouncer --version 2>/dev/null | head -1; }
pgbouncer_addr() { echo "$HOST:$BOUNCER_PORT"; }

pgbouncer_start() {
  pgbouncer_ready && return 0
  port_open "$BOUNCER_PORT" && die "port $BOUNCER_PORT is taken by something that is not our PgBouncer"
  mkdir -p "$BOUNCER_DIR" "$RUN/pgbouncer"
  local verifier
  verifier="$(admin_verifier)" || die "cannot read the admin's SCRAM verifier from PostgreSQL (is it up?)"
  [[ $verifier == SCRAM-SHA-256\$* ]] || die "the admin's password is not a SCRAM verifier"
  # The rotator rewrites userlist.txt (its own lines only); keep it across restarts.
  if [[ ! -s "$BOUNCER_DIR/userlist.txt" ]] || ! grep -q "^\"$ADMIN_USER\" " "$BOUNCER_DIR/userlist.txt"; then
    printf '"%s" "%s"\n' "$ADMIN_USER" "$verifier" >>"$BOUNCER_DIR/userlist.txt"
  fi
  cat >"$BOUNCER_DIR/pgbouncer.ini" <<INI
[databases]
* = host=$HOST port=$PG_PORT

[pgbouncer]
listen_addr = $HOST
listen_port = $BOUNCER_PORT
unix_socket_dir = $RUN/pgbouncer
auth_type = scram-sha-256
auth_file = $BOUNCER_DIR/userlist.txt
admin_users = $ADMIN_USER
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
server_idle_timeout = 30
ignore_startup_parameters = extra_float_digits,options
logfile = $LOG/pgbouncer.log
pidfile = $RUN/pgbouncer/pgbouncer.pid
INI
  local as=()
  if [[ $EUID -eq 0 ]]; then
    chown -R postgres:postgres "$BOUNCER_DIR" "$RUN/pgbouncer"
    touch "$LOG/pgbouncer.log" && chown postgres "$LOG/pgbouncer.log"
    as=(runuser -u postgres --)
  fi
  chmod 0640 "$BOUNCER_DIR/userlist.txt"
  "${as[@]}" pgbouncer -d "$BOUNCER_DIR/pgbouncer.ini" >>"$LOG/pgbouncer.log" 2>&1 || die "pgbouncer did not start; see $LOG/pgbouncer.log"
}

pgbouncer_stop() {
  local pid
  pid="$(read_pid "$RUN/pgbouncer/pgbouncer.pid")"
  if pid_alive "$pid"; then kill -INT "$pid"; fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then standalone pgbouncer "$@"; fi
