import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors';
import { BaseStore, type DefinitionRecord } from './base-store';
import type { SecretCipher } from './crypto';
import { FileLock, type FileLockOptions, withProcessMutex } from './file-lock';
import { definitionRecords, FORMAT, toSnapshot, type FileCredential } from './file-store';
import { checkPrivate, errno, refuseShared, writeFileAtomic } from './fs-util';
import { sortVersions, type CredentialSnapshot, type Mutation } from './transitions';
import type { AuditRecord } from './types';

/**
 * The embedded default backend (format 2): a directory with one file per
 * credential, so the cost of a mutation does not grow with the number of
 * credentials (format 1, file-store.ts, rewrote one JSON of all of them).
 *
 *   <store>/                    0700
 *     store-format.json         {"format": "db-rotator-credential-store", "formatVersion": 2}
 *     credentials/              0700
 *       <name>.json             0600, one credential:
 *         { "id", "definition"?, "definitionTag"?, "versions": [...as format 1...],
 *           "audit": [ { "at", "actor", "credentialId", "action", ... } ] }
 *       <name>.json.lock        while a writer holds it (file-lock.ts)
 *
 * The audit records of a credential live in its own file, so a state change
 * and its audit record are one atomic rename (an audit log in a separate
 * file would need a two-file commit, and a crash between the two would leave
 * a change without its record or a record without its change). A deleted
 * credential keeps its file with its audit and no definition or versions.
 *
 * <name> is the id with every character but [a-z0-9_-] escaped as %XX (so
 * case-insensitive file systems cannot merge two ids, and no id is a path),
 * or "~" + SHA-256 of the id when that is too long for a file name. The file
 * holds the id it belongs to, and a file holding another id is refused.
 *
 * Writes: process mutex + lock file per credential, read that credential's
 * file, apply the transition, write it atomically (fs-util.ts). Two
 * credentials are written in parallel; readers need no lock.
 */

export const DIR_FORMAT_VERSION = 2;
const MARKER = 'store-format.json';
const CREDENTIALS = 'credentials';
const READ_PARALLEL = 32;

/** A credential as format 1 stores it, plus its own audit records. */
export interface DirEntry extends FileCredential {
  audit: AuditRecord[];
}

export interface DirStoreOptions {
  lock?: FileLockOptions;
  /** For tests: the clock used for timestamps. */
  clock?: () => Date;
}

/** The file name of credential `id` (see the layout above). */
export function entryFileName(id: string): string {
  const escaped = Array.from(Buffer.from(id, 'utf8'))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[a-z0-9_-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
  if (escaped.length <= 200) return `${escaped}.json`;
  return `~${createHash('sha256').update(id, 'utf8').digest('hex')}.json`;
}

export function entryText(entry: DirEntry): string {
  return `${JSON.stringify(entry, null, 2)}\n`;
}

/** Creates the marker and credentials directory of an empty store at `root` (which exists, 0700). */
export async function initLayout(root: string): Promise<void> {
  await fs.mkdir(join(root, CREDENTIALS), { mode: 0o700 }).catch((e: unknown) => {
    if (errno(e) !== 'EEXIST') throw e;
  });
  await writeFileAtomic(
    join(root, MARKER),
    `${JSON.stringify({ format: FORMAT, formatVersion: DIR_FORMAT_VERSION })}\n`,
  );
}

/** Writes one credential file of a store being built (migration); not locked. */
export async function writeEntry(root: string, entry: DirEntry): Promise<void> {
  await writeFileAtomic(join(root, CREDENTIALS, entryFileName(entry.id)), entryText(entry));
}

async function checkMarker(root: string): Promise<'ok' | 'absent'> {
  let text: string;
  try {
    text = await fs.readFile(join(root, MARKER), 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT') return 'absent';
    throw e;
  }
  let m: { format?: unknown; formatVersion?: unknown } | undefined;
  try {
    m = JSON.parse(text) as typeof m;
  } catch {
    m = undefined;
  }
  if (m?.format !== FORMAT) {
    throw new ConfigError(`credential store directory ${root}: ${MARKER} does not name a credential store`);
  }
  if (m.formatVersion !== DIR_FORMAT_VERSION) {
    throw new ConfigError(
      `credential store directory ${root}: unsupported formatVersion ${String(m.formatVersion)} (this build reads ${DIR_FORMAT_VERSION})`,
    );
  }
  return 'ok';
}

export class DirStore extends BaseStore {
  private readonly dir: string;

  private constructor(
    readonly path: string,
    cipher: SecretCipher,
    private readonly opts: DirStoreOptions,
  ) {
    super(cipher, opts.clock);
    this.dir = join(path, CREDENTIALS);
  }

  /** Opens (and creates, if absent or empty) the store directory at `path`. */
  static async open(path: string, cipher: SecretCipher, opts: DirStoreOptions = {}): Promise<DirStore> {
    if (typeof path !== 'string' || path.trim() === '') throw new ConfigError('file store: path is empty');
    const abs = resolve(path);
    await fs.mkdir(abs, { recursive: true, mode: 0o700 });
    // Canonical path (resolving symlinks) so every instance shares one process mutex per file.
    const real = join(await fs.realpath(dirname(abs)), basename(abs));
    await checkPrivate(dirname(real), 'directory');
    await checkPrivate(real, 'directory');
    if ((await checkMarker(real)) === 'absent') {
      const present = (await fs.readdir(real)).filter((n) => n !== CREDENTIALS);
      if (present.length > 0 || (await fs.readdir(join(real, CREDENTIALS)).catch(() => [])).length > 0) {
        throw new ConfigError(
          `credential store directory ${real} is not empty and has no ${MARKER}: not a credential store; refusing to use it`,
        );
      }
      await initLayout(real);
    }
    await checkPrivate(join(real, CREDENTIALS), 'directory');
    return new DirStore(real, cipher, opts);
  }

  private fileOf(id: string): string {
    return join(this.dir, entryFileName(id));
  }

  /** Reads one credential file; undefined if it does not exist. */
  private async readFile(file: string, id?: string): Promise<DirEntry | undefined> {
    let text: string;
    try {
      const fh = await fs.open(file, 'r');
      try {
        refuseShared(file, 'file', await fh.stat());
        text = await fh.readFile('utf8');
      } finally {
        await fh.close();
      }
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      throw e;
    }
    const bad = (why: string) => new ConfigError(`credential store file ${file}: ${why}`);
    let d: Partial<DirEntry> | undefined;
    try {
      d = JSON.parse(text) as Partial<DirEntry>;
    } catch {
      // Not the parser's message: it quotes file content.
      throw new ConfigError(`credential store file ${file} is not valid JSON`);
    }
    if (!d || typeof d !== 'object' || typeof d.id !== 'string') throw bad('expected an object with an "id"');
    if (!Array.isArray(d.versions) || !Array.isArray(d.audit))
      throw bad('"versions" and "audit" must be arrays');
    if ((id !== undefined && d.id !== id) || entryFileName(d.id) !== basename(file)) {
      throw bad('holds another credential than its name says (moved or copied by hand); refusing to use it');
    }
    return d as DirEntry;
  }

  private async readAll(): Promise<DirEntry[]> {
    const names = (await fs.readdir(this.dir)).filter((n) => n.endsWith('.json')).sort();
    const out: DirEntry[] = [];
    for (let i = 0; i < names.length; i += READ_PARALLEL) {
      const batch = names.slice(i, i + READ_PARALLEL).map((n) => this.readFile(join(this.dir, n)));
      for (const e of await Promise.all(batch)) if (e) out.push(e);
    }
    return out;
  }

  protected async transact<T>(id: string, fn: (snap: CredentialSnapshot) => Mutation<T>): Promise<T> {
    const file = this.fileOf(id);
    return withProcessMutex(file, async () => {
      const lock = await FileLock.acquire(`${file}.lock`, this.opts.lock);
      try {
        const entry = await this.readFile(file, id);
        const m = fn(toSnapshot(id, entry));
        if (m.next === undefined && m.audit.length === 0) return m.result;
        const next: DirEntry = { id, versions: entry?.versions ?? [], audit: entry?.audit ?? [] };
        const state = m.next === undefined ? toSnapshot(id, entry) : m.next;
        if (state) {
          next.versions = sortVersions(state.versions);
          if (state.definition) next.definition = state.definition;
          if (state.definition && state.definitionTag) next.definitionTag = state.definitionTag;
        } else {
          next.versions = [];
        }
        next.audit = [...next.audit, ...m.audit];
        await writeFileAtomic(file, entryText(next), () => lock.verify());
        return m.result;
      } finally {
        await lock.release();
      }
    });
  }

  protected async load(id: string): Promise<CredentialSnapshot> {
    return toSnapshot(id, await this.readFile(this.fileOf(id), id));
  }

  protected async loadDefinitions(): Promise<DefinitionRecord[]> {
    return definitionRecords(await this.readAll());
  }

  protected async loadIds(): Promise<string[]> {
    return (await this.readAll()).filter((c) => c.definition || c.versions.length > 0).map((c) => c.id);
  }

  /**
   * One credential's records in the order written; all credentials merged by
   * time (a stable sort, so records of one credential keep their order).
   */
  protected async loadAudit(id?: string): Promise<AuditRecord[]> {
    if (id !== undefined) return (await this.readFile(this.fileOf(id), id))?.audit ?? [];
    const all = (await this.readAll()).flatMap((c) => c.audit);
    return all.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  }

  protected async closeBackend(): Promise<void> {
    // Nothing held between calls.
  }
}
