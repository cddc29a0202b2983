# shellcheck shell=bash
# scripts/services/lib.sh — what every service script shares: the state
# directory, fixed dev settings, logging, pid handling, the readiness wait.
# Sourced (once) by scripts/services.sh and by each scripts/services/<svc>.sh.
#
# A service script defines, for service NAME (dashes become underscores):
#   NAME_ready NAME_start NAME_stop NAME_version NAME_addr   (required)
#   NAME_install   install what it needs beyond APT_PACKAGES (optional)
#   NAME_bootstrap called while waiting for readiness (optional)
#   NAME_died      true when the process it started has exited (optional: fail fast)
#   NAME_wanted    false (after logging why) when it cannot run here (optional)
# and may append to APT_PACKAGES.
[[ -n "${SERVICES_LIB_LOADED:-}" ]] && return 0
SERVICES_LIB_LOADED=1

SERVICES_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
SCRIPT_DIR="$(cd -- "$SERVICES_DIR/.." && pwd)"
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
DATA="$STATE/data"
LOG="$STATE/log"
RUN="$STATE/run"
WAIT_SECS="${ROTATOR_WAIT_SECS:-60}"

# ---- fixed dev settings -----------------------------------------------------
HOST=127.0.0.1
ADMIN_USER=rotator_admin
ADMIN_PW=rotator_admin_pw
APT_PACKAGES=(openssl)

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

# svc_call SVC FN [ARGS]: SVC's function FN (e.g. postgres-replica ready ->
# postgres_replica_ready); status 127 when SVC does not define it
svc_call() {
  local fn="${1//-/_}_$2"
  shift 2
  declare -F "$fn" >/dev/null || return 127
  "$fn" "$@"
}
svc_has() { declare -F "${1//-/_}_$2" >/dev/null; }

# wait_ready SVC: poll until it answers an authenticated request
wait_ready() {
  local svc="$1" t0 deadline
  t0="$(now)"
  deadline=$((SECONDS + WAIT_SECS))
  while ((SECONDS < deadline)); do
    if svc_has "$svc" bootstrap; then svc_call "$svc" bootstrap >/dev/null 2>&1 || true; fi
    if svc_call "$svc" ready; then
      log "$svc: ready ($(elapsed "$t0") wait)"
      return 0
    fi
    # the ones we started in the foreground: fail fast when the process died
    if svc_has "$svc" died && svc_call "$svc" died; then
      deadline=0
      break
    fi
    sleep 0.3
  done
  local logf="$LOG/$svc.log"
  if ((deadline == 0)); then
    printf '[services] ERROR: %s exited while starting (%s).\n' "$svc" "$(svc_call "$svc" addr)" >&2
  else
    printf '[services] ERROR: %s did not answer an authenticated request on %s within %ss.\n' \
      "$svc" "$(svc_call "$svc" addr)" "$WAIT_SECS" >&2
  fi
  printf '[services] see its log: %s (last lines below)\n' "$logf" >&2
  tail -n 20 "$logf" >&2 2>/dev/null || true
  exit 1
}

# daemon_needs_start SVC PROGRAM PORT: for a daemon SVC started in the
# background with its pid in $RUN/SVC.pid. Status 1 (nothing to do) when it is
# ready or its pid still runs PROGRAM (booting; wait_ready waits); dies when
# PORT is taken by another process or $BIN/SVC is not installed; status 0: start it.
daemon_needs_start() {
  local svc="$1" prog="$2" port="$3" pid
  pid="$(read_pid "$RUN/$svc.pid")"
  if svc_call "$svc" ready; then return 1; fi
  if pid_runs "$pid" "$prog"; then return 1; fi
  if port_open "$port"; then
    die "$svc: $HOST:$port is taken by another process; see $LOG/$svc.log"
  fi
  [[ -x "$BIN/$svc" ]] || die "$svc: $BIN/$svc missing (run install)"
}

# died_by_pidfile SVC: the pid in $RUN/SVC.pid (written by its start) is gone
died_by_pidfile() { [[ -f "$RUN/$1.pid" ]] && ! pid_alive "$(read_pid "$RUN/$1.pid")"; }

# status_line SVC: one line: name, up/down, address, version
status_line() {
  if svc_call "$1" ready; then
    printf '%-22s %-5s %-16s %s\n' "$1" up "$(svc_call "$1" addr)" "$(svc_call "$1" version)"
  else
    printf '%-22s %-5s %-16s %s\n' "$1" down "$(svc_call "$1" addr)" "-"
    return 3
  fi
}

# start_group SVC...: start, in parallel, each service that does not answer,
# then wait (bounded) for each. 9>&-: the daemons must not inherit (and so
# hold) the lock fd. Appends the names it started to STARTED.
STARTED=()
start_group() {
  local svc started=() pids=() i failed=0
  for svc in "$@"; do
    if svc_call "$svc" ready; then continue; fi
    if svc_has "$svc" wanted && ! svc_call "$svc" wanted; then continue; fi
    svc_call "$svc" start 9>&- &
    pids+=($!)
    started+=("$svc")
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed=1
  done
  ((failed == 0)) || die "a service failed to start (see the errors above)"
  for svc in "${started[@]}"; do wait_ready "$svc" 9>&-; done
  STARTED+=("${started[@]}")
}

with_lock() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  if have flock && ! flock -w 300 9; then
    die "another 'services.sh' holds $STATE/.lock (waited 300s); holders: $(fuser "$STATE/.lock" 2>/dev/null || echo '?')"
  fi
}

# standalone SVC CMD: `bash scripts/services/<svc>.sh up|down|status` for one
# service (installation and the env file stay with scripts/services.sh)
standalone() {
  local svc="$1"
  case "${2:-}" in
    up) with_lock; mkdir -p "$BIN" "$LOG" "$RUN" "$DATA"; start_group "$svc" ;;
    down) with_lock; svc_call "$svc" stop; log "$svc: stopped" ;;
    status) status_line "$svc" ;;
    *) echo "usage: $0 up|down|status" >&2; return 2 ;;
  esac
}

# first_load NAME: true the first time a service script is sourced (they
# source each other: pgbouncer.sh needs postgres.sh), so each loads once
first_load() {
  local v="SERVICES_LOADED_${1//-/_}"
  [[ -z "${!v:-}" ]] || return 1
  printf -v "$v" 1
}
