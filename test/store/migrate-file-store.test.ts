/**
 * Migration of a format-1 store (one JSON file) to the directory store on
 * open: everything readable and signed as before, the old file kept as the
 * backup, crash-safe, once even when several processes open it at once, and
 * a bad file leaves everything as it was.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStore, openStore, type ManagedCredentialStore } from '../../src/store';
import { SecretCipher } from '../../src/store/crypto';
import { backupPath } from '../../src/store/migrate-file-store';
import { runStoreChildren } from '../helpers/store-children';
import { dirEntryPath } from '../helpers/store-contract';

const KEY = randomBytes(32);
const cipher = new SecretCipher({ activeKeyId: 'k1', keys: { k1: KEY } });
const def = (id: string) => ({ id, engine: 'postgres', host: 'h', port: 5432, baseUsername: 'app' }) as never;

let dir: string;
let path: string;
const opened: ManagedCredentialStore[] = [];
beforeEach(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), 'rotator-migrate-'));
  path = join(dir, 'state', 'store.json');
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
  await fs.rm(dir, { recursive: true, force: true });
});

/** A format-1 store with rotations, a deleted credential and a store-wide audit record. */
async function legacyStore(): Promise<void> {
  const old = await FileStore.open(path, cipher);
  for (const id of ['svc/a', 'svc/b', 'svc/gone']) {
    await old.putDefinition(def(id), 'op');
    await old.importCurrent(id, { username: 'app', password: `pw-${id}-1` }, 'op');
  }
  await old.createPending('svc/a', 2, 'app', () => 'pw-svc/a-2', 'worker');
  await old.promote('svc/a', 2, 'worker');
  await old.createPending('svc/b', 2, 'app', () => 'pw-svc/b-2', 'worker');
  await old.deleteDefinition('svc/gone', 'op');
  await old.audit({ actor: 'op', credentialId: '(store)', action: 'rotate-store-key' });
  await old.close();
}

/** What a store says, every way it can be asked. */
async function everything(s: ManagedCredentialStore) {
  const ids = ['svc/a', 'svc/b'];
  return {
    definitions: await s.listDefinitions(),
    versions: await Promise.all(ids.map((id) => s.listVersions(id))),
    current: await Promise.all(ids.map((id) => s.getSecret(id, 'CURRENT'))),
    pending: await s.getSecret('svc/b', 'PENDING'),
    previous: await s.getSecret('svc/a', 'PREVIOUS'),
    audit: await Promise.all([...ids, 'svc/gone', '(store)'].map((id) => s.listAudit(id))),
    all: await s.listAudit(),
  };
}

async function open(): Promise<ManagedCredentialStore> {
  const s = await openStore({ backend: 'file', path }, cipher);
  opened.push(s);
  return s;
}

describe('migration from the single JSON file', () => {
  it('moves every record as it was, keeps the old file as a 0600 backup, and the store works on', async () => {
    await legacyStore();
    const old = await FileStore.open(path, cipher);
    const before = await everything(old);
    await old.close();
    const oldText = await fs.readFile(path, 'utf8');

    const s = await open();
    expect((await fs.stat(path)).isDirectory()).toBe(true);
    expect(await everything(s)).toEqual(before);
    expect(await fs.readFile(backupPath(path), 'utf8')).toBe(oldText);
    expect((await fs.stat(backupPath(path))).mode & 0o777).toBe(0o600);
    expect((await fs.readdir(join(dir, 'state'))).sort()).toEqual(['store.json', 'store.json.v1.bak']);
    // Signatures were copied, not re-made: a record edited in the old file would still be refused.
    expect(JSON.parse(await fs.readFile(dirEntryPath(path, 'svc/a'), 'utf8')).definitionTag).toBe(
      JSON.parse(oldText).credentials[0].definitionTag,
    );
    await s.promote('svc/b', 2, 'worker');
    expect((await s.getSecret('svc/b', 'CURRENT')).password).toBe('pw-svc/b-2');
    // Opening again changes nothing.
    const again = await open();
    expect((await again.getSecret('svc/b', 'CURRENT')).password).toBe('pw-svc/b-2');
  });

  it('a crash between moving the old file aside and putting the directory in place is finished on the next open', async () => {
    await legacyStore();
    const old = await FileStore.open(path, cipher);
    const before = await everything(old);
    await old.close();
    // State after step 2 of a crashed migration: the file moved to the backup, a half-built directory beside.
    await fs.rename(path, backupPath(path));
    await fs.mkdir(`${path}.migrating-deadbeef0000/credentials`, { recursive: true, mode: 0o700 });
    await fs.writeFile(`${path}.migrating-deadbeef0000/credentials/svc%2Fa.json`, '{"id":"svc', {
      mode: 0o600,
    });
    const s = await open();
    expect(await everything(s)).toEqual(before);
    expect((await fs.readdir(join(dir, 'state'))).sort()).toEqual(['store.json', 'store.json.v1.bak']);
  });

  it('several processes opening the old file at once migrate it once and all see the same store', async () => {
    await legacyStore();
    const outs = await runStoreChildren(
      dir,
      `
  const store = await openStore({ backend: 'file', path: process.env.STORE_PATH! }, cipher);
  await store.audit({ actor: 'child' + process.env.CHILD, credentialId: 'svc/a', action: 'ping' });
  process.stdout.write((await store.getSecret('svc/a', 'CURRENT')).password);
  await store.close();`,
      { count: 4, key: KEY, storePath: path },
    );
    expect(outs).toEqual(Array(4).fill('pw-svc/a-2'));
    const s = await open();
    const pings = (await s.listAudit('svc/a')).filter((a) => a.action === 'ping').map((a) => a.actor);
    expect(pings.sort()).toEqual(['child0', 'child1', 'child2', 'child3']);
    expect((await fs.readdir(join(dir, 'state'))).sort()).toEqual(['store.json', 'store.json.v1.bak']);
  }, 60_000);

  it('a corrupt old file, or an old file beside an earlier backup, is refused and left as it was', async () => {
    await fs.mkdir(join(dir, 'state'), { mode: 0o700 });
    await fs.writeFile(path, '{"format": "db-rotator-credential-store", secret-ish', { mode: 0o600 });
    const e = await open().catch((x: Error) => x);
    expect((e as Error).message).toMatch(/store\.json is not valid JSON/);
    expect((e as Error).message).not.toContain('secret-ish');
    expect(await fs.readdir(join(dir, 'state'))).toEqual(['store.json']);
    expect((await fs.stat(path)).isFile()).toBe(true);

    await fs.rm(path);
    await legacyStore();
    await fs.writeFile(backupPath(path), 'an earlier backup', { mode: 0o600 });
    await expect(open()).rejects.toThrow(/store\.json\.v1\.bak exists already.*move one of them away/);
    expect((await fs.stat(path)).isFile()).toBe(true);
    expect(await fs.readFile(backupPath(path), 'utf8')).toBe('an earlier backup');
  });

  it('refuses an old file readable by others instead of copying it', async () => {
    await legacyStore();
    await fs.chmod(path, 0o644);
    await expect(open()).rejects.toThrow(/accessible by group or others \(mode 0644\)/);
    expect((await fs.stat(path)).isFile()).toBe(true);
  });
});
