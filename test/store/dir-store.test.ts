/**
 * The default embedded backend's specifics (one file per credential): layout
 * and modes, a mutation touches only its credential's file, corrupt, foreign
 * and half-written files, and several processes (CLI + worker) at once.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors';
import { DirStore, openStore, type ManagedCredentialStore } from '../../src/store';
import { SecretCipher } from '../../src/store/crypto';
import { entryFileName } from '../../src/store/dir-store';
import { auditAndRaceForPending, runStoreChildren } from '../helpers/store-children';
import { dirEntryPath } from '../helpers/store-contract';

const KEY = randomBytes(32);
const cipher = new SecretCipher({ activeKeyId: 'k1', keys: { k1: KEY } });
const def = (id: string) => ({ id, engine: 'postgres', host: 'h', port: 5432, baseUsername: 'app' }) as const;

let dir: string;
let root: string;
let store: ManagedCredentialStore | undefined;
beforeEach(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), 'rotator-dirstore-'));
  root = join(dir, 'state', 'store');
});
afterEach(async () => {
  await store?.close();
  store = undefined;
  await fs.rm(dir, { recursive: true, force: true });
});

async function seeded(ids: string[]): Promise<ManagedCredentialStore> {
  store = await openStore({ backend: 'file', path: root }, cipher);
  for (const id of ids) {
    await store.putDefinition({ ...def(id) } as never, 'op');
    await store.importCurrent(id, { username: 'app', password: `pw-${id}-initial` }, 'op');
  }
  return store;
}

const mode = async (p: string) => (await fs.stat(p)).mode & 0o777;

describe('directory store', () => {
  it('lays out a marker and one 0600 file per credential in 0700 directories, nothing else', async () => {
    const s = await seeded(['svc/a', 'svc/B']);
    expect(await mode(join(dir, 'state'))).toBe(0o700);
    expect(await mode(root)).toBe(0o700);
    expect(await mode(join(root, 'credentials'))).toBe(0o700);
    expect(JSON.parse(await fs.readFile(join(root, 'store-format.json'), 'utf8'))).toEqual({
      format: 'db-rotator-credential-store',
      formatVersion: 2,
    });
    // Uppercase escaped: "svc/B" and "svc/b" never share a file on a case-insensitive file system.
    expect((await fs.readdir(join(root, 'credentials'))).sort()).toEqual(['svc%2F%42.json', 'svc%2Fa.json']);
    for (const n of await fs.readdir(join(root, 'credentials'))) {
      expect(await mode(join(root, 'credentials', n))).toBe(0o600);
    }
    const text = await fs.readFile(dirEntryPath(root, 'svc/a'), 'utf8');
    expect(text).not.toContain('pw-svc/a-initial');
    expect(JSON.parse(text).audit.map((a: { action: string }) => a.action)).toEqual([
      'put-definition',
      'import-current',
    ]);
    expect((await s.getSecret('svc/B', 'CURRENT')).password).toBe('pw-svc/B-initial');
  });

  it('names a too-long id by its hash, and the name never escapes the directory', () => {
    expect(entryFileName('../../etc/passwd')).toBe('%2E%2E%2F%2E%2E%2Fetc%2Fpasswd.json');
    expect(entryFileName('x'.repeat(100) + '/'.repeat(100))).toMatch(/^~[0-9a-f]{64}\.json$/);
    expect(entryFileName('a'.repeat(200))).toBe(`${'a'.repeat(200)}.json`);
  });

  it("a mutation rewrites only its own credential's file", async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `svc/${i}`);
    const s = await seeded(ids);
    const before = new Map<string, string>();
    for (const id of ids) before.set(id, await fs.readFile(dirEntryPath(root, id), 'utf8'));
    const inode = (await fs.stat(dirEntryPath(root, 'svc/3'))).ino;
    await s.createPending('svc/7', 2, 'app', () => 'pw-new-secret-7', 'op');
    await s.promote('svc/7', 2, 'op');
    for (const id of ids) {
      const now = await fs.readFile(dirEntryPath(root, id), 'utf8');
      if (id === 'svc/7') expect(now).not.toBe(before.get(id));
      else expect(now).toBe(before.get(id));
    }
    expect((await fs.stat(dirEntryPath(root, 'svc/3'))).ino).toBe(inode);
  });

  it('a deleted credential keeps its audit; listAudit() merges every credential by time', async () => {
    const s = await seeded(['svc/a', 'svc/b']);
    await s.deleteDefinition('svc/a', 'op');
    expect((await s.listDefinitions()).map((d) => d.id)).toEqual(['svc/b']);
    expect((await s.listAudit('svc/a')).map((a) => a.action)).toEqual([
      'put-definition',
      'import-current',
      'delete-definition',
    ]);
    const all = await s.listAudit();
    expect(all).toHaveLength(5);
    expect(all.map((a) => a.at)).toEqual([...all.map((a) => a.at)].sort());
  });

  it('refuses a corrupt credential file naming it, without its content; other credentials still work', async () => {
    const s = await seeded(['svc/a', 'svc/b']);
    await fs.writeFile(dirEntryPath(root, 'svc/a'), '{"id": "svc/a", "versions": [ secret-ish', {
      mode: 0o600,
    });
    const e = await s.getSecret('svc/a', 'CURRENT').catch((x: Error) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toMatch(/credential store file .*svc%2Fa\.json is not valid JSON/);
    expect((e as Error).message).not.toContain('secret-ish');
    await expect(s.promote('svc/a', 1, 'op')).rejects.toThrow(/is not valid JSON/);
    expect((await s.getSecret('svc/b', 'CURRENT')).password).toBe('pw-svc/b-initial');
    await expect(s.listDefinitions()).rejects.toThrow(/svc%2Fa\.json is not valid JSON/);
  });

  it('refuses a credential file copied under another name (it holds another id)', async () => {
    const s = await seeded(['svc/a', 'svc/b']);
    await fs.copyFile(dirEntryPath(root, 'svc/a'), dirEntryPath(root, 'svc/b'));
    await expect(s.getSecret('svc/b', 'CURRENT')).rejects.toThrow(/holds another credential/);
    await expect(s.listDefinitions()).rejects.toThrow(/holds another credential/);
  });

  it('a writer that died before its rename leaves the credential as it was', async () => {
    const s = await seeded(['svc/a']);
    const file = dirEntryPath(root, 'svc/a');
    const before = await fs.readFile(file, 'utf8');
    // What a crash between write and rename leaves: a half-written temp file.
    await fs.writeFile(`${file}.tmp-999999-abcdef`, before.slice(0, 40), { mode: 0o600 });
    expect((await s.listDefinitions()).map((d) => d.id)).toEqual(['svc/a']);
    expect((await s.getSecret('svc/a', 'CURRENT')).password).toBe('pw-svc/a-initial');
    await s.createPending('svc/a', 2, 'app', () => 'pw-next-one', 'op');
    expect((await s.getVersion('svc/a', 'PENDING'))?.version).toBe(2);
  });

  it('refuses a group-readable credential file, a foreign directory and another format version', async () => {
    const s = await seeded(['svc/a']);
    await fs.chmod(dirEntryPath(root, 'svc/a'), 0o640);
    await expect(s.getDefinition('svc/a')).rejects.toThrow(
      /accessible by group or others \(mode 0640\).*chmod 600/,
    );
    const foreign = join(dir, 'foreign');
    await fs.mkdir(foreign, { mode: 0o700 });
    await fs.writeFile(join(foreign, 'notes.txt'), 'hello');
    await expect(DirStore.open(foreign, cipher)).rejects.toThrow(/not empty and has no store-format\.json/);
    await fs.writeFile(
      join(root, 'store-format.json'),
      '{"format":"db-rotator-credential-store","formatVersion":3}',
    );
    await expect(DirStore.open(root, cipher)).rejects.toThrow(/unsupported formatVersion 3/);
  });

  it('a worker and several CLI processes on one store lose no update and never make two pendings', async () => {
    const s = await seeded(['svc/a', 'svc/b']);
    const children = runStoreChildren(
      dir,
      auditAndRaceForPending(
        "openStore({ backend: 'file', path: process.env.STORE_PATH! }, cipher)",
        "i % 2 ? 'svc/a' : 'svc/b'",
        "'svc/a'",
      ),
      { count: 4, key: KEY, storePath: root },
    );
    // This process (the "worker") writes both credentials concurrently too.
    const mine = Promise.all(
      Array.from({ length: 15 }, (_, i) =>
        s.audit({ actor: 'parent', credentialId: i % 2 ? 'svc/a' : 'svc/b', action: 'ping', version: i }),
      ),
    );
    const outs = [...(await children), await mine.then(() => '[]')].flatMap((o) => JSON.parse(o) as string[]);
    expect(outs.filter((o) => o === 'created')).toHaveLength(1);
    expect(outs.filter((o) => o !== 'created').every((o) => o === 'StoreStateError')).toBe(true);
    for (const actor of ['parent', 'child0', 'child1', 'child2', 'child3']) {
      const versions = (await s.listAudit())
        .filter((a) => a.action === 'ping' && a.actor === actor)
        .map((a) => a.version!)
        .sort((a, b) => a - b);
      expect(versions).toEqual(Array.from({ length: 15 }, (_, i) => i));
    }
    expect((await s.listVersions('svc/a')).filter((v) => v.state === 'pending')).toHaveLength(1);
    expect((await s.getSecret('svc/a', 'PENDING')).password).toMatch(/^pw-child-\d-secret$/);
    expect((await fs.readdir(join(root, 'credentials'))).sort()).toEqual(['svc%2Fa.json', 'svc%2Fb.json']);
  }, 60_000);
});
