import { randomBytes } from 'node:crypto';
import { promises as fs, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../errors';

/** File-system pieces both embedded backends share (file-store.ts, dir-store.ts). */

export function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * The store holds every admin credential (encrypted) and the signed
 * definitions: its directories and files must be private to their owner. A
 * group- or world-accessible one is refused (not silently fixed: someone
 * made it so, and others may have read it already).
 */
export function refuseShared(path: string, what: 'directory' | 'file', st: Stats): void {
  const mode = st.mode & 0o777;
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new ConfigError(
      `credential store ${what} ${path} is accessible by group or others (mode ${mode.toString(8).padStart(4, '0')}); ` +
        `refusing to use it. Make it private: chmod ${what === 'directory' ? '700' : '600'} ${path}` +
        (what === 'directory' ? ' (or put the store in a directory of its own)' : ''),
    );
  }
}

/** refuseShared on `path` if it exists. */
export async function checkPrivate(path: string, what: 'directory' | 'file'): Promise<void> {
  let st: Stats;
  try {
    st = await fs.stat(path);
  } catch (e) {
    if (errno(e) === 'ENOENT') return; // created private on first write
    throw e;
  }
  refuseShared(path, what, st);
}

/**
 * Replaces `path` with `text` atomically and durably: write `<path>.tmp-*`
 * (0600), fsync, run `beforeRename` (the writer re-checks it still holds its
 * lock), rename over `path`, fsync the directory. Readers need no lock: they
 * see the old or the new file, never half of one.
 */
export async function writeFileAtomic(
  path: string,
  text: string,
  beforeRename?: () => Promise<void>,
): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const fh = await fs.open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.chmod(0o600); // whatever the umask did
      await fh.sync();
    } finally {
      await fh.close();
    }
    await beforeRename?.();
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDir(dirname(path));
}

export async function syncDir(dir: string): Promise<void> {
  let dh: fs.FileHandle | undefined;
  try {
    dh = await fs.open(dir, 'r');
    await dh.sync();
  } catch {
    // Some platforms/filesystems cannot fsync a directory; the rename is
    // still atomic, only its durability across a power cut is weaker.
  } finally {
    await dh?.close().catch(() => undefined);
  }
}
