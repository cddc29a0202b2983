import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './services';

/**
 * Test-only ledger for the end-of-suite leak scan (test/e2e/leak-scan.test.ts): every
 * password a test generated or imported, every codec key (so the scan can
 * decrypt history payloads), and the worker logs of each test process.
 * Files are 0600 under .cache/leak-scan and removed by scripts/test.sh.
 */
export const LEAK_DIR = join(REPO_ROOT, '.cache', 'leak-scan');

function file(kind: string): string {
  mkdirSync(LEAK_DIR, { recursive: true, mode: 0o700 });
  return join(LEAK_DIR, `${kind}-${process.pid}.txt`);
}

export function recordSecrets(secrets: string[]): void {
  if (secrets.length)
    appendFileSync(file('secrets'), secrets.map((s) => JSON.stringify(s)).join('\n') + '\n', { mode: 0o600 });
}

export function recordCodecKey(spec: string): void {
  appendFileSync(file('codec-keys'), spec + '\n', { mode: 0o600 });
}

export function recordLogs(lines: string[]): void {
  writeFileSync(file('logs'), lines.join('\n'), { mode: 0o600 });
}
