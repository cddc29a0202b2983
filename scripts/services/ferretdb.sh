#!/usr/bin/env bash
# scripts/services/ferretdb.sh — FerretDB v1.24.0 (MongoDB wire protocol) on
# 127.0.0.1:27017, TLS on 27018, SQLite backend; SCRAM user rotator_admin in
# db `admin`. Built from the Go module proxy at install (Go >= 1.21 needed).
# shellcheck source=scripts/services/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
first_load ferretdb || return 0
# shellcheck source=scripts/services/tls.sh
. "$SERVICES_DIR/tls.sh"

MONGO_PORT=27017
FERRETDB_VERSION=v1.24.0

ferretdb_ok() {
  [[ -x "$BIN/ferretdb" ]] && "$BIN/ferretdb" --version 2>/dev/null | grep "version: $FERRETDB_VERSION" >/dev/null
}

ferretdb_install() {
  ferretdb_ok && return 0
  have go || die "Go (>= 1.21) is required to build FerretDB $FERRETDB_VERSION"
  local t0 dir src
  t0="$(now)"
  log "ferretdb: building $FERRETDB_VERSION from the Go module proxy (takes ~1-2 min)"
  # `go install ...@v1.24.0` needs the proxy's @v/list (which may be refused),
  # and a plain build panics without build/version/version.txt; so download
  # the exact module, copy it, add version.txt and build it as the main module.
  dir="$(cd "$STATE/build" && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" 2>"$LOG/ferretdb-build.log" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')" ||
    true
  [[ -n "$dir" && -d "$dir" ]] || die "go mod download of FerretDB failed; see $LOG/ferretdb-build.log"
  src="$STATE/build/ferretdb-src"
  rm -rf "$src"
  cp -r "$dir" "$src"
  chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  echo "source" >"$src/build/version/package.txt"
  (cd "$src" && GOFLAGS=-buildvcs=false CGO_ENABLED=0 go build -trimpath -o "$BIN/ferretdb.tmp" ./cmd/ferretdb) \
    >>"$LOG/ferretdb-build.log" 2>&1 || die "FerretDB build failed; see $LOG/ferretdb-build.log"
  mv -f "$BIN/ferretdb.tmp" "$BIN/ferretdb"
  rm -rf "$src"
  ferretdb_ok || die "built $BIN/ferretdb does not report $FERRETDB_VERSION"
  log "ferretdb: built in $(elapsed "$t0")"
}

# A real SCRAM login with the `mongodb` driver from the repo's node_modules.
mongo_node() {
  (cd "$REPO_ROOT" && ROTATOR_MONGO_HOST="$HOST" ROTATOR_MONGO_PORT="$MONGO_PORT" \
    ROTATOR_MONGO_ADMIN_USER="$ADMIN_USER" ROTATOR_MONGO_ADMIN_PASSWORD="$ADMIN_PW" timeout 20 node -e "$1" 2>/dev/null)
}
HAVE_MONGO_DRIVER=""
have_mongo_driver() {
  if [[ -z "$HAVE_MONGO_DRIVER" ]]; then
    HAVE_MONGO_DRIVER=no
    [[ -f "$REPO_ROOT/node_modules/mongodb/package.json" ]] && have node && HAVE_MONGO_DRIVER=yes
  fi
  [[ $HAVE_MONGO_DRIVER == yes ]]
}
# shellcheck disable=SC2016 # JavaScript, not shell
MONGO_PING_JS='
const { MongoClient } = require("mongodb");
const e = process.env;
const url = `mongodb://${encodeURIComponent(e.ROTATOR_MONGO_ADMIN_USER)}:${encodeURIComponent(e.ROTATOR_MONGO_ADMIN_PASSWORD)}@${e.ROTATOR_MONGO_HOST}:${e.ROTATOR_MONGO_PORT}/?authSource=admin&directConnection=true&serverSelectionTimeoutMS=2000&connectTimeoutMS=2000`;
(async () => {
  const c = new MongoClient(url);
  try {
    await c.connect();
    const b = await c.db("admin").command({ buildInfo: 1 });
    const s = await c.db("admin").command({ connectionStatus: 1 });
    const who = (s.authInfo && s.authInfo.authenticatedUsers || []).map((u) => u.user);
    if (!who.includes(e.ROTATOR_MONGO_ADMIN_USER)) throw new Error("not authenticated");
    console.log(`${b.version} (FerretDB ${b.ferretdbVersion || "?"})`);
  } finally { await c.close(); }
})().catch(() => process.exit(1));
'
ferretdb_ready() {
  port_open "$MONGO_PORT" || return 1
  if have_mongo_driver; then
    mongo_node "$MONGO_PING_JS" >/dev/null
  fi # else: no driver yet (npm ci not run): TCP only
}
ferretdb_version() {
  local v
  if have_mongo_driver && v="$(mongo_node "$MONGO_PING_JS")"; then
    echo "mongodb-wire $v"
  else
    "$BIN/ferretdb" --version 2>/dev/null | sed -n 's/^version: /FerretDB /p'
  fi
}
ferretdb_addr() { echo "$HOST:$MONGO_PORT"; }
ferretdb_died() { died_by_pidfile ferretdb; }

ferretdb_start() {
  daemon_needs_start ferretdb "$BIN/ferretdb" "$MONGO_PORT" || return 0
  local logf="$LOG/ferretdb.log"
  mkdir -p "$DATA/ferretdb" "$RUN/ferretdb"
  have_mongo_driver || log "ferretdb: note: no 'mongodb' driver in $REPO_ROOT/node_modules; readiness is a TCP check only"
  log "ferretdb: starting"
  tls_certs
  local tls_args
  mapfile -t tls_args < <(ferretdb_tls_args)
  # --setup-* creates the user only when the `admin` database does not exist yet
  setsid nohup "$BIN/ferretdb" \
    --handler=sqlite --sqlite-url="file:$DATA/ferretdb/" \
    --listen-addr="$HOST:$MONGO_PORT" "${tls_args[@]}" --state-dir="$RUN/ferretdb" \
    --debug-addr=- --telemetry=disable --log-level=info \
    --test-enable-new-auth \
    --setup-database=admin --setup-username="$ADMIN_USER" --setup-password="$ADMIN_PW" \
    </dev/null >>"$logf" 2>&1 &
  echo $! >"$RUN/ferretdb.pid"
}

ferretdb_stop() { stop_pid ferretdb "$RUN/ferretdb.pid" "$BIN/ferretdb" 30; }

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then standalone ferretdb "$@"; fi
