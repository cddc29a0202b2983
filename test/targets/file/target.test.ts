import { spawn } from 'node:child_process';
import {
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileTarget } from '../../../src/targets/file';
import { fileTargetSchema } from '../../../src/targets/schema';
import { delivered, deliveryStep } from '../../helpers/delivery';

const version = delivered;
const step = deliveryStep;

const mode = (p: string) => lstatSync(p).mode & 0o7777;

describe('file target (kubelet layout on the real file system)', () => {
  let root: string;
  let dir: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'file-target-'));
    dir = join(root, 'orders-app');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const target = (extra: Record<string, unknown> = {}) =>
    FileTarget.create(fileTargetSchema.parse({ type: 'file', dir, ...extra }));

  it('publishes username, password and credential.json behind ..data, dir 0700 and files 0600 by default', async () => {
    const t = await target();
    const v1 = version(1, 'pw-one');
    const v2 = version(2, 'pw-two');
    await t.publishCurrent(step(v1, v2));
    await t.verify(step(v1, v2), 'current');

    expect(readFileSync(join(dir, 'username'), 'utf8')).toBe('app_v2');
    expect(readFileSync(join(dir, 'password'), 'utf8')).toBe('pw-two');
    expect(JSON.parse(readFileSync(join(dir, 'credential.json'), 'utf8'))).toEqual({
      version: 2,
      engine: 'postgres',
      host: 'db.internal',
      port: 5432,
      database: 'orders',
      username: 'app_v2',
      password: 'pw-two',
    });
    const data = readlinkSync(join(dir, '..data'));
    expect(data).toMatch(/^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.[0-9a-f]+$/);
    expect(readlinkSync(join(dir, 'password'))).toBe('..data/password');
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, data))).toBe(0o700);
    for (const f of ['username', 'password', 'credential.json']) expect(mode(join(dir, data, f))).toBe(0o600);
  });

  it('is idempotent: publishing the same version again writes no new directory', async () => {
    const t = await target();
    const s = step(version(1, 'a'), version(2, 'b'));
    await t.publishCurrent(s);
    const before = readlinkSync(join(dir, '..data'));
    await t.publishCurrent(s);
    await t.publishCurrent(s);
    expect(readlinkSync(join(dir, '..data'))).toBe(before);
    expect(readdirSync(dir).filter((e) => /^\.\.\d/.test(e))).toHaveLength(1);
  });

  it('restores the old version at rollback and prunes old version directories only at revoke', async () => {
    const t = await target();
    const v1 = version(1, 'one');
    const v2 = version(2, 'two');
    const v3 = version(3, 'three');
    await t.restore(step(v1)); // bootstrap: v1 shown
    await t.publishCurrent(step(v1, v2));
    await t.restore(step(v1, v2)); // rollback: v1 again
    await t.verify(step(v1, v2), 'restored');
    await expect(t.verify(step(v1, v2), 'current')).rejects.toThrow(/does not show version 2/);
    expect(readFileSync(join(dir, 'password'), 'utf8')).toBe('one');

    await t.publishCurrent(step(v1, v3));
    expect(readdirSync(dir).filter((e) => /^\.\.\d/.test(e)).length).toBeGreaterThan(1);
    await t.removeOld(step(v1, v3));
    const left = readdirSync(dir).filter((e) => /^\.\.\d/.test(e));
    expect(left).toEqual([readlinkSync(join(dir, '..data'))]);
    expect(readFileSync(join(dir, 'password'), 'utf8')).toBe('three');
    await t.verify(step(v1, v3), 'old-removed');
  });

  it('renders dotenv, libpq URI, .pgpass and JDBC URL with each format escaping', async () => {
    const t = await target({
      renderings: ['dotenv', 'uri', 'pgpass', 'jdbc'],
      host: '127.0.0.1',
      port: 6432,
    });
    const tricky = version(2, 'p:a"s$s\\w@rd/?', 'app:odd');
    await t.publishCurrent(step(version(1, 'x'), tricky));
    expect(readFileSync(join(dir, 'uri'), 'utf8')).toBe(
      'postgresql://app%3Aodd:p%3Aa%22s%24s%5Cw%40rd%2F%3F@127.0.0.1:6432/orders\n',
    );
    expect(readFileSync(join(dir, '.pgpass'), 'utf8')).toBe(
      '127.0.0.1:6432:orders:app\\:odd:p\\:a"s$s\\\\w@rd/?\n',
    );
    const env = readFileSync(join(dir, 'credential.env'), 'utf8');
    expect(env).toContain('DB_PASSWORD="p:a\\"s\\$s\\\\w@rd/?"\n');
    expect(env).toContain('PGPORT="6432"\n');
    expect(readFileSync(join(dir, 'jdbc-url'), 'utf8')).toBe(
      'jdbc:postgresql://127.0.0.1:6432/orders?user=app%3Aodd&password=p%3Aa%22s%24s%5Cw%40rd%2F%3F\n',
    );
    // The shell reads the env file back to the exact password.
    const out = await run('sh', [
      '-c',
      `set -a; . "${join(dir, 'credential.env')}"; printf %s "$DB_PASSWORD"`,
    ]);
    expect(out).toBe('p:a"s$s\\w@rd/?');
  });

  it('applies configured owner, group and modes', async () => {
    const t = await target({ owner: 101, group: 'root', dirMode: '0750', fileMode: '0640' });
    await t.publishCurrent(step(version(1, 'a'), version(2, 'b')));
    const data = join(dir, readlinkSync(join(dir, '..data')));
    expect(lstatSync(join(data, 'password')).uid).toBe(101);
    expect(lstatSync(join(data, 'password')).gid).toBe(0);
    expect(mode(data)).toBe(0o750);
    expect(mode(join(data, 'password'))).toBe(0o640);
    // A changed mode alone is a change: the next publish rewrites.
    const t2 = await target({ owner: 101, group: 'root', dirMode: '0700', fileMode: '0600' });
    await t2.publishCurrent(step(version(1, 'a'), version(2, 'b')));
    expect(mode(join(dir, readlinkSync(join(dir, '..data')), 'password'))).toBe(0o600);
  });

  it('refuses an unknown owner name with a clear error', async () => {
    await expect(target({ owner: 'no_such_user_here' })).rejects.toThrow(/unknown user "no_such_user_here"/);
  });

  it('verify fails when the files on disk were changed behind its back', async () => {
    const t = await target();
    const s = step(version(1, 'a'), version(2, 'b'));
    await t.publishCurrent(s);
    const data = join(dir, readlinkSync(join(dir, '..data')));
    rmSync(join(data, 'password'));
    writeFileSync(join(data, 'password'), 'tampered');
    await expect(t.verify(s, 'current')).rejects.toThrow(/does not show version 2/);
    // ... and a publish repairs it (content differs, so a new directory is written).
    await t.publishCurrent(s);
    await t.verify(s, 'current');
  });

  it('a reader in another process never sees a torn state during 300 swaps', async () => {
    const t = await target();
    const versions = [1, 2, 3].map((v) => version(v, `password-${v}-${'x'.repeat(v * 500)}`));
    await t.publishCurrent(step(versions[0]!, versions[0]));
    const reader = spawn(process.execPath, ['-e', READER, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = collect(reader);
    await waitFor(() => output.stderr.includes('ready'));
    for (let i = 0; i < 300; i++) {
      const v = versions[i % 3]!;
      await t.publishCurrent(step(versions[0]!, v));
      if (i % 50 === 49) await t.removeOld(step(versions[0]!, v));
    }
    reader.kill('SIGTERM');
    await new Promise((r) => reader.once('exit', r));
    const summary = JSON.parse(output.stdout) as { reads: number; torn: number; versionsSeen: number[] };
    expect(summary.torn).toBe(0);
    expect(summary.reads).toBeGreaterThan(300);
    expect(summary.versionsSeen.sort()).toEqual([1, 2, 3]);
  });
});

/**
 * Reads like an application: resolves ..data once and reads the three files from that directory
 * (they must agree), and reads the top-level password link (it must be a whole password).
 */
const READER = `
const fs = require('fs'), path = require('path');
const dir = process.argv[1];
let reads = 0, torn = 0; const seen = new Set();
process.stderr.write('ready');
process.on('SIGTERM', () => { process.stdout.write(JSON.stringify({ reads, torn, versionsSeen: [...seen] })); process.exit(0); });
function once() {
  let data;
  try {
    // Never missing, never a partial file: ..data is replaced by rename, links point through it.
    const top = fs.readFileSync(path.join(dir, 'password'), 'utf8');
    if (!/^password-[123]-x+$/.test(top) || top.length !== 11 + 500 * Number(top[9])) torn++;
    data = path.join(dir, fs.readlinkSync(path.join(dir, '..data')));
  } catch (e) { torn++; process.stderr.write(String(e)); return; }
  try {
    const c = JSON.parse(fs.readFileSync(path.join(data, 'credential.json'), 'utf8'));
    const u = fs.readFileSync(path.join(data, 'username'), 'utf8');
    const p = fs.readFileSync(path.join(data, 'password'), 'utf8');
    if (c.username !== u || c.password !== p) torn++;
    seen.add(c.version);
  } catch (e) {
    // A directory pruned between resolving ..data and reading vanishes whole (ENOENT): read again.
    if (e.code !== 'ENOENT') { torn++; process.stderr.write(String(e)); }
    return;
  }
  reads++;
}
(function loop() { for (let i = 0; i < 20; i++) once(); setImmediate(loop); })();
`;

function collect(child: ReturnType<typeof spawn>) {
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  return out;
}

async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args);
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}`))));
  });
}
