/**
 * Format-1 specifics (the single JSON file, the legacy embedded backend): file
 * format and mode, atomic writes, the lock file, several processes.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, TransientError } from '../../src/errors';
import { FileStore } from '../../src/store';
import { SecretCipher } from '../../src/store/crypto';
import { auditAndRaceForPending, runStoreChildren } from '../helpers/store-children';

const KEY = randomBytes(32);
const cipher = new SecretCipher({ activeKeyId: 'k1', keys: { k1: KEY } });
const ID = 'svc/app';
const def = { id: ID, engine: 'postgres', host: 'h', port: 5432, baseUsername: 'app' } as const;

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), 'rotator-filestore-'));
  path = join(dir, 'state', 'store.json');
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function seeded(store: FileStore, password = 'pw-initial-1234') {
  await store.putDefinition({ ...def } as never, 'op');
  await store.importCurrent(ID, { username: 'app', password }, 'op');
}

/** Pid of a process that has exited (and, a moment later, is not running). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('file store', () => {
  it('creates the file 0600 in a 0700 directory, with a versioned JSON format', async () => {
    const store = await FileStore.open(path, cipher);
    await expect(fs.stat(path)).rejects.toMatchObject({ code: 'ENOENT' }); // nothing written yet
    await seeded(store);
    await store.createPending(ID, 2, 'app_b', () => 'pw-second-5678', 'w');
    expect((await fs.stat(path)).mode & 0o777).toBe(0o600);
    expect((await fs.stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
    const data = JSON.parse(await fs.readFile(path, 'utf8'));
    expect(data).toMatchObject({ format: 'db-rotator-credential-store', formatVersion: 1 });
    expect(data.credentials).toHaveLength(1);
    expect(
      data.credentials[0].versions.map((v: { version: number; label: string }) => [v.version, v.label]),
    ).toEqual([
      [1, 'CURRENT'],
      [2, 'PENDING'],
    ]);
    expect(data.audit.map((a: { action: string }) => a.action)).toEqual([
      'put-definition',
      'import-current',
      'create-pending',
    ]);
    // no temp or lock files left behind
    expect(await fs.readdir(join(dir, 'state'))).toEqual(['store.json']);
  });

  it('tightens the mode of an existing file on the next write', async () => {
    const store = await FileStore.open(path, cipher);
    await seeded(store);
    await fs.chmod(path, 0o644);
    await store.audit({ actor: 'a', credentialId: ID, action: 'x' });
    expect((await fs.stat(path)).mode & 0o777).toBe(0o600);
  });

  it('refuses a corrupt or foreign file without echoing its content', async () => {
    await fs.mkdir(join(dir, 'state'), { recursive: true, mode: 0o700 });
    await fs.writeFile(path, '{"format": "db-rotator-credential-store", "pw": "hunter2-in-file"', {
      mode: 0o600,
    });
    const e = await FileStore.open(path, cipher).catch((x: Error) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toMatch(/is not valid JSON/);
    expect((e as Error).message).not.toContain('hunter2');
    await fs.writeFile(path, JSON.stringify({ something: 'else' }));
    await expect(FileStore.open(path, cipher)).rejects.toThrow(/not a credential store/);
    await fs.writeFile(path, JSON.stringify({ format: 'db-rotator-credential-store', formatVersion: 9 }));
    await expect(FileStore.open(path, cipher)).rejects.toThrow(/unsupported formatVersion 9/);
  });

  it('detects a hand-edited file that breaks the label rules', async () => {
    const store = await FileStore.open(path, cipher);
    await seeded(store);
    await store.createPending(ID, 2, 'app_b', () => 'pw-second-5678', 'w');
    const data = JSON.parse(await fs.readFile(path, 'utf8'));
    Object.assign(data.credentials[0].versions[1], { state: 'current', label: 'CURRENT' });
    await fs.writeFile(path, JSON.stringify(data));
    // the edit is caught by the record signature before the label rules are even checked
    await expect(store.markRevoked(ID, 1, 'w')).rejects.toThrow(
      /version 2: its metadata was changed without the store key/,
    );
  });

  it('an id like "__proto__" is just an id', async () => {
    const store = await FileStore.open(path, cipher);
    await store.putDefinition({ ...def, id: '__proto__' } as never, 'op');
    expect((await store.getDefinition('__proto__')).id).toBe('__proto__');
    await expect(store.getDefinition('constructor')).rejects.toThrow(/unknown credential/);
  });

  describe('lock file', () => {
    const lockPath = () => `${path}.lock`;
    const writeLock = async (info: object, ageMs = 0) => {
      await fs.mkdir(join(dir, 'state'), { recursive: true, mode: 0o700 });
      await fs.writeFile(lockPath(), JSON.stringify(info));
      if (ageMs) {
        const t = new Date(Date.now() - ageMs);
        await fs.utimes(lockPath(), t, t);
      }
    };

    it('breaks a lock left by a dead process on this host', async () => {
      const store = await FileStore.open(path, cipher, { lock: { timeoutMs: 2000 } });
      await writeLock({ pid: deadPid(), host: hostname(), token: 'dead', at: new Date().toISOString() });
      await seeded(store);
      expect(await store.listVersions(ID)).toHaveLength(1);
      await expect(fs.stat(lockPath())).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('breaks a lock with our own pid that we do not hold (pid reuse after a restart)', async () => {
      const store = await FileStore.open(path, cipher, { lock: { timeoutMs: 2000 } });
      await writeLock({
        pid: process.pid,
        host: hostname(),
        token: 'old-incarnation',
        at: '2020-01-01T00:00:00Z',
      });
      await seeded(store);
      expect(await store.listVersions(ID)).toHaveLength(1);
    });

    it('waits for a live holder, then gives up with a retryable error naming it', async () => {
      const store = await FileStore.open(path, cipher, { lock: { timeoutMs: 300 } });
      await writeLock({ pid: process.ppid, host: hostname(), token: 'live', at: '2030-01-01T00:00:00Z' });
      const t0 = Date.now();
      const e = await store.putDefinition({ ...def } as never, 'op').catch((x: Error) => x);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(e).toBeInstanceOf(TransientError);
      expect((e as TransientError).retryable).toBe(true);
      expect((e as Error).message).toMatch(new RegExp(`locked .*held by pid ${process.ppid} on `));
      // the live lock is untouched
      expect(JSON.parse(await fs.readFile(lockPath(), 'utf8')).token).toBe('live');
      await fs.unlink(lockPath());
      await store.putDefinition({ ...def } as never, 'op');
    });

    it('proceeds as soon as a live holder releases', async () => {
      const store = await FileStore.open(path, cipher, { lock: { timeoutMs: 5000 } });
      await writeLock({ pid: process.ppid, host: hostname(), token: 'live', at: new Date().toISOString() });
      setTimeout(() => void fs.unlink(lockPath()), 200);
      await store.putDefinition({ ...def } as never, 'op');
      expect(await store.listDefinitions()).toHaveLength(1);
    });

    it('treats a lock from another host as live until it is old', async () => {
      const store = await FileStore.open(path, cipher, { lock: { timeoutMs: 200, foreignStaleMs: 60_000 } });
      await writeLock({ pid: 1, host: 'other-host.invalid', token: 'x', at: new Date().toISOString() });
      await expect(store.putDefinition({ ...def } as never, 'op')).rejects.toBeInstanceOf(TransientError);
      await writeLock(
        { pid: 1, host: 'other-host.invalid', token: 'x', at: '2020-01-01T00:00:00Z' },
        120_000,
      );
      await store.putDefinition({ ...def } as never, 'op');
    });

    it('treats an unreadable lock as live until it is old', async () => {
      const store = await FileStore.open(path, cipher, { lock: { timeoutMs: 200, foreignStaleMs: 60_000 } });
      await fs.mkdir(join(dir, 'state'), { recursive: true, mode: 0o700 });
      await fs.writeFile(lockPath(), '');
      await expect(store.putDefinition({ ...def } as never, 'op')).rejects.toThrow(/unknown holder/);
      const t = new Date(Date.now() - 120_000);
      await fs.utimes(lockPath(), t, t);
      await store.putDefinition({ ...def } as never, 'op');
    });
  });

  it('several processes writing one file lose no update and never make two pendings', async () => {
    const store = await FileStore.open(path, cipher);
    await seeded(store);
    const children = runStoreChildren(
      dir,
      auditAndRaceForPending(
        'FileStore.open(process.env.STORE_PATH!, cipher)',
        JSON.stringify(ID),
        JSON.stringify(ID),
      ),
      { count: 4, key: KEY, storePath: path },
    );
    // this process writes concurrently too
    const mine = Promise.all(
      Array.from({ length: 15 }, (_, i) =>
        store.audit({ actor: 'parent', credentialId: ID, action: 'ping', version: i }),
      ),
    );
    const outs = [...(await children), await mine.then(() => '[]')].flatMap((o) => JSON.parse(o) as string[]);
    expect(outs.filter((o) => o === 'created')).toHaveLength(1);
    expect(outs.filter((o) => o !== 'created').every((o) => o === 'StoreStateError')).toBe(true);
    const audit = await store.listAudit(ID);
    expect(audit.filter((a) => a.action === 'ping')).toHaveLength(5 * 15);
    for (const actor of ['parent', 'child0', 'child1', 'child2', 'child3']) {
      expect(audit.filter((a) => a.action === 'ping' && a.actor === actor).map((a) => a.version)).toEqual(
        Array.from({ length: 15 }, (_, i) => i),
      );
    }
    const pending = (await store.listVersions(ID)).filter((v) => v.state === 'pending');
    expect(pending).toHaveLength(1);
    expect((await store.getSecret(ID, 'PENDING')).password).toMatch(/^pw-child-\d-secret$/);
    expect(await fs.readdir(join(dir, 'state'))).toEqual(['store.json']);
  }, 60_000);
});
