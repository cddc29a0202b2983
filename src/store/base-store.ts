import { StoreStateError } from '../errors';
import type { SecretCipher } from './crypto';
import { signSnapshot, verifySnapshot, type VerifyOptions } from './integrity';
import { parseCredentialDefinition } from './schema';
import * as T from './transitions';
import type { CredentialSnapshot, Mutation, TransitionContext } from './transitions';
import type {
  AuditRecord,
  CredentialDefinition,
  CredentialStore,
  StoredSecret,
  VersionMeta,
  VersionSelector,
} from './types';

/** A CredentialStore plus maintenance operations the CLI may use. */
export interface ManagedCredentialStore extends CredentialStore {
  /**
   * Re-encrypts every secret not sealed with the cipher's active key (run
   * after adding a new active key, before removing the old one from the
   * keyring). Returns how many versions were re-encrypted.
   */
  reencryptSecrets(actor: string): Promise<number>;
  /**
   * Signs records of a legacy store that have no signature yet (the key
   * holder vouches for them; records with a wrong signature stay refused).
   * All credentials if `id` is omitted. Returns how many records it signed.
   */
  signUnsigned(actor: string, id?: string): Promise<number>;
  /**
   * Deletes the secrets of versions revoked more than `retentionMs` ago (all
   * credentials), audited per credential. Returns how many it purged.
   */
  purgeRevokedSecrets(actor: string, retentionMs?: number): Promise<number>;
}

/** How long a revoked version keeps its (encrypted) secret: 7 days. */
export const DEFAULT_REVOKED_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** A definition as loaded, with its signature. */
export interface DefinitionRecord {
  definition: CredentialDefinition;
  tag?: string;
}

/**
 * Everything both backends share: validation, the label/state rules
 * (transitions.ts) and decryption. A backend supplies four primitives: load
 * one credential, list definitions, list audit, and run a mutation on one
 * credential atomically (lock, load, apply, persist state + audit, unlock).
 */
export abstract class BaseStore implements ManagedCredentialStore {
  private closed = false;

  protected constructor(
    protected readonly cipher: SecretCipher,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Loads one credential (definition undefined and no versions if unknown). */
  protected abstract load(id: string): Promise<CredentialSnapshot>;
  protected abstract loadDefinitions(): Promise<DefinitionRecord[]>;
  /** Every credential id that has a definition or any version. */
  protected abstract loadIds(): Promise<string[]>;
  protected abstract loadAudit(id?: string): Promise<AuditRecord[]>;
  /**
   * Runs `fn` on the latest snapshot of credential `id` while holding the
   * backend's exclusive lock for it, then persists `next` (if any) and the
   * audit records in one atomic step. `fn` is synchronous and may throw
   * (nothing is persisted then).
   */
  protected abstract transact<T>(id: string, fn: (snap: CredentialSnapshot) => Mutation<T>): Promise<T>;
  protected abstract closeBackend(): Promise<void>;

  private ensureOpen(): void {
    if (this.closed) throw new StoreStateError('credential store is closed');
  }

  private checkActor(actor: string): void {
    if (typeof actor !== 'string' || actor.trim() === '') {
      throw new StoreStateError('every store mutation needs a non-empty actor (who is making the change)');
    }
  }

  /**
   * Runs one transition with a context built at the moment the lock is held.
   * Version transitions refuse to start from a snapshot that breaks the label
   * rules (a hand-edited store); definition put/delete still work, to repair.
   */
  private mutate<R>(
    id: string,
    actor: string,
    step: (snap: CredentialSnapshot, ctx: TransitionContext) => Mutation<R>,
    checkFirst = true,
  ): Promise<R> {
    this.ensureOpen();
    this.checkActor(actor);
    return this.transact(id, (snap) => {
      // A definition being replaced or deleted by a key holder need not verify (that is the repair).
      if (checkFirst) verifySnapshot(snap, this.cipher);
      else if (snap.versions.length > 0) verifySnapshot(snap, this.cipher, { skipDefinition: true });
      if (checkFirst) T.checkInvariants(snap);
      const m = step(snap, { now: this.clock().toISOString(), actor, cipher: this.cipher });
      return m.next ? { ...m, next: signSnapshot(m.next, this.cipher) } : m;
    });
  }

  /** Loads one credential and checks every signature in it. */
  private async loadVerified(id: string, opts?: VerifyOptions): Promise<CredentialSnapshot> {
    const snap = await this.load(id);
    verifySnapshot(snap, this.cipher, opts);
    return snap;
  }

  async putDefinition(def: CredentialDefinition, actor: string): Promise<void> {
    const valid = parseCredentialDefinition(def);
    await this.mutate(
      valid.id,
      actor,
      (s, c) => {
        const m = T.putDefinition(s, valid, c);
        if (m.next !== undefined || this.definitionSigned(s)) return m;
        // Same content, but unsigned or signed wrongly: the key holder vouches for it now.
        return {
          ...m,
          next: s,
          audit: [
            { at: c.now, actor, credentialId: s.id, action: 'put-definition', details: { resigned: true } },
          ],
        };
      },
      false,
    );
  }

  private definitionSigned(s: CredentialSnapshot): boolean {
    try {
      verifySnapshot({ ...s, versions: [] }, this.cipher);
      return true;
    } catch {
      return false;
    }
  }

  async getDefinition(id: string): Promise<CredentialDefinition> {
    this.ensureOpen();
    return T.requireDefinition(await this.loadVerified(id));
  }

  async listDefinitions(): Promise<CredentialDefinition[]> {
    this.ensureOpen();
    const defs = (await this.loadDefinitions()).map((r) => {
      verifySnapshot(
        { id: r.definition.id, definition: r.definition, definitionTag: r.tag, versions: [] },
        this.cipher,
      );
      return r.definition;
    });
    return defs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async deleteDefinition(id: string, actor: string): Promise<void> {
    await this.mutate(id, actor, (s, c) => T.deleteDefinition(s, c), false);
  }

  importCurrent(
    id: string,
    secret: { username: string; password: string },
    actor: string,
  ): Promise<VersionMeta> {
    return this.mutate(id, actor, (s, c) => T.importCurrent(s, secret, c));
  }

  async listVersions(id: string): Promise<VersionMeta[]> {
    this.ensureOpen();
    const snap = await this.loadVerified(id);
    T.requireDefinition(snap);
    return T.sortVersions(snap.versions).map(T.toMeta);
  }

  async getSecret(id: string, selector: VersionSelector): Promise<StoredSecret> {
    this.ensureOpen();
    return T.getSecretFrom(await this.loadVerified(id), selector, this.cipher);
  }

  async getVersion(id: string, selector: VersionSelector): Promise<VersionMeta | undefined> {
    this.ensureOpen();
    const snap = await this.loadVerified(id);
    T.requireDefinition(snap);
    const r = T.findVersion(snap.versions, selector);
    return r && T.toMeta(r);
  }

  createPending(
    id: string,
    version: number,
    username: string,
    generate: () => string,
    actor: string,
  ): Promise<VersionMeta> {
    return this.mutate(id, actor, (s, c) => T.createPending(s, version, username, generate, c));
  }

  async discardPending(id: string, version: number, actor: string): Promise<void> {
    await this.mutate(id, actor, (s, c) => T.discardPending(s, version, c));
  }

  async promote(id: string, version: number, actor: string): Promise<void> {
    await this.mutate(id, actor, (s, c) => T.promote(s, version, c));
  }

  async demote(id: string, toVersion: number, actor: string): Promise<void> {
    await this.mutate(id, actor, (s, c) => T.demote(s, toVersion, c));
  }

  async markRevoked(id: string, version: number, actor: string): Promise<void> {
    await this.mutate(id, actor, (s, c) => T.markRevoked(s, version, c));
  }

  async audit(record: Omit<AuditRecord, 'at'>): Promise<void> {
    this.ensureOpen();
    this.checkActor(record.actor);
    await this.transact(record.credentialId, () => T.auditOnly(record, this.clock().toISOString()));
  }

  async listAudit(id?: string): Promise<AuditRecord[]> {
    this.ensureOpen();
    return this.loadAudit(id);
  }

  async reencryptSecrets(actor: string): Promise<number> {
    this.ensureOpen();
    this.checkActor(actor);
    let n = 0;
    // Every id with anything stored, not only those with a definition.
    for (const id of await this.loadIds()) {
      n += await this.mutate(id, actor, (s, c) => T.reencrypt(s, c));
    }
    return n;
  }

  async purgeRevokedSecrets(actor: string, retentionMs = DEFAULT_REVOKED_RETENTION_MS): Promise<number> {
    this.ensureOpen();
    this.checkActor(actor);
    if (!Number.isSafeInteger(retentionMs) || retentionMs < 0) {
      throw new StoreStateError(`retention must be a non-negative number of milliseconds`);
    }
    const cutoff = new Date(this.clock().getTime() - retentionMs).toISOString();
    let n = 0;
    for (const id of await this.loadIds()) {
      n += await this.mutate(id, actor, (s, c) => T.purgeRevoked(s, cutoff, retentionMs, c));
    }
    return n;
  }

  async signUnsigned(actor: string, id?: string): Promise<number> {
    this.ensureOpen();
    this.checkActor(actor);
    let n = 0;
    for (const cid of id === undefined ? await this.loadIds() : [id]) {
      n += await this.transact(cid, (snap) => {
        const unsigned = verifySnapshot(snap, this.cipher, { allowUnsigned: true });
        const count = (unsigned.definition ? 1 : 0) + unsigned.versions.length;
        if (count === 0) return { result: 0, audit: [] };
        const details: Record<string, unknown> = {
          definition: unsigned.definition,
          versions: unsigned.versions,
        };
        return {
          result: count,
          next: signSnapshot(snap, this.cipher),
          audit: [
            { at: this.clock().toISOString(), actor, credentialId: cid, action: 'sign-records', details },
          ],
        };
      });
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.closeBackend();
  }
}
