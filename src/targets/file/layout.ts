import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  unlink,
} from 'node:fs/promises';
import { join } from 'node:path';
import { FileLock, withProcessMutex } from '../../store/file-lock';

/**
 * The kubelet's secret-volume layout (pkg/volume/util/atomic_writer.go),
 * so every reader that handles a mounted Kubernetes secret handles ours:
 *
 *   dir/..2026_12_01_10_13_17.a1b2c3/{username,password,credential.json,...}
 *   dir/..data -> ..2026_12_01_10_13_17.a1b2c3
 *   dir/username -> ..data/username   (one link per file)
 *
 * A new version is written into a fresh timestamped directory, synced, and
 * made visible by renaming a new `..data` link over the old one: rename(2)
 * is atomic, so a reader sees the old set of files or the new one, never a
 * mix, as long as it resolves `..data` once (or reads one file).
 */

export interface LayoutOptions {
  dirMode: number;
  fileMode: number;
  uid?: number;
  gid?: number;
}

const DATA = '..data';
const DATA_TMP = '..data_tmp';
const LOCK = '..lock';
const VERSION_DIR = /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.[0-9a-f]+$/;

/** Serialises writers of one directory: in this process, and across processes/workers by a lock file. */
async function locked<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  return withProcessMutex(`file-target:${dir}`, async () => {
    const lock = await FileLock.acquire(join(dir, LOCK));
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  });
}

/**
 * Makes `files` what `dir` shows. Idempotent: when `..data` already holds
 * exactly these files (content, mode, owner), only the per-file links are
 * checked. Returns whether a new version directory was written.
 */
export async function publishFiles(
  dir: string,
  files: Map<string, string>,
  opts: LayoutOptions,
): Promise<boolean> {
  await ensureDir(dir, opts);
  return locked(dir, async () => {
    const shown = await readShown(dir);
    const same =
      shown !== undefined &&
      sameFiles(shown.files, files) &&
      (await hasAttributes(join(dir, shown.name), files, opts));
    if (!same) {
      const name = versionDirName();
      await writeVersionDir(join(dir, name), files, opts);
      await replaceLink(dir, DATA, name);
    }
    await syncFileLinks(dir, files);
    return !same;
  });
}

/** Removes every version directory except the one `..data` points to (old versions after revoke). */
export async function pruneOld(dir: string): Promise<string[]> {
  return locked(dir, async () => {
    const keep = await readlink(join(dir, DATA)).catch(() => undefined);
    const removed: string[] = [];
    for (const entry of await readdir(dir)) {
      if (VERSION_DIR.test(entry) && entry !== keep) {
        await rm(join(dir, entry), { recursive: true, force: true });
        removed.push(entry);
      }
    }
    if (removed.length > 0) await fsyncDir(dir);
    return removed;
  });
}

/** The files `..data` points to now, read through one resolved directory. */
export async function readShown(
  dir: string,
): Promise<{ name: string; files: Map<string, string> } | undefined> {
  let name: string;
  try {
    name = await readlink(join(dir, DATA));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const files = new Map<string, string>();
  const path = join(dir, name);
  for (const entry of await readdir(path)) files.set(entry, await readFile(join(path, entry), 'utf8'));
  return { name, files };
}

/** Version directories present (the shown one included). */
export async function versionDirs(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((e) => VERSION_DIR.test(e)).sort();
}

function sameFiles(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of b) if (a.get(k) !== v) return false;
  return true;
}

async function hasAttributes(
  path: string,
  files: Map<string, string>,
  opts: LayoutOptions,
): Promise<boolean> {
  const ok = async (p: string, mode: number) => {
    const st = await lstat(p);
    return (
      (st.mode & 0o7777) === mode &&
      (opts.uid === undefined || st.uid === opts.uid) &&
      (opts.gid === undefined || st.gid === opts.gid)
    );
  };
  if (!(await ok(path, opts.dirMode))) return false;
  for (const name of files.keys()) if (!(await ok(join(path, name), opts.fileMode))) return false;
  return true;
}

function versionDirName(): string {
  const iso = new Date().toISOString(); // 2026-12-01T10:13:17.123Z
  const stamp = iso.slice(0, 19).replace(/[-T:]/g, '_');
  return `..${stamp}.${iso.slice(20, 23)}${randomBytes(4).toString('hex')}`;
}

async function ensureDir(dir: string, opts: LayoutOptions): Promise<void> {
  await mkdir(dir, { recursive: true, mode: opts.dirMode });
  await chmod(dir, opts.dirMode);
  await applyOwner(dir, opts);
}

async function writeVersionDir(path: string, files: Map<string, string>, opts: LayoutOptions): Promise<void> {
  await mkdir(path, { mode: opts.dirMode });
  await chmod(path, opts.dirMode); // mkdir's mode is filtered by the umask
  await applyOwner(path, opts);
  for (const [name, content] of files) {
    const file = join(path, name);
    // O_EXCL|O_NOFOLLOW: a fresh directory, so nothing may be there; never follow a planted link.
    const fh = await open(
      file,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      opts.fileMode,
    );
    try {
      await fh.writeFile(content, 'utf8');
      await fh.chmod(opts.fileMode);
      if (opts.uid !== undefined || opts.gid !== undefined) await fh.chown(opts.uid ?? -1, opts.gid ?? -1);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  await fsyncDir(path);
}

/** Points `dir/name` at `target` atomically: a temporary link renamed over the old one. */
async function replaceLink(dir: string, name: string, target: string): Promise<void> {
  const tmp = join(dir, name === DATA ? DATA_TMP : `..tmp_${name}`);
  await unlink(tmp).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await symlink(target, tmp);
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

/** One `name -> ..data/name` link per file; links for files no longer delivered are removed. */
async function syncFileLinks(dir: string, files: Map<string, string>): Promise<void> {
  for (const name of files.keys()) {
    const want = `${DATA}/${name}`;
    const have = await readlink(join(dir, name)).catch(() => undefined);
    if (have !== want) await replaceLink(dir, name, want);
  }
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..') || files.has(entry)) continue;
    const target = await readlink(join(dir, entry)).catch(() => undefined);
    if (target?.startsWith(`${DATA}/`)) await unlink(join(dir, entry));
  }
}

async function applyOwner(path: string, opts: LayoutOptions): Promise<void> {
  if (opts.uid !== undefined || opts.gid !== undefined) await chown(path, opts.uid ?? -1, opts.gid ?? -1);
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
