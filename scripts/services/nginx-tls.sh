#!/usr/bin/env bash
# scripts/services/nginx-tls.sh — TLS in front of the Temporal dev server
# (which has no TLS flags). gRPC needs HTTP/2 negotiated by ALPN; stunnel 5.68
# (Debian 12) cannot negotiate it, so nginx (Debian nginx-light: http_v2 +
# grpc_pass) terminates TLS: 7234 server-TLS, 7235 mutual TLS (client
# certificate from the local CA of scripts/services/tls.sh).
# shellcheck source=scripts/services/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
first_load nginx-tls || return 0
# shellcheck source=scripts/services/tls.sh
. "$SERVICES_DIR/tls.sh"
# shellcheck source=scripts/services/temporal.sh
. "$SERVICES_DIR/temporal.sh"

APT_PACKAGES+=(nginx-light)

nginx_tls_start() {
  have nginx || die "tls: nginx not found (apt package nginx-light)"
  local conf="$RUN/nginx-temporal.conf" logf="$LOG/nginx-temporal.log" mtls_port=$((TEMPORAL_TLS_PORT + 1))
  if port_open "$TEMPORAL_TLS_PORT" && port_open "$mtls_port"; then return 0; fi
  mkdir -p "$RUN/nginx-temporal"
  cat >"$conf" <<EOC
# written by scripts/services/nginx-tls.sh
daemon on;
pid $RUN/nginx-temporal.pid;
error_log $logf warn;
worker_processes 1;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $RUN/nginx-temporal/body;
  proxy_temp_path $RUN/nginx-temporal/proxy;
  fastcgi_temp_path $RUN/nginx-temporal/fastcgi;
  uwsgi_temp_path $RUN/nginx-temporal/uwsgi;
  scgi_temp_path $RUN/nginx-temporal/scgi;
  ssl_certificate $TLS_DIR/server.crt;
  ssl_certificate_key $TLS_DIR/server.key;
  ssl_protocols TLSv1.2 TLSv1.3;
  grpc_read_timeout 1h;
  grpc_send_timeout 1h;
  client_max_body_size 0;
  server {
    listen $HOST:$TEMPORAL_TLS_PORT ssl http2;
    location / { grpc_pass grpc://$HOST:$TEMPORAL_PORT; }
  }
  server {
    listen $HOST:$mtls_port ssl http2;
    ssl_client_certificate $TLS_DIR/ca.crt;
    ssl_verify_client on;
    location / { grpc_pass grpc://$HOST:$TEMPORAL_PORT; }
  }
}
EOC
  log "nginx: TLS for Temporal on $HOST:$TEMPORAL_TLS_PORT, mTLS on $HOST:$mtls_port"
  nginx -c "$conf" -p "$RUN/nginx-temporal" >>"$logf" 2>&1 || die "nginx: failed to start; see $logf"
}

nginx_tls_stop() {
  local f="$RUN/nginx-temporal.pid"
  if [[ -s "$f" ]]; then kill "$(cat "$f")" 2>/dev/null || true; fi
  rm -f "$f"
  return 0
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  case "${1:-}" in
    up) nginx_tls_start ;;
    down) nginx_tls_stop ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
  esac
fi
