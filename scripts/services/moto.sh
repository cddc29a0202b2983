#!/usr/bin/env bash
# scripts/services/moto.sh — moto 5.2 in server mode (PyPI `moto[server]`) on
# 127.0.0.1:4566: the AWS Secrets Manager API for the delivery target tests
# (any access key works; region us-east-1). Also installs psycopg[binary] for
# the Python consumer test (into $STATE/venv when the system python refuses).
# Environment the tests read (default in test/helpers/services.ts): ROTATOR_MOTO_ENDPOINT
# shellcheck source=scripts/services/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
first_load moto || return 0
# shellcheck source=scripts/services/packages.sh
. "$SERVICES_DIR/packages.sh"

MOTO_PORT=4566
MOTO_SPEC='moto[server]==5.2.5'
PSYCOPG_SPEC='psycopg[binary]==3.3.9'

moto_install() {
  py -c 'import moto.server, psycopg' 2>/dev/null && return 0
  log "pip: installing $MOTO_SPEC $PSYCOPG_SPEC"
  pip_install "$LOG/pip-delivery.log" "$MOTO_SPEC" "$PSYCOPG_SPEC"
}

moto_ready() { curl -fsS -m 3 "http://$HOST:$MOTO_PORT/moto-api/" >/dev/null 2>&1; }
moto_version() { echo "moto $(py -c 'import moto; print(moto.__version__)' 2>/dev/null)"; }
moto_addr() { echo "$HOST:$MOTO_PORT"; }

moto_start() {
  moto_ready && return 0
  port_open "$MOTO_PORT" && die "port $MOTO_PORT is taken by something that is not moto"
  setsid bash -c "exec \"\$0\" -m moto.server -H $HOST -p $MOTO_PORT" "$(py -c 'import sys; print(sys.executable)')" \
    >"$LOG/moto.log" 2>&1 </dev/null &
  echo $! >"$RUN/moto.pid"
}

moto_stop() {
  local pid
  pid="$(read_pid "$RUN/moto.pid")"
  if pid_alive "$pid"; then kill "$pid"; fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then standalone moto "$@"; fi
