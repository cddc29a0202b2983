import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';

/** A scratch directory per test of the enclosing describe block (read `path` inside tests), removed after it. */
export function withTempDir(prefix: string): { path: string } {
  const dir = { path: '' };
  beforeEach(() => {
    dir.path = mkdtempSync(join(tmpdir(), prefix));
  });
  afterEach(() => {
    if (dir.path) rmSync(dir.path, { recursive: true, force: true });
  });
  return dir;
}
