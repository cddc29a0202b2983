#!/usr/bin/env bash
# The README's test command: brings up the services it needs, runs the whole
# vitest suite against them, then the secret leak scan over everything the
# suite left in Temporal, and ends with "N passed, N failed[, N skipped]".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/ensure-deps.sh
# bin/db-rotator runs dist/ (operations.test.ts runs it): build what the package ships.
bash scripts/build.sh
bash scripts/services.sh up
mkdir -p reports
rm -f reports/vitest.json reports/vitest-leak-scan.json
rm -rf .cache/leak-scan
mkdir -p -m 700 .cache/leak-scan
date -u +%Y-%m-%dT%H:%M:%SZ > .cache/leak-scan/started-at

rc=0
npx vitest run --reporter=default --reporter=json --outputFile.json=reports/vitest.json "$@" || rc=1
if [ $# -eq 0 ]; then
  # Only after a full run: the scan needs the whole suite's histories and passwords.
  npx vitest run --config vitest.leak-scan.config.mts --reporter=default --reporter=json \
    --outputFile.json=reports/vitest-leak-scan.json || rc=1
fi
rm -rf .cache/leak-scan
node scripts/test-summary.mjs reports/vitest.json reports/vitest-leak-scan.json || rc=1
exit "$rc"
