#!/usr/bin/env bash
# Installs node_modules with `npm ci` when it is missing or was installed from
# another package-lock.json (a stamp file records the lockfile's hash), so the
# README's commands work on a fresh clone and after a pull that changed deps.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stamp=node_modules/.db-rotator-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
echo "installing node modules (npm ci)…" >&2
npm ci --no-audit --no-fund
echo "$want" > "$stamp"
