# shellcheck shell=bash
# scripts/services/tls.sh — TLS for the dev services, sourced by the service
# scripts (postgres.sh, mariadb.sh, redis.sh, ferretdb.sh, nginx-tls.sh).
#
# A local CA (tls/ca.crt) signs one server certificate for localhost and
# 127.0.0.1; every service presents it:
#   PostgreSQL  5432   ssl = on (reload, no restart); `host` lines in pg_hba
#                      still accept plain connections until the switch to hostssl
#   MariaDB     3306   --ssl-cert/--ssl-key (plain still accepted)
#   Redis       6380   tls-port beside the plain 6379 (tls-auth-clients no)
#   FerretDB    27018  --listen-tls beside the plain 27017
#   Temporal    7234   nginx (scripts/services/nginx-tls.sh) in front of 7233 (7235: mTLS)
# tls/other-ca.crt is an unrelated CA: tests use it to show a wrong CA is refused.
# Clients: ROTATOR_TLS_CA_FILE (scripts/services.env) is the CA to trust.
[[ -n "${SERVICES_TLS_LOADED:-}" ]] && return 0
SERVICES_TLS_LOADED=1
# shellcheck source=scripts/services/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

TLS_DIR="$STATE/tls"
REDIS_TLS_PORT="${ROTATOR_REDIS_TLS_PORT:-6380}"
MONGO_TLS_PORT=27018
TEMPORAL_TLS_PORT=7234

tls_certs() {
  have openssl || die "tls: openssl not found (apt package openssl)"
  mkdir -p "$TLS_DIR"
  chmod 755 "$TLS_DIR"
  local d="$TLS_DIR"
  if [[ ! -s "$d/ca.crt" || ! -s "$d/server.crt" ]]; then
    log "tls: creating the local CA and the server certificate in $d"
    (
      umask 077
      # issue NAME CN EXTENSIONS: $d/NAME.key and $d/NAME.crt signed by the local CA
      issue() {
        openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" \
          -keyout "$d/$1.key" -out "$d/$1.csr" 2>/dev/null
        printf '%s\n' "${@:3}" >"$d/$1.ext"
        openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
          -days 3650 -extfile "$d/$1.ext" -out "$d/$1.crt" 2>/dev/null
      }
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=db-rotator dev CA" \
        -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
      issue server localhost subjectAltName=DNS:localhost,IP:127.0.0.1 extendedKeyUsage=serverAuth
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=some other CA" \
        -keyout "$d/other-ca.key" -out "$d/other-ca.crt" 2>/dev/null
      # a client certificate for mTLS tests (Temporal)
      issue client "db-rotator worker" extendedKeyUsage=clientAuth
    ) || die "tls: openssl failed"
    chmod 644 "$d/ca.crt" "$d/other-ca.crt" "$d/server.crt" "$d/client.crt"
  fi
}

# pg_tls_conf DIR: PostgreSQL's own copy of the key in its data directory DIR
# (owned by postgres, 0600); prints the settings (ssl on by reload)
pg_tls_conf() {
  local dir="$1"
  cp "$TLS_DIR/server.key" "$dir/server.key"
  cp "$TLS_DIR/server.crt" "$dir/server.crt"
  chmod 600 "$dir/server.key"
  if [[ $EUID -eq 0 ]]; then chown postgres: "$dir/server.key" "$dir/server.crt"; fi
  printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
}

my_tls_args() {
  printf '%s\n' "--ssl-ca=$TLS_DIR/ca.crt" "--ssl-cert=$TLS_DIR/server.crt" "--ssl-key=$TLS_DIR/server.key"
}

redis_tls_conf() {
  printf 'tls-port %s\ntls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients no\n' \
    "$REDIS_TLS_PORT" "$TLS_DIR/server.crt" "$TLS_DIR/server.key" "$TLS_DIR/ca.crt"
}

ferretdb_tls_args() {
  printf '%s\n' "--listen-tls=$HOST:$MONGO_TLS_PORT" "--listen-tls-cert-file=$TLS_DIR/server.crt" \
    "--listen-tls-key-file=$TLS_DIR/server.key"
}

# Applies TLS to services that are already running, without a restart where
# the server allows it (PostgreSQL reload, Redis CONFIG SET).
tls_apply_running() {
  if postgres_ready 2>/dev/null && [[ "$(pg_psql -c 'show ssl' 2>/dev/null)" != on ]]; then
    pg_psql -c 'select pg_reload_conf()' >/dev/null && log "postgres: TLS enabled (reload)"
  fi
  if redis_ready 2>/dev/null && [[ "$(redis_cli CONFIG GET tls-port 2>/dev/null | tail -1)" == 0 ]]; then
    redis_cli CONFIG SET tls-cert-file "$TLS_DIR/server.crt" tls-key-file "$TLS_DIR/server.key" \
      tls-ca-cert-file "$TLS_DIR/ca.crt" tls-auth-clients no >/dev/null &&
      redis_cli CONFIG SET tls-port "$REDIS_TLS_PORT" >/dev/null &&
      log "redis: TLS on $HOST:$REDIS_TLS_PORT (CONFIG SET)"
  fi
}

tls_env_lines() {
  echo "ROTATOR_TLS_CA_FILE=$TLS_DIR/ca.crt"
  echo "ROTATOR_TEST_OTHER_CA_FILE=$TLS_DIR/other-ca.crt"
  echo "ROTATOR_REDIS_TLS_PORT=$REDIS_TLS_PORT"
  echo "ROTATOR_MONGO_TLS_PORT=$MONGO_TLS_PORT"
  echo "TEMPORAL_TLS_ADDRESS=$HOST:$TEMPORAL_TLS_PORT"
  echo "TEMPORAL_MTLS_ADDRESS=$HOST:$((TEMPORAL_TLS_PORT + 1))"
  echo "ROTATOR_TEST_CLIENT_CERT_FILE=$TLS_DIR/client.crt"
  echo "ROTATOR_TEST_CLIENT_KEY_FILE=$TLS_DIR/client.key"
}

# After `up`: TLS on what runs already (no restart), nginx for Temporal.
tls_up() {
  tls_certs
  if postgres_ready 2>/dev/null && [[ "$(pg_psql -c 'show ssl' 2>/dev/null)" != on ]]; then
    grep -q '^ssl = on' "$PG_DATA/rotator.conf" 2>/dev/null || pg_tls_conf "$PG_DATA" >>"$PG_DATA/rotator.conf"
  fi
  tls_apply_running
  if mariadb_ready 2>/dev/null && [[ "$(my_root_sql -N -e "SELECT @@have_ssl" 2>/dev/null)" != YES ]]; then
    log "mariadb: running without TLS; restart it (down, up) to enable TLS"
  fi
  if ferretdb_ready 2>/dev/null && ! port_open "$MONGO_TLS_PORT"; then
    log "ferretdb: running without TLS; restart it (down, up) to enable TLS on $MONGO_TLS_PORT"
  fi
  nginx_tls_start
}
