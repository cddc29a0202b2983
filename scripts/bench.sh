#!/usr/bin/env bash
# `npm run bench`: performance goals live here, not in timed tests. Starts the
# services, runs each benchmark, prints its numbers and writes reports/bench-*.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/services.sh up
[ -d node_modules ] || npm ci --no-audit --no-fund
eval "$(bash scripts/services.sh env)"
mkdir -p reports
benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(active-phase privilege-clone store fleet zero-downtime delivery)
for b in "${benches[@]}"; do
  echo "=== bench: $b"
  npx tsx "bench/$b.ts"
done
