// Lists the mutants of a StrykerJS JSON report with how each was killed (issue 17).
// `node scripts/mutation-kills.mjs [reports/mutation-workflow/mutation.json]`
// For the workflow run a "killed" is only a measurement when a test failed on an assertion or an
// error of the workflow; a kill by "Test timed out" is a hang and is worth a look (a broken run
// hangs too). Prints one line per mutant, then the counts.
// A directory instead of the report reads the event-recorder's files of a run still going
// (`node scripts/mutation-kills.mjs reports/mutation-workflow/events`): the mutants tested so far.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const source = process.argv[2] ?? 'reports/mutation-workflow/mutation.json';
const counts = {};
for (const [file, { mutants }] of Object.entries(readReport(source))) {
  for (const m of mutants) {
    // eslint-disable-next-line no-control-regex
    const reason = (m.statusReason ?? '').replace(/\x1b\[[0-9;]*m/g, '');
    const how =
      m.status !== 'Killed'
        ? ''
        : /Test timed out/.test(reason)
          ? 'by a test timeout'
          : (reason.split('\n').find((l) => /Error/.test(l)) ?? 'by a failing test').trim().slice(0, 100);
    const key = how === 'by a test timeout' ? 'Killed (timeout)' : m.status;
    counts[key] = (counts[key] ?? 0) + 1;
    const at = `${file}:${m.location.start.line}:${m.location.start.column}`;
    console.log(
      `${m.id}\t${m.status}\t${at}\t${m.mutatorName} ${JSON.stringify(m.replacement ?? '')}\t${how}`,
    );
  }
}
console.log(JSON.stringify(counts));

/** `{ file: { mutants } }` from a JSON report, or from the onMutantTested events in a directory. */
function readReport(path) {
  if (!statSync(path).isDirectory()) return JSON.parse(readFileSync(path, 'utf8')).files;
  const files = {};
  for (const name of readdirSync(path)
    .filter((n) => n.endsWith('onMutantTested.json'))
    .sort()) {
    const m = JSON.parse(readFileSync(join(path, name), 'utf8'));
    const file = relative(process.cwd(), m.fileName);
    (files[file] ??= { mutants: [] }).mutants.push(m);
  }
  return files;
}
