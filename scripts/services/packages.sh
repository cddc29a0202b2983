# shellcheck shell=bash
# scripts/services/packages.sh — installs the apt packages the service
# scripts list in APT_PACKAGES, in one apt-get run. Quick when present.
# shellcheck source=scripts/services/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
first_load packages || return 0

# not a service: headless Chromium for the Temporal Web UI codec test
# (test/e2e/ui-codec-chromium.test.ts, via playwright-core)
APT_PACKAGES+=(chromium)

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
# the Python that has our pip packages: the private venv when one was needed
py() { if [[ -x "$STATE/venv/bin/python3" ]]; then "$STATE/venv/bin/python3" "$@"; else "$PYTHON" "$@"; fi; }

# pip_install LOGFILE SPEC...: into the system python3 (the venv once there
# is one), or (e.g. an "externally managed" system python) into a private
# venv $STATE/venv
pip_install() {
  local logf="$1"
  shift
  [[ -n "$PYTHON" ]] || die "python3 not found (needed for pip packages $*)"
  if ! py -m pip install -q --disable-pip-version-check "$@" >"$logf" 2>&1; then
    log "pip: system python refused (see $logf); using venv $STATE/venv"
    [[ -x "$STATE/venv/bin/python3" ]] || "$PYTHON" -m venv "$STATE/venv" >>"$logf" 2>&1 ||
      die "python3 -m venv failed (install python3-venv); see $logf"
    "$STATE/venv/bin/python3" -m pip install -q --disable-pip-version-check "$@" >>"$logf" 2>&1 ||
      die "pip install $* failed; see $logf"
  fi
}
