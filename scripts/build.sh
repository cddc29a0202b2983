#!/usr/bin/env bash
# `npm run build`: compiles src/ to dist/ and bundles the workflow code once,
# at build time, into dist/workflow-bundle.js (the worker loads it instead of
# bundling at every start).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rm -rf dist
npx tsc -p tsconfig.build.json
node dist/build/bundle-workflows.js dist/workflow-bundle.js
