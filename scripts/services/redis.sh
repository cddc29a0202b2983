#!/usr/bin/env bash
# scripts/services/redis.sh — Redis 7 on 127.0.0.1:6379 (Debian
# redis-server), TLS beside it on 6380 (scripts/services/tls.sh). ACL: user
# `default` is off, rotator_admin / rotator_admin_pw is `on ~* &* +@all`.
# shellcheck source=scripts/services/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
first_load redis || return 0
# shellcheck source=scripts/services/tls.sh
. "$SERVICES_DIR/tls.sh"

REDIS_PORT="${ROTATOR_REDIS_PORT:-6379}" # another port only for a private pair (see redis-replica.sh)
APT_PACKAGES+=(redis-server)

# redis_cli_at PORT ARGS...: the admin against one server
redis_cli_at() {
  local port="$1"
  shift
  timeout 5 redis-cli -h "$HOST" -p "$port" --user "$ADMIN_USER" --pass "$ADMIN_PW" --no-auth-warning "$@"
}
redis_cli() { redis_cli_at "$REDIS_PORT" "$@"; }
redis_ready() { [[ "$(redis_cli PING 2>/dev/null)" == PONG ]]; }
redis_version() { echo "Redis $(redis_cli INFO server 2>/dev/null | sed -n 's/^redis_version:\([^[:space:]]*\).*/\1/p')"; }
redis_addr() { echo "$HOST:$REDIS_PORT"; }

# redis_base_conf NAME PORT: the settings every node of ours shares
redis_base_conf() {
  cat <<EOC
# written by scripts/services/$1.sh
bind $HOST
port $2
protected-mode yes
daemonize yes
pidfile $RUN/$1.pid
logfile $LOG/$1.log
dir $DATA/$1
save ""
appendonly no
# a replica's first sync starts at once (default: waits 5 s for more replicas)
repl-diskless-sync-delay 0
# ACL: the default user is disabled, so unauthenticated commands fail (NOAUTH)
user default off resetpass resetkeys resetchannels -@all
user $ADMIN_USER on >$ADMIN_PW ~* &* +@all
EOC
}

# redis_launch NAME PORT CONF: start redis-server unless ours already runs
redis_launch() {
  local name="$1" port="$2" conf="$3" logf="$LOG/$1.log"
  if pid_runs "$(read_pid "$RUN/$name.pid")" "redis-server $HOST:$port"; then return 0; fi
  if port_open "$port"; then
    die "$name: $HOST:$port is taken by a server that rejects $ADMIN_USER (not ours?); see $logf"
  fi
  log "$name: starting"
  touch "$logf"
  setsid redis-server "$conf" </dev/null >>"$logf" 2>&1 || die "$name: redis-server failed to start; see $logf"
}

redis_start() {
  redis_ready && return 0
  have redis-server || die "redis: redis-server not found (apt package redis-server)"
  local conf="$DATA/redis/redis.conf"
  mkdir -p "$DATA/redis"
  tls_certs
  { redis_base_conf redis "$REDIS_PORT"; redis_tls_conf; } >"$conf"
  redis_launch redis "$REDIS_PORT" "$conf"
}

redis_stop() { stop_pid redis "$RUN/redis.pid" "redis-server $HOST:$REDIS_PORT" 30; }

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then standalone redis "$@"; fi
