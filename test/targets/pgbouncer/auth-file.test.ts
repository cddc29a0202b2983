import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyLines, lineSecret, lineUser, updateAuthFile } from '../../../src/targets/pgbouncer/auth-file';

describe('PgBouncer auth file lines', () => {
  it('sets, replaces and removes only the given logins; other lines stay byte for byte', () => {
    const before = ';; managed by ops\n"admin" "SCRAM-SHA-256$4096:aa$bb:cc"\n"app" "old"\n  "other"   "x"\n';
    const after = applyLines(
      before,
      new Map([
        ['app', 'SCRAM-SHA-256$4096:new'],
        ['app_b', 'SCRAM-SHA-256$4096:b'],
        ['gone', undefined],
      ]),
    );
    expect(after).toBe(
      ';; managed by ops\n"admin" "SCRAM-SHA-256$4096:aa$bb:cc"\n"app" "SCRAM-SHA-256$4096:new"\n  "other"   "x"\n"app_b" "SCRAM-SHA-256$4096:b"\n',
    );
    expect(applyLines(after, new Map([['app', undefined]]))).not.toContain('"app" ');
  });

  it('quotes a login name with a double quote by doubling it, and parses it back', () => {
    const text = applyLines('', new Map([['we"ird', 'v']]));
    expect(text).toBe('"we""ird" "v"\n');
    expect(lineUser(text.trim())).toBe('we"ird');
    expect(lineSecret(text.trim())).toBe('v');
  });

  it('replaces the file atomically keeping its mode, and reports no change when nothing changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'userlist-'));
    try {
      const path = join(dir, 'userlist.txt');
      writeFileSync(path, '"admin" "a"\n');
      chmodSync(path, 0o640);
      const ino = statSync(path).ino;
      expect(await updateAuthFile(path, new Map([['app', 'v1']]))).toBe(true);
      expect(readFileSync(path, 'utf8')).toBe('"admin" "a"\n"app" "v1"\n');
      expect(statSync(path).mode & 0o777).toBe(0o640);
      expect(statSync(path).ino).not.toBe(ino); // a new file renamed over the old one
      expect(await updateAuthFile(path, new Map([['app', 'v1']]))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
