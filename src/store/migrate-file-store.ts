import { randomBytes } from 'node:crypto';
import { promises as fs, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors';
import type { SecretCipher } from './crypto';
import { DirStore, initLayout, writeEntry, type DirEntry, type DirStoreOptions } from './dir-store';
import { FileLock, withProcessMutex } from './file-lock';
import { readStoreFile, type FileData } from './file-store';
import { checkPrivate, errno, syncDir } from './fs-util';

/**
 * Opens the embedded store at the configured path, migrating a format-1 file
 * (one JSON of every credential) found there to format 2 (a directory, one
 * file per credential; dir-store.ts) first.
 *
 * Why automatic, on open, at the same path: the worker and the CLI share one
 * configured path, so no configuration changes and there is never a moment
 * where two processes of this build use two different stores. The migration
 * holds the format-1 lock file (`<path>.lock`), so it waits for a writer of
 * an older build and that writer, once it runs again, fails on a directory
 * (EISDIR) instead of writing a file nobody reads.
 *
 * Steps, each crash-safe:
 *   1. build the new layout in `<path>.migrating-<random>` (every file fsynced);
 *   2. rename the old file to `<path>.v1.bak` (kept: the way back);
 *   3. rename the new directory to `<path>`.
 * A crash after 2 leaves no `<path>` but the backup: the next open migrates
 * from the backup again. Leftover `.migrating-*` directories are removed.
 * Records are copied as they are: their signatures (integrity.ts) cover the
 * records, not the file, so they stay valid and need no key.
 */
export async function openFileBackend(
  path: string,
  cipher: SecretCipher,
  opts: DirStoreOptions = {},
): Promise<DirStore> {
  if (typeof path !== 'string' || path.trim() === '') throw new ConfigError('file store: path is empty');
  const abs = resolve(path);
  await fs.mkdir(dirname(abs), { recursive: true, mode: 0o700 });
  const real = join(await fs.realpath(dirname(abs)), basename(abs));
  const st = await lstat(real);
  if (st?.isFile() || (!st && (await lstat(backupPath(real))))) await migrate(real, opts);
  return DirStore.open(real, cipher, opts);
}

export function backupPath(path: string): string {
  return `${path}.v1.bak`;
}

async function lstat(path: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(path);
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** Migrates the format-1 file at `path` (or its backup, after a crash). Returns the credentials moved. */
export async function migrate(path: string, opts: DirStoreOptions = {}): Promise<number> {
  return withProcessMutex(path, async () => {
    const lock = await FileLock.acquire(`${path}.lock`, opts.lock);
    try {
      const st = await lstat(path);
      if (st?.isDirectory()) return 0; // another process finished it
      const bak = backupPath(path);
      if (st && (await lstat(bak))) {
        throw new ConfigError(
          `cannot migrate credential store file ${path}: ${bak} exists already (an earlier migration's backup); ` +
            `move one of them away`,
        );
      }
      const source = st ? path : bak;
      await checkPrivate(source, 'file');
      const data = await readStoreFile(source);
      await removeLeftovers(path);
      const tmp = `${path}.migrating-${randomBytes(6).toString('hex')}`;
      await fs.mkdir(tmp, { mode: 0o700 });
      await initLayout(tmp);
      const entries = toEntries(data);
      for (const e of entries) await writeEntry(tmp, e);
      await syncDir(tmp);
      if (source === path) await fs.rename(path, bak);
      await lock.verify();
      await fs.rename(tmp, path);
      await syncDir(dirname(path));
      return entries.length;
    } finally {
      await lock.release();
    }
  });
}

/** One entry per credential id, each with its own audit records in their order. */
export function toEntries(data: FileData): DirEntry[] {
  const byId = new Map<string, DirEntry>();
  for (const c of data.credentials) {
    const e: DirEntry = { id: c.id, versions: c.versions, audit: [] };
    if (c.definition) e.definition = c.definition;
    if (c.definition && c.definitionTag) e.definitionTag = c.definitionTag;
    byId.set(c.id, e);
  }
  for (const a of data.audit) {
    const id = typeof a?.credentialId === 'string' ? a.credentialId : '';
    let e = byId.get(id);
    if (!e) byId.set(id, (e = { id, versions: [], audit: [] }));
    e.audit.push(a);
  }
  return [...byId.values()];
}

async function removeLeftovers(path: string): Promise<void> {
  const prefix = `${basename(path)}.migrating-`;
  for (const n of await fs.readdir(dirname(path))) {
    if (n.startsWith(prefix)) await fs.rm(join(dirname(path), n), { recursive: true, force: true });
  }
}
