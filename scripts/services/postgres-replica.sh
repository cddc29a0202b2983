#!/usr/bin/env bash
# scripts/services/postgres-replica.sh — a hot-standby streaming replica of
# the PostgreSQL primary (postgres.sh, 5432) on 127.0.0.1:5433, for the
# topology tests (issue 13): the rotation waits until the replica has
# replayed its changes and verifies the new login there.
# Seeded once by pg_basebackup (-R: standby.signal + primary_conninfo), data
# in $STATE/data/postgres-replica; no replication slot, so a replica left
# stopped never makes the shared primary keep WAL (if it falls too far
# behind, delete its data directory and `up` seeds it again).
# shellcheck source=scripts/services/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
first_load postgres-replica || return 0
# shellcheck source=scripts/services/postgres.sh
. "$SERVICES_DIR/postgres.sh"

PG_REPLICA_PORT=5433
PG_REPLICA_DATA="$DATA/postgres-replica"

# answers as a standby whose WAL receiver streams from the primary
postgres_replica_ready() {
  [[ "$(pg_psql_at "$PG_REPLICA_PORT" -c "select pg_is_in_recovery() and exists (select from pg_stat_wal_receiver where status = 'streaming')" 2>/dev/null)" == t ]]
}
postgres_replica_version() {
  local v lag
  v="$(pg_psql_at "$PG_REPLICA_PORT" -c 'show server_version' 2>/dev/null | awk '{print $1}')"
  lag="$(pg_psql_at "$PG_REPLICA_PORT" -c "select coalesce(round(extract(epoch from now() - pg_last_xact_replay_timestamp()))::text, '?')" 2>/dev/null)"
  echo "PostgreSQL $v standby of $HOST:$PG_PORT (last replayed commit ${lag}s ago)"
}
postgres_replica_addr() { echo "$HOST:$PG_REPLICA_PORT"; }

postgres_replica_start() {
  postgres_replica_ready && return 0
  postgres_ready || die "postgres-replica: the primary $HOST:$PG_PORT does not answer"
  local logf="$LOG/postgres-replica.log" t0
  if [[ ! -s "$PG_REPLICA_DATA/PG_VERSION" || ! -f "$PG_REPLICA_DATA/standby.signal" ]]; then
    rm -rf "$PG_REPLICA_DATA"
    pg_prepare_dir "$PG_REPLICA_DATA" "$logf"
    t0="$(now)"
    log "postgres-replica: pg_basebackup from $HOST:$PG_PORT"
    # the password reaches pg_basebackup through the environment, never argv
    PGPASSWORD="$ADMIN_PW" as_pg "$PG_BIN/pg_basebackup" -h "$HOST" -p "$PG_PORT" -U "$ADMIN_USER" \
      -D "$PG_REPLICA_DATA" -R -X stream -c fast --no-sync >>"$logf" 2>&1 ||
      die "postgres-replica: pg_basebackup failed; see $logf"
    log "postgres-replica: base backup in $(elapsed "$t0")"
    # the primary's pid/options files mean nothing here
    rm -f "$PG_REPLICA_DATA/postmaster.pid" "$PG_REPLICA_DATA/postmaster.opts"
  else
    pg_prepare_dir "$PG_REPLICA_DATA" "$logf"
  fi
  pg_write_conf "$PG_REPLICA_DATA" "$PG_REPLICA_PORT"
  # read traffic on the standby: queries are not cancelled by replayed
  # cleanup on the primary
  printf 'hot_standby = on\nhot_standby_feedback = on\n' >>"$PG_REPLICA_DATA/rotator.conf"
  pg_launch "$PG_REPLICA_DATA" "$PG_REPLICA_PORT" "$logf" postgres-replica
}

postgres_replica_stop() { pg_stop_dir "$PG_REPLICA_DATA" "$LOG/postgres-replica.log"; }

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then standalone postgres-replica "$@"; fi
