import { StoreStateError, UnknownCredentialError } from '../errors';
import type { VersionLabel } from '../shared/types';
import type { SecretCipher } from './crypto';
import { checkInvariants } from './invariants';
import type { AuditRecord, CredentialDefinition, StoredSecret, VersionMeta, VersionSelector } from './types';

/**
 * The in-memory snapshot of ONE credential that the transitions
 * (./transitions.ts) work on: its types, the reads on it, the small edits
 * every transition shares, and the diff a backend persists.
 */

/** A version as stored: metadata plus the encrypted secret (enc1:... ciphertext). */
export interface VersionRecord extends VersionMeta {
  secret: string;
  /** Signature of this record with the store key (integrity.ts); absent in legacy stores. */
  tag?: string;
}

export interface CredentialSnapshot {
  id: string;
  definition?: CredentialDefinition;
  /** Signature of the definition with the store key (integrity.ts); absent in legacy stores. */
  definitionTag?: string;
  versions: VersionRecord[];
}

export interface TransitionContext {
  /** ISO time of the change. */
  now: string;
  actor: string;
  cipher: SecretCipher;
}

export interface Mutation<T> {
  result: T;
  /**
   * The credential after the change: undefined = unchanged; null = deleted
   * (definition and all versions).
   */
  next?: CredentialSnapshot | null;
  audit: AuditRecord[];
}

// ---------------------------------------------------------------------------
// reads

export function toMeta(r: VersionRecord): VersionMeta {
  const m: VersionMeta = {
    credentialId: r.credentialId,
    version: r.version,
    username: r.username,
    state: r.state,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
  if (r.label) m.label = r.label;
  return m;
}

export function sortVersions<T extends { version: number }>(vs: T[]): T[] {
  return [...vs].sort((a, b) => a.version - b.version);
}

export function findVersion(versions: VersionRecord[], selector: VersionSelector): VersionRecord | undefined {
  if (typeof selector === 'number') return versions.find((v) => v.version === selector);
  return versions.find((v) => v.label === selector);
}

/**
 * The number a new PENDING version must use: one above every existing
 * version (not just CURRENT + 1: after a rollback the demoted version may
 * still exist, e.g. revoked). createPending rejects anything lower.
 */
export function nextVersion(versions: readonly { version: number }[]): number {
  return versions.reduce((m, v) => Math.max(m, v.version), 0) + 1;
}

export function describeSelector(selector: VersionSelector): string {
  return typeof selector === 'number' ? `version ${selector}` : `${selector} version`;
}

export function requireDefinition(snap: CredentialSnapshot): CredentialDefinition {
  if (!snap.definition) throw new UnknownCredentialError(snap.id);
  return snap.definition;
}

/** What a version holds instead of its ciphertext once its secret was purged. */
export const PURGED_SECRET = 'purged';

export function openSecret(r: VersionRecord, cipher: SecretCipher): StoredSecret {
  if (r.secret === PURGED_SECRET) {
    throw new StoreStateError(
      `credential "${r.credentialId}" version ${r.version}: its secret was purged (revoked versions keep their secret only for the retention period)`,
    );
  }
  const password = cipher.decrypt(r.secret, { credentialId: r.credentialId, version: r.version });
  return { version: r.version, username: r.username, password };
}

export function getSecretFrom(
  snap: CredentialSnapshot,
  selector: VersionSelector,
  cipher: SecretCipher,
): StoredSecret {
  requireDefinition(snap);
  const r = findVersion(snap.versions, selector);
  if (!r) throw new StoreStateError(`credential "${snap.id}" has no ${describeSelector(selector)}`);
  return openSecret(r, cipher);
}

// ---------------------------------------------------------------------------
// edits shared by the transitions

export function clone(snap: CredentialSnapshot): CredentialSnapshot {
  const out: CredentialSnapshot = { id: snap.id, versions: snap.versions.map((v) => ({ ...v })) };
  if (snap.definition) out.definition = snap.definition;
  if (snap.definitionTag) out.definitionTag = snap.definitionTag;
  return out;
}

export function unchanged<T>(result: T): Mutation<T> {
  return { result, audit: [] };
}

export function setLabel(r: VersionRecord, label: VersionLabel | undefined): void {
  if (label) r.label = label;
  else delete r.label;
}

/** A changed snapshot, checked against the label/state invariants before anything persists it. */
export function done<T>(next: CredentialSnapshot, result: T, audit: AuditRecord[]): Mutation<T> {
  checkInvariants(next);
  return { result, next, audit };
}

// ---------------------------------------------------------------------------
// persistence helper

export interface VersionDiff {
  inserted: VersionRecord[];
  updated: VersionRecord[];
  deleted: number[];
}

/** What changed between two version lists of one credential (by version number). */
export function diffVersions(before: VersionRecord[], after: VersionRecord[]): VersionDiff {
  const old = new Map(before.map((v) => [v.version, v]));
  const now = new Set(after.map((v) => v.version));
  const diff: VersionDiff = { inserted: [], updated: [], deleted: [] };
  for (const v of after) {
    const o = old.get(v.version);
    if (!o) diff.inserted.push(v);
    else if (
      o.state !== v.state ||
      o.label !== v.label ||
      o.username !== v.username ||
      o.secret !== v.secret ||
      o.updatedAt !== v.updatedAt ||
      o.tag !== v.tag
    ) {
      diff.updated.push(v);
    }
  }
  for (const v of before) if (!now.has(v.version)) diff.deleted.push(v.version);
  return diff;
}
