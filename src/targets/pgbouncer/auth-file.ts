import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FileLock, withProcessMutex } from '../../store/file-lock';

/**
 * PgBouncer's auth_file: one `"username" "secret"` line per login, a `"`
 * inside a field doubled. We change only the lines of the logins we were
 * asked about and keep every other line byte for byte (other credentials,
 * the admin console user, comments).
 */

export function quoteField(v: string): string {
  return `"${v.replace(/"/g, '""')}"`;
}

/** The username of a line, or undefined for a comment/blank/unparseable line. */
export function lineUser(line: string): string | undefined {
  const m = /^\s*"((?:[^"]|"")*)"/.exec(line);
  return m ? m[1]!.replace(/""/g, '"') : undefined;
}

export function lineSecret(line: string): string | undefined {
  const m = /^\s*"(?:[^"]|"")*"\s+"((?:[^"]|"")*)"/.exec(line);
  return m ? m[1]!.replace(/""/g, '"') : undefined;
}

/** Lines of `text` with the given logins set (`undefined` removes the login's line). */
export function applyLines(text: string, want: Map<string, string | undefined>): string {
  const out: string[] = [];
  const done = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const user = lineUser(line);
    if (user === undefined || !want.has(user)) {
      out.push(line);
      continue;
    }
    const secret = want.get(user);
    if (secret !== undefined && !done.has(user)) out.push(`${quoteField(user)} ${quoteField(secret)}`);
    done.add(user);
  }
  for (const [user, secret] of want) {
    if (secret !== undefined && !done.has(user)) out.push(`${quoteField(user)} ${quoteField(secret)}`);
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** Secrets of the given logins in the file as it is now. */
export async function readSecrets(path: string, users: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const text = await readFile(path, 'utf8');
  for (const line of text.split('\n')) {
    const user = lineUser(line);
    const secret = lineSecret(line);
    if (user !== undefined && secret !== undefined && users.includes(user)) out.set(user, secret);
  }
  return out;
}

/**
 * Rewrites the file with `want` applied, atomically (a temporary file in the
 * same directory, with the old file's owner and mode, synced, renamed over
 * it). Returns whether the content changed. Writers of one file are
 * serialised (in this process and across processes by a lock file).
 */
export async function updateAuthFile(path: string, want: Map<string, string | undefined>): Promise<boolean> {
  return withProcessMutex(`pgbouncer-auth:${path}`, async () => {
    const lock = await FileLock.acquire(`${path}.lock`);
    try {
      const before = await readFile(path, 'utf8');
      const after = applyLines(before, want);
      if (after === before) return false;
      const st = await stat(path);
      const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
      const fh = await open(
        tmp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600,
      );
      try {
        await fh.writeFile(after, 'utf8');
        await fh.chown(st.uid, st.gid);
        await fh.chmod(st.mode & 0o7777);
        await fh.sync();
      } catch (err) {
        await fh.close();
        await unlink(tmp).catch(() => undefined);
        throw err;
      }
      await fh.close();
      await rename(tmp, path);
      return true;
    } finally {
      await lock.release();
    }
  });
}
