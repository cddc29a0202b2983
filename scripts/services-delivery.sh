#!/usr/bin/env bash
# scripts/services-delivery.sh — the services the delivery targets are tested against,
# called by scripts/services.sh (install|up|down|status) after the databases:
#
#   PgBouncer 1.18 (Debian `pgbouncer`)  127.0.0.1:6432  in front of PostgreSQL 127.0.0.1:5432,
#       auth_type scram-sha-256, auth_file $STATE/data/pgbouncer/userlist.txt (SCRAM verifiers
#       copied from pg_authid), admin console user rotator_admin; runs as OS user postgres
#       when we are root (PgBouncer refuses root).
#   moto 5.2 in server mode (PyPI `moto[server]`)  127.0.0.1:4566  (AWS Secrets Manager API;
#       any access key works; region us-east-1)
#   pip: psycopg[binary] for the Python consumer test.
#
# Environment the tests read (defaults in test/helpers/services.ts):
#   ROTATOR_PGBOUNCER_PORT ROTATOR_PGBOUNCER_AUTH_FILE ROTATOR_MOTO_ENDPOINT
set -euo pipefail

STATE="${ROTATOR_STATE_DIR:-${HOME:?HOME is not set}/.local/share/db-rotator}"
DATA="$STATE/data"
LOG="$STATE/log"
RUN="$STATE/run"
HOST=127.0.0.1
PG_PORT=5432
BOUNCER_PORT=6432
MOTO_PORT=4566
ADMIN_USER=rotator_admin
ADMIN_PW=rotator_admin_pw
MOTO_SPEC='moto[server]==5.2.5'
PSYCOPG_SPEC='psycopg[binary]==3.3.9'
BOUNCER_DIR="$DATA/pgbouncer"
WAIT_SECS="${ROTATOR_WAIT_SECS:-60}"

log() { printf '[services/delivery] %s\n' "$*" >&2; }
die() { printf '[services/delivery] ERROR: %s\n' "$*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
PYTHON="$(command -v python3 || true)"
py() { if [[ -x "$STATE/venv/bin/python3" ]]; then "$STATE/venv/bin/python3" "$@"; else "$PYTHON" "$@"; fi; }

install() {
  mkdir -p "$DATA" "$LOG" "$RUN"
  if ! command -v pgbouncer >/dev/null; then
    log "apt: installing pgbouncer"
    local policy=/usr/sbin/policy-rc.d made=0
    # keep the package's init script from starting a system-wide instance on our port
    if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made=1; fi
    { DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer; } \
      >"$LOG/apt-pgbouncer.log" 2>&1 || { [[ $made == 1 ]] && rm -f "$policy"; die "apt-get install pgbouncer failed; see $LOG/apt-pgbouncer.log"; }
    [[ $made == 1 ]] && rm -f "$policy"
  fi
  if ! py -c 'import moto.server, psycopg' 2>/dev/null; then
    [[ -n "$PYTHON" ]] || die "python3 not found (needed for moto and psycopg)"
    log "pip: installing $MOTO_SPEC $PSYCOPG_SPEC"
    py -m pip install -q --disable-pip-version-check "$MOTO_SPEC" "$PSYCOPG_SPEC" >"$LOG/pip-delivery.log" 2>&1 ||
      die "pip install failed; see $LOG/pip-delivery.log"
  fi
}

# ---- PgBouncer ----------------------------------------------------------------
admin_verifier() {
  PGPASSWORD="$ADMIN_PW" psql -X -w -q -h "$HOST" -p "$PG_PORT" -U "$ADMIN_USER" -d postgres -tA \
    -c "SELECT rolpassword FROM pg_authid WHERE rolname = '$ADMIN_USER'"
}

bouncer_ready() {
  [[ "$(PGPASSWORD="$ADMIN_PW" PGCONNECT_TIMEOUT=3 psql -X -w -q -h "$HOST" -p "$BOUNCER_PORT" -U "$ADMIN_USER" -d pgbouncer -tA -c 'SHOW VERSION' 2>/dev/null)" == *PgBouncer* ]]
}

bouncer_start() {
  bouncer_ready && return 0
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

bouncer_stop() {
  local pid
  pid="$(cat "$RUN/pgbouncer/pgbouncer.pid" 2>/dev/null || true)"
  if pid_alive "$pid"; then kill -INT "$pid"; fi
}

# ---- moto (AWS Secrets Manager) ----------------------------------------------
moto_ready() { curl -fsS -m 3 "http://$HOST:$MOTO_PORT/moto-api/" >/dev/null 2>&1; }

moto_start() {
  moto_ready && return 0
  port_open "$MOTO_PORT" && die "port $MOTO_PORT is taken by something that is not moto"
  setsid bash -c "exec \"\$0\" -m moto.server -H $HOST -p $MOTO_PORT" "$(py -c 'import sys; print(sys.executable)')" \
    >"$LOG/moto.log" 2>&1 </dev/null &
  echo $! >"$RUN/moto.pid"
}

moto_stop() {
  local pid
  pid="$(cat "$RUN/moto.pid" 2>/dev/null || true)"
  if pid_alive "$pid"; then kill "$pid"; fi
}

wait_for() {
  local name="$1" check="$2" deadline=$((SECONDS + WAIT_SECS))
  until "$check"; do
    ((SECONDS < deadline)) || die "$name did not answer within ${WAIT_SECS}s; see $LOG/$name.log"
    sleep 0.3
  done
  log "$name: ready"
}

status_line() {
  if "$2"; then printf '%-22s %-5s %-16s %s\n' "$1" up "$HOST:$3" "$4"; else printf '%-22s %-5s %-16s %s\n' "$1" down "$HOST:$3" -; return 3; fi
}

case "${1:-}" in
  install) install ;;
  up)
    install
    bouncer_start
    moto_start
    wait_for pgbouncer bouncer_ready
    wait_for moto moto_ready
    ;;
  down) bouncer_stop; moto_stop ;;
  status)
    rc=0
    status_line pgbouncer bouncer_ready "$BOUNCER_PORT" "$(pgbouncer --version 2>/dev/null | head -1)" || rc=3
    status_line moto moto_ready "$MOTO_PORT" "moto $(py -c 'import moto; print(moto.__version__)' 2>/dev/null)" || rc=3
    exit $rc
    ;;
  *) echo "usage: $0 install|up|down|status" >&2; exit 2 ;;
esac
