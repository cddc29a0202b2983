#!/usr/bin/env bash
# CI step: the package as a user gets it. Packs the rotator (`npm pack`,
# which builds dist/), installs the tarball into an empty directory, and
# through the installed `db-rotator` only: --help, keys generate, a worker
# (`db-rotator worker`) on the dev server with /healthz and /readyz, one
# PostgreSQL rotation (credentials add/import, rotate --wait, status,
# history), then SIGTERM to the worker, which must exit 0.
# Needs the services up (scripts/services.sh up). Prints timings.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$(bash "$repo/scripts/services.sh" env)"
work="$(mktemp -d /tmp/db-rotator-pkg.XXXXXX)"
worker_pid=""
suffix="$(date +%s)_$$"
app="ci_pkg_app_$suffix"
# Credential ids unique per run: the dev server keeps earlier runs, encrypted with other keys.
ns="ci-$suffix"
cleanup() {
  if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then kill -KILL "$worker_pid" || true; fi
  PGPASSWORD="$ROTATOR_PG_ADMIN_PASSWORD" psql -qAt -h "$PGHOST" -p "$PGPORT" -U "$ROTATOR_PG_ADMIN_USER" \
    -d postgres -c "DROP TABLE IF EXISTS public.$app; DROP ROLE IF EXISTS $app; DROP ROLE IF EXISTS ${app}_b;" \
    >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
t() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
fail() {
  echo "ci-package: FAILED: $*" >&2
  [ -f "$work/worker.log" ] && tail -n 40 "$work/worker.log" >&2
  exit 1
}

t0=$(t)
# `npm pack` builds (prepack); skip that when dist/ is newer than every source (npm test built it).
pack_flags=()
if [ -f "$repo/dist/workflow-bundle.js" ] && [ -z "$(find "$repo/src" "$repo/package.json" -newer "$repo/dist/workflow-bundle.js" -print -quit)" ]; then
  pack_flags=(--ignore-scripts)
  echo "pack: dist/ is up to date, not rebuilt"
fi
tarball="$(cd "$repo" && npm pack --silent "${pack_flags[@]}" --pack-destination "$work" | tail -n 1)"
t1=$(t)
echo "pack: $tarball $(du -k "$work/$tarball" | cut -f1) KiB in $(ms "$t0" "$t1") ms"

# An empty project that installs only the tarball (same @swc/core override as the repo).
mkdir "$work/app"
node -e '
  const repo = require(process.argv[1]);
  const pkg = { name: "db-rotator-install-check", private: true, overrides: repo.overrides };
  require("fs").writeFileSync(process.argv[2], JSON.stringify(pkg, null, 2));
' "$repo/package.json" "$work/app/package.json"
(cd "$work/app" && npm install --no-audit --no-fund --prefer-offline --loglevel=error "$work/$tarball" >/dev/null)
t2=$(t)
echo "install: $(ms "$t1" "$t2") ms"
cli="$work/app/node_modules/.bin/db-rotator"
[ -x "$cli" ] || fail "no db-rotator binary after install"
if grep -rq "tsx" "$work/app/node_modules/db-rotator/bin/"; then fail "bin/ still uses tsx"; fi
[ ! -d "$work/app/node_modules/db-rotator/src" ] || fail "sources were packed"
[ -f "$work/app/node_modules/db-rotator/dist/workflow-bundle.js" ] || fail "no prebuilt workflow bundle"

"$cli" --help | grep -q "worker" || fail "--help does not list the worker command"
echo "--help: ok"

# Configuration as an operator would write it: keys from `keys generate`, a file store.
"$cli" keys generate --out "$work/keys.env"
set -a
# shellcheck disable=SC1091
. "$work/keys.env"
ROTATOR_STORE_PATH="$work/store.json"
ROTATOR_TASK_QUEUE="ci-package-$suffix"
ROTATOR_METRICS_PORT=0
ROTATOR_HEALTH_PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
ROTATOR_SHUTDOWN_GRACE_MS=10000
ROTATOR_ACTOR=ci
set +a

(cd "$work" && exec "$cli" worker >"$work/worker.log" 2>&1) &
worker_pid=$!
for _ in $(seq 1 300); do
  grep -q '"worker started"\|worker started' "$work/worker.log" && break
  kill -0 "$worker_pid" 2>/dev/null || fail "worker exited before it started"
  sleep 0.1
done
grep -q "worker started" "$work/worker.log" || fail "worker did not start in 30 s"
t3=$(t)
grep -q '"workflows":"prebuilt bundle"' "$work/worker.log" || fail "worker did not load the prebuilt bundle"
echo "worker: started in $(ms "$t2" "$t3") ms ($(grep -o '"startupMs":[0-9]*' "$work/worker.log"))"
curl -fsS "http://127.0.0.1:$ROTATOR_HEALTH_PORT/healthz" >/dev/null || fail "/healthz"
curl -fsS "http://127.0.0.1:$ROTATOR_HEALTH_PORT/readyz" | grep -q '"ready":true' || fail "/readyz not ready"
echo "/healthz /readyz: ok"

# The login to rotate, and its admin.
PGPASSWORD="$ROTATOR_PG_ADMIN_PASSWORD" psql -qAt -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" \
  -U "$ROTATOR_PG_ADMIN_USER" -d postgres >/dev/null <<SQL
CREATE ROLE $app LOGIN PASSWORD 'ci-initial-Pw1';
CREATE TABLE public.$app (id int);
GRANT SELECT, INSERT ON public.$app TO $app;
SQL
cat >"$work/admin.json" <<JSON
{ "id": "$ns/pg-admin", "engine": "postgres", "host": "$PGHOST", "port": $PGPORT, "database": "postgres",
  "baseUsername": "$ROTATOR_PG_ADMIN_USER" }
JSON
cat >"$work/app.json" <<JSON
{ "id": "$ns/app", "engine": "postgres", "host": "$PGHOST", "port": $PGPORT, "database": "postgres",
  "adminCredentialId": "$ns/pg-admin", "baseUsername": "$app",
  "policy": { "graceMs": 0, "migrationTimeoutMs": 0, "drainTimeoutMs": 0, "consumerDiscoveryMs": 0 } }
JSON
"$cli" credentials add "$work/admin.json" >/dev/null
printf '%s' "$ROTATOR_PG_ADMIN_PASSWORD" | "$cli" credentials import "$ns/pg-admin" \
  --username "$ROTATOR_PG_ADMIN_USER" --password-stdin >/dev/null
"$cli" credentials add "$work/app.json" >/dev/null
printf 'ci-initial-Pw1' | "$cli" credentials import "$ns/app" --username "$app" --password-stdin >/dev/null
"$cli" rotate "$ns/app" --wait --reason "package check" >"$work/rotate.log" 2>&1 || {
  cat "$work/rotate.log" >&2
  fail "rotation through the installed CLI"
}
grep -q "outcome: rotated" "$work/rotate.log" || fail "rotation outcome: $(tail -n1 "$work/rotate.log")"
"$cli" status "$ns/app" | grep -q "phase        done (rotated)" || fail "status after the rotation"
"$cli" history "$ns/app" | grep -q "rotated" || fail "history after the rotation"
t4=$(t)
echo "rotation: ok in $(ms "$t3" "$t4") ms"

kill -TERM "$worker_pid"
rc=0
wait "$worker_pid" || rc=$?
worker_pid=""
[ "$rc" -eq 0 ] || fail "worker exited $rc after SIGTERM"
echo "worker: SIGTERM → exit 0"
echo "ci-package: ok in $(ms "$t0" "$(t)") ms"
