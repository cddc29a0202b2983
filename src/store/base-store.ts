import { StoreStateError } from '../errors';
import type { SecretCipher } from './crypto';
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
  protected abstract loadDefinitions(): Promise<CredentialDefinition[]>;
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
      if (checkFirst) T.checkInvariants(snap);
      return step(snap, { now: this.clock().toISOString(), actor, cipher: this.cipher });
    });
  }

  async putDefinition(def: CredentialDefinition, actor: string): Promise<void> {
    const valid = parseCredentialDefinition(def);
    await this.mutate(valid.id, actor, (s, c) => T.putDefinition(s, valid, c), false);
  }

  async getDefinition(id: string): Promise<CredentialDefinition> {
    this.ensureOpen();
    return T.requireDefinition(await this.load(id));
  }

  async listDefinitions(): Promise<CredentialDefinition[]> {
    this.ensureOpen();
    const defs = await this.loadDefinitions();
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
    const snap = await this.load(id);
    T.requireDefinition(snap);
    return T.sortVersions(snap.versions).map(T.toMeta);
  }

  async getSecret(id: string, selector: VersionSelector): Promise<StoredSecret> {
    this.ensureOpen();
    return T.getSecretFrom(await this.load(id), selector, this.cipher);
  }

  async getVersion(id: string, selector: VersionSelector): Promise<VersionMeta | undefined> {
    this.ensureOpen();
    const snap = await this.load(id);
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
    for (const def of await this.loadDefinitions()) {
      n += await this.mutate(def.id, actor, (s, c) => T.reencrypt(s, c));
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.closeBackend();
  }
}
