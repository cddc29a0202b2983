// Prints vitest's own counts from its JSON reports as "N passed, N failed[, N skipped]".
import { existsSync, readFileSync } from 'node:fs';

const files = process.argv.slice(2).length ? process.argv.slice(2) : ['reports/vitest.json'];
let passed = 0;
let failed = 0;
let skipped = 0;
for (const [i, file] of files.entries()) {
  if (!existsSync(file)) {
    // The first report is required; later ones only exist for a full run.
    if (i === 0) {
      console.error(`no vitest report at ${file}: the test run did not finish`);
      failed++;
    }
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  // A file that failed to load has no tests but counts as a failure.
  const broken = (r.testResults ?? []).filter(
    (t) => t.status === 'failed' && (t.assertionResults ?? []).length === 0,
  ).length;
  passed += r.numPassedTests ?? 0;
  failed += (r.numFailedTests ?? 0) + broken;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
