#!/usr/bin/env bash
# The README's test command: brings up the services it needs, runs the whole
# vitest suite against them, and ends with the line "N passed, N failed[, N skipped]".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/services.sh up
mkdir -p reports
rm -f reports/vitest.json
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json=reports/vitest.json "$@"
rc=$?
set -e
node scripts/test-summary.mjs reports/vitest.json || rc=1
exit "$rc"
