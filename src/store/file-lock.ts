import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { TransientError } from '../errors';

/**
 * Exclusion for one store file, in two layers:
 *
 * 1. A process-local mutex (a promise chain per file path) so concurrent calls
 *    in one process, from any number of store instances, run one at a time.
 *    It lives on globalThis so that even two copies of this module share it.
 *
 * 2. An OS-level lock file `<store>.lock` so that two processes (a worker and
 *    the CLI) never interleave read-modify-write cycles. It is created
 *    atomically with link(2) from a fully written temp file (so a lock file
 *    always has complete content), falling back to O_CREAT|O_EXCL where hard
 *    links are not supported. It holds {pid, host, token, at}.
 *
 *    Stale detection: a lock whose pid is dead on this host (kill(pid, 0) ->
 *    ESRCH), or whose pid is our own but not held by us (a previous process
 *    with the same pid, e.g. pid 1 in a restarted container), or from another
 *    host and older than `foreignStaleMs`, or unreadable and older than
 *    `foreignStaleMs` is broken. Breaking renames the lock aside and checks it
 *    is the one judged stale; if a live lock was grabbed by mistake it is put
 *    back with link(2) (which never overwrites). The holder re-checks its
 *    token right before committing (see `verify`), so even a lost race ends
 *    in a retryable error rather than two writers.
 */

export interface FileLockOptions {
  /** Give up after this long (TransientError). Default 30 s. */
  timeoutMs?: number;
  /** Age after which a lock from another host (or unreadable) counts as stale. Default 60 s. */
  foreignStaleMs?: number;
}

interface LockInfo {
  pid: number;
  host: string;
  token: string;
  at: string;
}

interface Registry {
  queues: Map<string, Promise<void>>;
  held: Set<string>;
}

const REGISTRY_KEY = Symbol.for('db-rotator.store.file-lock.registry');
const globalSlots = globalThis as unknown as Record<symbol, Registry | undefined>;
const registry: Registry = (globalSlots[REGISTRY_KEY] ??= { queues: new Map(), held: new Set() });

/** Runs fn after every earlier call with the same key has finished. */
export async function withProcessMutex<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = registry.queues.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = prev.then(() => mine);
  registry.queues.set(key, tail);
  await prev;
  try {
    return await fn();
  } finally {
    release();
    if (registry.queues.get(key) === tail) registry.queues.delete(key);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return errno(e) === 'EPERM'; // exists, owned by someone else
  }
  // kill(pid, 0) succeeds on a zombie: a holder that died but was never
  // reaped (no init reaping orphans, e.g. in some containers) is not alive.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no procfs: trust kill(2)
  }
}

export class FileLock {
  private constructor(
    readonly path: string,
    private readonly token: string,
  ) {}

  /** Acquires the lock file at `path`, waiting for a live holder. */
  static async acquire(path: string, opts: FileLockOptions = {}): Promise<FileLock> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const foreignStaleMs = opts.foreignStaleMs ?? 60_000;
    const token = randomBytes(16).toString('hex');
    const info: LockInfo = { pid: process.pid, host: hostname(), token, at: new Date().toISOString() };
    const started = Date.now();
    let delay = 5;
    let holder = '';
    for (;;) {
      if (await tryCreate(path, JSON.stringify(info), token)) {
        registry.held.add(token);
        return new FileLock(path, token);
      }
      const seen = await inspect(path, foreignStaleMs);
      if (seen.kind === 'gone') continue;
      if (seen.kind === 'stale') {
        await breakStale(path, seen.raw);
        continue;
      }
      holder = seen.describe;
      if (Date.now() - started >= timeoutMs) {
        throw new TransientError(
          `credential store file is locked (${path}, held by ${holder}); gave up after ${Math.round((Date.now() - started) / 1000)} s`,
        );
      }
      await sleep(delay + Math.floor(Math.random() * delay));
      delay = Math.min(delay * 2, 100);
    }
  }

  /** Throws TransientError if the lock file is no longer ours (broken by another process). */
  async verify(): Promise<void> {
    let raw: string;
    try {
      raw = await fs.readFile(this.path, 'utf8');
    } catch {
      raw = '';
    }
    if (!raw.includes(this.token)) {
      throw new TransientError(
        `lost the credential store lock ${this.path} (broken by another process); retry`,
      );
    }
  }

  async release(): Promise<void> {
    registry.held.delete(this.token);
    try {
      const raw = await fs.readFile(this.path, 'utf8');
      if (raw.includes(this.token)) await fs.unlink(this.path);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e;
    }
  }
}

async function tryCreate(path: string, content: string, token: string): Promise<boolean> {
  const tmp = `${path}.${token}.tmp`;
  await fs.writeFile(tmp, content, { mode: 0o600, flag: 'wx' });
  try {
    await fs.link(tmp, path);
    return true;
  } catch (e) {
    const code = errno(e);
    if (code === 'EEXIST') return false;
    if (
      code === 'EPERM' ||
      code === 'ENOTSUP' ||
      code === 'EOPNOTSUPP' ||
      code === 'ENOSYS' ||
      code === 'EXDEV'
    ) {
      // No hard links here: O_EXCL create (content written right after; a
      // reader that sees it empty treats it as young and waits).
      try {
        await fs.writeFile(path, content, { mode: 0o600, flag: 'wx' });
        return true;
      } catch (e2) {
        if (errno(e2) === 'EEXIST') return false;
        throw e2;
      }
    }
    throw e;
  } finally {
    await fs.unlink(tmp).catch(() => undefined);
  }
}

type Seen = { kind: 'gone' } | { kind: 'stale'; raw: string } | { kind: 'live'; describe: string };

async function inspect(path: string, foreignStaleMs: number): Promise<Seen> {
  let raw: string;
  let mtimeMs: number;
  try {
    const st = await fs.stat(path);
    mtimeMs = st.mtimeMs;
    raw = await fs.readFile(path, 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT') return { kind: 'gone' };
    throw e;
  }
  const age = Date.now() - mtimeMs;
  let info: Partial<LockInfo> | undefined;
  try {
    info = JSON.parse(raw) as Partial<LockInfo>;
  } catch {
    info = undefined;
  }
  if (
    !info ||
    typeof info.pid !== 'number' ||
    typeof info.host !== 'string' ||
    typeof info.token !== 'string'
  ) {
    return age > foreignStaleMs ? { kind: 'stale', raw } : { kind: 'live', describe: 'an unknown holder' };
  }
  const describe = `pid ${info.pid} on ${info.host} since ${info.at ?? '?'}`;
  if (info.host === hostname()) {
    if (info.pid === process.pid) {
      return registry.held.has(info.token) ? { kind: 'live', describe } : { kind: 'stale', raw };
    }
    return pidAlive(info.pid) ? { kind: 'live', describe } : { kind: 'stale', raw };
  }
  return age > foreignStaleMs ? { kind: 'stale', raw } : { kind: 'live', describe };
}

async function breakStale(path: string, observed: string): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    await fs.rename(path, aside);
  } catch (e) {
    if (errno(e) === 'ENOENT') return; // someone else broke it
    throw e;
  }
  try {
    const raw = await fs.readFile(aside, 'utf8');
    if (raw !== observed) {
      // We moved a fresh lock that replaced the stale one meanwhile: put it back
      // (link never overwrites; if a third lock exists already, its holder wins
      // and the displaced holder fails its verify() before committing).
      await fs.link(aside, path).catch(() => undefined);
    }
  } finally {
    await fs.unlink(aside).catch(() => undefined);
  }
}
