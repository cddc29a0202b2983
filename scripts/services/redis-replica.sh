#!/usr/bin/env bash
# scripts/services/redis-replica.sh — a replica of the Redis primary
# (redis.sh, 6379) on 127.0.0.1:6381 (6380 is the primary's TLS port), for
# the topology tests (issue 13). Redis replicates data, not ACLs: each node
# keeps its own users, which is why a rotation must change every node. The
# replica authenticates to the primary as rotator_admin (masteruser).
# Not started by services.sh up: while it is attached, the Redis engine
# refuses rotations on 6379 that do not list it as a node (every other test).
# A private pair for experiments and the topology test: ROTATOR_STATE_DIR=/tmp/x
# ROTATOR_REDIS_PORT=6382 ROTATOR_REDIS_TLS_PORT=6383 ROTATOR_REDIS_REPLICA_PORT=6384
# bash scripts/services/redis{,-replica}.sh up
# shellcheck source=scripts/services/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
first_load redis-replica || return 0
# shellcheck source=scripts/services/redis.sh
. "$SERVICES_DIR/redis.sh"

REDIS_REPLICA_PORT="${ROTATOR_REDIS_REPLICA_PORT:-6381}"

# answers, and has loaded the primary's data (the first sync waits for the
# primary's repl-diskless-sync-delay, 5 s by default)
redis_replica_ready() {
  redis_cli_at "$REDIS_REPLICA_PORT" INFO replication 2>/dev/null | tr -d '\r' | grep -qx 'master_link_status:up'
}
redis_replica_version() {
  local info
  info="$(redis_cli_at "$REDIS_REPLICA_PORT" INFO replication 2>/dev/null | tr -d '\r')"
  echo "Redis $(redis_cli_at "$REDIS_REPLICA_PORT" INFO server 2>/dev/null | sed -n 's/^redis_version:\([^[:space:]]*\).*/\1/p') replica of $HOST:$REDIS_PORT (link $(sed -n 's/^master_link_status://p' <<<"$info"))"
}
redis_replica_addr() { echo "$HOST:$REDIS_REPLICA_PORT"; }

redis_replica_start() {
  redis_replica_ready && return 0
  have redis-server || die "redis-replica: redis-server not found (apt package redis-server)"
  local conf="$DATA/redis-replica/redis.conf"
  mkdir -p "$DATA/redis-replica"
  {
    redis_base_conf redis-replica "$REDIS_REPLICA_PORT"
    printf 'replicaof %s %s\nmasteruser %s\nmasterauth %s\nreplica-read-only yes\n' \
      "$HOST" "$REDIS_PORT" "$ADMIN_USER" "$ADMIN_PW"
  } >"$conf"
  chmod 600 "$conf"
  redis_launch redis-replica "$REDIS_REPLICA_PORT" "$conf"
}

redis_replica_stop() { stop_pid redis-replica "$RUN/redis-replica.pid" "redis-server $HOST:$REDIS_REPLICA_PORT" 30; }

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then standalone redis-replica "$@"; fi
