#!/usr/bin/env bash
# The README's main-job command: starts the services, then rotates a real
# PostgreSQL login through a real worker on the Temporal dev server and prints a report.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh
bash scripts/services.sh up
eval "$(bash scripts/services.sh env)"
demo_dir="$ROTATOR_STATE_DIR/demo"
mkdir -p "$demo_dir"
chmod 700 "$demo_dir"
# Demo keys are generated once and kept beside the demo store (production: your secret manager).
if [ ! -f "$demo_dir/keys.env" ]; then
  node -e '
    const k = () => require("crypto").randomBytes(32).toString("base64");
    console.log(`ROTATOR_STORE_KEYS=demo1:${k()}`);
    console.log(`ROTATOR_CODEC_KEYS=demo1:${k()}`);' > "$demo_dir/keys.env"
  chmod 600 "$demo_dir/keys.env"
fi
set -a
# shellcheck disable=SC1091
. "$demo_dir/keys.env"
ROTATOR_STORE_PATH="$demo_dir/store.json"
ROTATOR_TASK_QUEUE="db-rotation-demo"
set +a
# A demo store written by an earlier version holds unsigned records: sign them, as an upgrading
# operator would (nothing to do on a new store; a record with a wrong signature is still refused).
if [ -e "$ROTATOR_STORE_PATH" ]; then npx tsx src/client.ts store sign --all >/dev/null; fi
exec npx tsx scripts/demo.ts
