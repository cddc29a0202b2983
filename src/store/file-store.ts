import { promises as fs } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors';
import { BaseStore, type DefinitionRecord } from './base-store';
import type { SecretCipher } from './crypto';
import { FileLock, type FileLockOptions, withProcessMutex } from './file-lock';
import { checkPrivate, errno, writeFileAtomic } from './fs-util';
import { sortVersions, type CredentialSnapshot, type Mutation, type VersionRecord } from './transitions';
import type { AuditRecord, CredentialDefinition } from './types';

/**
 * Format 1 of the embedded backend: one JSON file, mode 0600. Every mutation
 * rewrites and fsyncs the whole file, so its cost grows with the number of
 * credentials (issue 15): the default is now dir-store.ts, and `openStore`
 * migrates a file in this format on open (migrate-file-store.ts). Kept to
 * read that format and as the baseline of `npm run bench -- fleet`.
 *
 *   {
 *     "format": "db-rotator-credential-store",
 *     "formatVersion": 1,
 *     "credentials": [
 *       { "id": "...", "definition": {...}, "definitionTag": "mac1:<keyId>:<hmac>",
 *         "versions": [ { "credentialId", "version", "username", "state",
 *                         "label"?, "createdAt", "updatedAt",
 *                         "secret": "enc1:<keyId>:<iv>:<tag>:<ciphertext>",
 *                         "tag": "mac1:<keyId>:<hmac>" } ] }
 *
 * Definitions and versions are signed with the store key (integrity.ts):
 * editing this file by hand makes the store refuse the edited record.
 *     ],
 *     "audit": [ { "at", "actor", "credentialId", "action", "version"?, "details"? } ]
 *   }
 *
 * Credentials are an array (not an object keyed by id) so that no id, not even
 * "__proto__", can collide with object machinery.
 *
 * Writes: process mutex + lock file (file-lock.ts), read the latest file,
 * apply the transition, write `<file>.tmp-*` (0600), fsync, verify we still
 * hold the lock, rename over the file, fsync the directory. Readers need no
 * lock: rename is atomic, so they see the old or the new file, never half.
 */

export const FORMAT = 'db-rotator-credential-store';
const FORMAT_VERSION = 1;

export interface FileCredential {
  id: string;
  definition?: CredentialDefinition;
  /** Signature of the definition with the store key (integrity.ts). */
  definitionTag?: string;
  versions: VersionRecord[];
}

export interface FileData {
  format: typeof FORMAT;
  formatVersion: typeof FORMAT_VERSION;
  credentials: FileCredential[];
  audit: AuditRecord[];
}

export interface FileStoreOptions {
  lock?: FileLockOptions;
  /** For tests: the clock used for timestamps. */
  clock?: () => Date;
}

/** Reads and checks a format-1 store file (an empty store if it does not exist). */
export async function readStoreFile(path: string): Promise<FileData> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT')
      return { format: FORMAT, formatVersion: FORMAT_VERSION, credentials: [], audit: [] };
    throw e;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes file content.
    throw new ConfigError(`credential store file ${path} is not valid JSON`);
  }
  return checkShape(path, data);
}

function checkShape(path: string, data: unknown): FileData {
  const bad = (why: string) => new ConfigError(`credential store file ${path}: ${why}`);
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw bad('expected a JSON object');
  const d = data as Partial<FileData>;
  if (d.format !== FORMAT) throw bad(`not a credential store (format is not "${FORMAT}")`);
  if (d.formatVersion !== FORMAT_VERSION) {
    throw bad(`unsupported formatVersion ${String(d.formatVersion)} (this build reads ${FORMAT_VERSION})`);
  }
  if (!Array.isArray(d.credentials)) throw bad('"credentials" must be an array');
  if (!Array.isArray(d.audit)) throw bad('"audit" must be an array');
  for (const [i, c] of d.credentials.entries()) {
    if (!c || typeof c.id !== 'string' || !Array.isArray(c.versions)) {
      throw bad(`credentials[${i}] must have an "id" string and a "versions" array`);
    }
  }
  return d as FileData;
}

/** A stored credential as the transitions see it (shared with dir-store.ts). */
export function toSnapshot(id: string, entry: FileCredential | undefined): CredentialSnapshot {
  const snap: CredentialSnapshot = { id, versions: entry?.versions ?? [] };
  if (entry?.definition) snap.definition = entry.definition;
  if (entry?.definition && entry.definitionTag) snap.definitionTag = entry.definitionTag;
  return snap;
}

/** The definitions among stored credentials, with their signatures (shared with dir-store.ts). */
export function definitionRecords(entries: FileCredential[]): DefinitionRecord[] {
  return entries.flatMap((c) =>
    c.definition
      ? [c.definitionTag ? { definition: c.definition, tag: c.definitionTag } : { definition: c.definition }]
      : [],
  );
}

export class FileStore extends BaseStore {
  private constructor(
    readonly path: string,
    cipher: SecretCipher,
    private readonly opts: FileStoreOptions,
  ) {
    super(cipher, opts.clock);
  }

  /** Opens (and, on first write, creates) the store file at `path`. */
  static async open(path: string, cipher: SecretCipher, opts: FileStoreOptions = {}): Promise<FileStore> {
    if (typeof path !== 'string' || path.trim() === '') throw new ConfigError('file store: path is empty');
    const abs = resolve(path);
    const dir = dirname(abs);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    // Canonical path (resolving a symlinked directory) so every instance on
    // the same file shares one process mutex.
    const real = join(await fs.realpath(dir), basename(abs));
    await checkPrivate(dirname(real), 'directory');
    await checkPrivate(real, 'file');
    const store = new FileStore(real, cipher, opts);
    await store.read(); // fail early on a corrupt or foreign file
    return store;
  }

  private get lockPath(): string {
    return `${this.path}.lock`;
  }

  private read(): Promise<FileData> {
    return readStoreFile(this.path);
  }

  private async write(data: FileData): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(data, null, 2)}\n`, () =>
      this.heldLock ? this.heldLock.verify() : Promise.resolve(),
    );
  }

  private heldLock: FileLock | undefined;

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return withProcessMutex(this.path, async () => {
      const lock = await FileLock.acquire(this.lockPath, this.opts.lock);
      this.heldLock = lock;
      try {
        return await fn();
      } finally {
        this.heldLock = undefined;
        await lock.release();
      }
    });
  }

  protected async transact<T>(id: string, fn: (snap: CredentialSnapshot) => Mutation<T>): Promise<T> {
    return this.exclusive(async () => {
      const data = await this.read();
      const idx = data.credentials.findIndex((c) => c.id === id);
      const entry = idx >= 0 ? data.credentials[idx] : undefined;
      const m = fn(toSnapshot(id, entry));
      if (m.next === undefined && m.audit.length === 0) return m.result;
      if (m.next === null) {
        if (idx >= 0) data.credentials.splice(idx, 1);
      } else if (m.next) {
        const updated: FileCredential = { id, versions: sortVersions(m.next.versions) };
        if (m.next.definition) updated.definition = m.next.definition;
        if (m.next.definition && m.next.definitionTag) updated.definitionTag = m.next.definitionTag;
        if (idx >= 0) data.credentials[idx] = updated;
        else data.credentials.push(updated);
      }
      data.audit.push(...m.audit);
      await this.write(data);
      return m.result;
    });
  }

  protected async load(id: string): Promise<CredentialSnapshot> {
    const data = await this.read();
    return toSnapshot(
      id,
      data.credentials.find((c) => c.id === id),
    );
  }

  protected async loadDefinitions(): Promise<DefinitionRecord[]> {
    return definitionRecords((await this.read()).credentials);
  }

  protected async loadIds(): Promise<string[]> {
    return (await this.read()).credentials.map((c) => c.id);
  }

  protected async loadAudit(id?: string): Promise<AuditRecord[]> {
    const data = await this.read();
    return id === undefined ? data.audit : data.audit.filter((a) => a.credentialId === id);
  }

  protected async closeBackend(): Promise<void> {
    // Nothing held between calls.
  }
}
