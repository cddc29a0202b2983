#!/usr/bin/env bash
# scripts/services/postgres.sh — PostgreSQL 15 on 127.0.0.1:5432 (Debian
# postgresql-15): superuser rotator_admin / rotator_admin_pw, scram-sha-256
# everywhere (pg_hba has no trust/peer), TLS from scripts/services/tls.sh.
# As root the server runs as OS user `postgres` (via runuser); the script
# grants it traverse (x) on directories INSIDE $STATE only (ACL when setfacl
# exists, else o+x). It never changes permissions outside $STATE (not of the
# user's home): a parent postgres cannot enter is an error naming it.
# shellcheck source=scripts/services/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
first_load postgres || return 0
# shellcheck source=scripts/services/tls.sh
. "$SERVICES_DIR/tls.sh"

PG_PORT=5432
PG_MAJOR=15
APT_PACKAGES+=(postgresql-15)
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin" # Debian's layout for postgresql-15
PG_DATA="$DATA/postgres"
PG_SOCK_DIR="$RUN/postgres"

AS_PG=()
if [[ $EUID -eq 0 ]]; then AS_PG=(runuser -u postgres --); fi
as_pg() { "${AS_PG[@]}" "$@"; }

# The server runs as `postgres` when we are root; it must be able to reach
# its directories even if they live under a private $HOME (e.g. /root).
pg_grant_traverse() {
  [[ $EUID -eq 0 ]] || return 0
  local target="$1" d="" part state_real
  [[ -d "$target" ]] || target="$(dirname "$target")"
  state_real="$(realpath -m "$STATE")"
  # walk top-down so each check only depends on the parents already fixed
  IFS='/' read -ra parts <<<"${target#/}"
  for part in "${parts[@]}"; do
    d="$d/$part"
    if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
      if [[ "$(realpath -m "$d")/" != "$state_real/"* ]]; then
        die "postgres: the OS user postgres cannot enter $d, which is outside the state directory; this script does not change permissions there (e.g. of your home). Set ROTATOR_STATE_DIR to a directory outside private homes (default as root: /var/lib/db-rotator-dev)"
      fi
      if have setfacl && setfacl -m u:postgres:x "$d" 2>/dev/null; then
        log "postgres: granted traverse (ACL u:postgres:x) on $d"
      else
        chmod o+x "$d"
        log "postgres: granted traverse (o+x) on $d"
      fi
    fi
  done
}

# pg_psql_at PORT ARGS...: psql as the admin against one server
pg_psql_at() {
  local port="$1"
  shift
  PGPASSWORD="$ADMIN_PW" PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -X -w -q -h "$HOST" -p "$port" -U "$ADMIN_USER" -d postgres -tA "$@"
}
pg_psql() { pg_psql_at "$PG_PORT" "$@"; }
postgres_ready() { [[ "$(pg_psql -c 'select 1' 2>/dev/null)" == 1 ]]; }
postgres_version() { echo "PostgreSQL $(pg_psql -c 'show server_version' 2>/dev/null | awk '{print $1}')"; }
postgres_addr() { echo "$HOST:$PG_PORT"; }

# pg_prepare_dir DIR LOGFILE: the directories the server (user postgres when
# we are root) must own or reach
pg_prepare_dir() {
  local dir="$1" logf="$2"
  mkdir -p "$dir" "$PG_SOCK_DIR"
  touch "$logf"
  if [[ $EUID -eq 0 ]]; then chown postgres: "$dir" "$PG_SOCK_DIR" "$logf"; fi
  chmod 700 "$dir"
  pg_grant_traverse "$dir"
  pg_grant_traverse "$PG_SOCK_DIR"
  pg_grant_traverse "$logf"
}

pg_initdb() {
  local logf="$1" pwfile="$PG_SOCK_DIR/.initpw"
  printf '%s\n' "$ADMIN_PW" >"$pwfile"
  if [[ $EUID -eq 0 ]]; then chown postgres: "$pwfile"; fi
  chmod 600 "$pwfile"
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$ADMIN_USER" --pwfile="$pwfile" \
    --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >>"$logf" 2>&1 || {
    rm -f "$pwfile"
    die "postgres: initdb failed; see $logf"
  }
  rm -f "$pwfile"
  printf "\ninclude_if_exists = 'rotator.conf'\n" >>"$PG_DATA/postgresql.conf"
}

# pg_write_conf DIR PORT: rotator.conf and pg_hba.conf, (re)written on every
# start so changes here take effect
pg_write_conf() {
  local dir="$1" port="$2"
  cat >"$dir/rotator.conf" <<EOC
# written by scripts/services/postgres.sh
listen_addresses = '$HOST'
port = $port
unix_socket_directories = '$PG_SOCK_DIR'
max_connections = 300
password_encryption = 'scram-sha-256'
synchronous_commit = off
EOC
  cat >"$dir/pg_hba.conf" <<EOC
# written by scripts/services/postgres.sh: passwords (SCRAM) everywhere, no trust/peer
local   all          all                    scram-sha-256
host    all          all    127.0.0.1/32    scram-sha-256
host    all          all    ::1/128         scram-sha-256
local   replication  all                    scram-sha-256
host    replication  all    127.0.0.1/32    scram-sha-256
host    replication  all    ::1/128         scram-sha-256
EOC
  tls_certs
  pg_tls_conf "$dir" >>"$dir/rotator.conf"
  if [[ $EUID -eq 0 ]]; then chown postgres: "$dir/rotator.conf" "$dir/pg_hba.conf"; fi
}

# pg_launch DIR PORT LOGFILE NAME: pg_ctl start, detached; -W: do not wait
# here, the caller polls with a real login
pg_launch() {
  local dir="$1" port="$2" logf="$3" name="$4"
  # ours, but not answering yet (e.g. crash recovery): wait for it
  if as_pg "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then return 0; fi
  if port_open "$port"; then
    die "$name: $HOST:$port is taken by a server that rejects $ADMIN_USER (not ours?); stop it or see $logf"
  fi
  log "$name: starting"
  # shellcheck disable=SC2094 # pg_ctl -s prints only errors; both append
  setsid "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$dir" -l "$logf" -W -s start </dev/null >>"$logf" 2>&1 ||
    die "$name: pg_ctl start failed; see $logf"
}

postgres_start() {
  [[ -x "$PG_BIN/pg_ctl" ]] || die "postgres: $PG_BIN/pg_ctl missing (apt package postgresql-$PG_MAJOR)"
  postgres_ready && return 0
  local logf="$LOG/postgres.log"
  if [[ ! -s "$PG_DATA/PG_VERSION" ]]; then
    log "postgres: initdb $PG_DATA"
    rm -rf "$PG_DATA"
  fi
  pg_prepare_dir "$PG_DATA" "$logf"
  [[ -s "$PG_DATA/PG_VERSION" ]] || pg_initdb "$logf"
  pg_write_conf "$PG_DATA" "$PG_PORT"
  pg_launch "$PG_DATA" "$PG_PORT" "$logf" postgres
}

# pg_stop_dir DIR LOGFILE
pg_stop_dir() {
  [[ -s "$1/postmaster.pid" ]] || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$1" -m fast -w -t 60 -s stop >>"$2" 2>&1 || true
}
postgres_stop() { pg_stop_dir "$PG_DATA" "$LOG/postgres.log"; }

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then standalone postgres "$@"; fi
