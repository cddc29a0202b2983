import { timingSafeEqual } from 'node:crypto';
import { StoreStateError, UnknownCredentialError } from '../errors';
import type { VersionLabel } from '../shared/types';
import type { SecretCipher } from './crypto';
import type { AuditRecord, CredentialDefinition, StoredSecret, VersionMeta, VersionSelector } from './types';

/**
 * The label/state rules of the credential store, as pure functions on an
 * in-memory snapshot of ONE credential (its definition and versions). Both
 * backends load a snapshot under their lock (file lock / row lock), call one
 * of these, and persist what it returns together with its audit records, in
 * one atomic step. Nothing here does I/O.
 *
 * States and labels:
 *   pending  <-> PENDING   (at most one)
 *   current  <-> CURRENT   (at most one)
 *   previous  -> PREVIOUS  (only the newest previous carries the label)
 *   revoked   -> no label
 *
 * Audit policy: exactly one audit record per state change; a repeated call
 * that finds its target state already reached changes nothing and records
 * nothing. So retried activities do not spam the log, and "call twice"
 * leaves state AND audit log identical.
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
// helpers

function clone(snap: CredentialSnapshot): CredentialSnapshot {
  const out: CredentialSnapshot = { id: snap.id, versions: snap.versions.map((v) => ({ ...v })) };
  if (snap.definition) out.definition = snap.definition;
  if (snap.definitionTag) out.definitionTag = snap.definitionTag;
  return out;
}

function record(
  ctx: TransitionContext,
  credentialId: string,
  action: string,
  version?: number,
  details?: Record<string, unknown>,
): AuditRecord {
  const r: AuditRecord = { at: ctx.now, actor: ctx.actor, credentialId, action };
  if (version !== undefined) r.version = version;
  if (details && Object.keys(details).length > 0) r.details = sanitizeDetails(details);
  return r;
}

function unchanged<T>(result: T): Mutation<T> {
  return { result, audit: [] };
}

function setLabel(r: VersionRecord, label: VersionLabel | undefined): void {
  if (label) r.label = label;
  else delete r.label;
}

function assertVersionNumber(id: string, version: number): void {
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new StoreStateError(
      `credential "${id}": version must be a positive integer (got ${String(version)})`,
    );
  }
}

function assertUsername(id: string, username: string): void {
  if (typeof username !== 'string' || username === '' || username.includes('\0')) {
    throw new StoreStateError(`credential "${id}": username must be a non-empty string without NUL`);
  }
}

function assertPassword(id: string, password: unknown): asserts password is string {
  if (typeof password !== 'string' || password === '') {
    throw new StoreStateError(`credential "${id}": password must be a non-empty string`);
  }
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

const SECRET_KEY_RE = /passw|^pass$|pwd|secret|token|apikey|api_key|private|^key$/i;

/**
 * Defence in depth: audit details are caller-supplied, so any key that looks
 * like it holds a secret has its value replaced. Depth-limited, cycle-safe.
 */
export function sanitizeDetails(details: Record<string, unknown>): Record<string, unknown> {
  const seen = new WeakSet<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v !== 'object') {
      return typeof v === 'bigint'
        ? v.toString()
        : typeof v === 'function' || typeof v === 'symbol'
          ? undefined
          : v;
    }
    if (seen.has(v) || depth > 8) return '[omitted]';
    seen.add(v);
    if (v instanceof Date) return v.toISOString();
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (SECRET_KEY_RE.test(k)) out[k] = '[redacted]';
      else {
        const w = walk(x, depth + 1);
        if (w !== undefined) out[k] = w;
      }
    }
    return out;
  };
  return walk(details, 0) as Record<string, unknown>;
}

/** Throws if a snapshot breaks a label/state invariant (a bug or a hand-edited store). */
export function checkInvariants(snap: CredentialSnapshot): void {
  const count: Record<VersionLabel, number> = { CURRENT: 0, PENDING: 0, PREVIOUS: 0 };
  const seen = new Set<number>();
  for (const v of snap.versions) {
    const where = `credential "${snap.id}" version ${v.version}`;
    if (seen.has(v.version)) throw new StoreStateError(`store corrupt: ${where} appears twice`);
    seen.add(v.version);
    if (v.label) count[v.label]++;
    const ok =
      (v.state === 'current' && v.label === 'CURRENT') ||
      (v.state === 'pending' && v.label === 'PENDING') ||
      (v.state === 'previous' && (v.label === 'PREVIOUS' || v.label === undefined)) ||
      ((v.state === 'revoked' || v.state === 'discarded') && v.label === undefined);
    if (!ok)
      throw new StoreStateError(
        `store corrupt: ${where} has state ${v.state} with label ${v.label ?? 'none'}`,
      );
  }
  for (const [label, n] of Object.entries(count)) {
    if (n > 1) throw new StoreStateError(`store corrupt: credential "${snap.id}" has ${n} ${label} versions`);
  }
}

function done<T>(next: CredentialSnapshot, result: T, audit: AuditRecord[]): Mutation<T> {
  checkInvariants(next);
  return { result, next, audit };
}

// ---------------------------------------------------------------------------
// definitions

/** Canonical JSON: object keys sorted, undefined dropped (for comparison and signing). */
export function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(',')}}`;
}

export function sameDefinition(a: CredentialDefinition, b: CredentialDefinition): boolean {
  return stableJson(a) === stableJson(b);
}

/** `def` must already be validated (parseCredentialDefinition). */
export function putDefinition(
  snap: CredentialSnapshot,
  def: CredentialDefinition,
  ctx: TransitionContext,
): Mutation<void> {
  if (def.id !== snap.id) throw new StoreStateError(`definition id "${def.id}" does not match "${snap.id}"`);
  if (snap.definition && sameDefinition(snap.definition, def)) return unchanged(undefined);
  const next = clone(snap);
  next.definition = def;
  const changedKeys = snap.definition
    ? Object.keys({ ...snap.definition, ...def }).filter(
        (k) =>
          stableJson((snap.definition as unknown as Record<string, unknown>)[k]) !==
          stableJson((def as unknown as Record<string, unknown>)[k]),
      )
    : undefined;
  const details: Record<string, unknown> = {
    created: !snap.definition,
    engine: def.engine,
    host: def.host,
    port: def.port,
  };
  if (changedKeys) details.changedKeys = changedKeys.sort();
  return done(next, undefined, [record(ctx, snap.id, 'put-definition', undefined, details)]);
}

/** Removes the definition and every version. No-op if absent. */
export function deleteDefinition(snap: CredentialSnapshot, ctx: TransitionContext): Mutation<void> {
  if (!snap.definition && snap.versions.length === 0) return unchanged(undefined);
  return {
    result: undefined,
    next: null,
    audit: [
      record(ctx, snap.id, 'delete-definition', undefined, {
        versionsDeleted: snap.versions.map((v) => v.version),
      }),
    ],
  };
}

// ---------------------------------------------------------------------------
// versions

/**
 * Imports an existing login as CURRENT (version 1 if there are no versions,
 * else one above the highest). Idempotent: if the CURRENT version already
 * holds exactly this username and password, returns it unchanged. Otherwise
 * StoreStateError if a CURRENT or PENDING version exists.
 */
export function importCurrent(
  snap: CredentialSnapshot,
  secret: { username: string; password: string },
  ctx: TransitionContext,
): Mutation<VersionMeta> {
  requireDefinition(snap);
  assertUsername(snap.id, secret.username);
  assertPassword(snap.id, secret.password);
  const cur = findVersion(snap.versions, 'CURRENT');
  if (cur) {
    if (
      cur.username === secret.username &&
      sameString(openSecret(cur, ctx.cipher).password, secret.password)
    ) {
      return unchanged(toMeta(cur));
    }
    throw new StoreStateError(
      `credential "${snap.id}" already has a CURRENT version (${cur.version}); rotate it instead of importing`,
    );
  }
  const pending = findVersion(snap.versions, 'PENDING');
  if (pending) {
    throw new StoreStateError(
      `credential "${snap.id}" has a PENDING version (${pending.version}); promote or discard it before importing`,
    );
  }
  const version = nextVersion(snap.versions);
  const next = clone(snap);
  const r: VersionRecord = {
    credentialId: snap.id,
    version,
    username: secret.username,
    state: 'current',
    label: 'CURRENT',
    createdAt: ctx.now,
    updatedAt: ctx.now,
    secret: ctx.cipher.encrypt(secret.password, { credentialId: snap.id, version }),
  };
  next.versions.push(r);
  return done(next, toMeta(r), [
    record(ctx, snap.id, 'import-current', version, {
      username: secret.username,
      keyId: ctx.cipher.activeKeyId,
    }),
  ]);
}

export function createPending(
  snap: CredentialSnapshot,
  version: number,
  username: string,
  generate: () => string,
  ctx: TransitionContext,
): Mutation<VersionMeta> {
  requireDefinition(snap);
  assertVersionNumber(snap.id, version);
  assertUsername(snap.id, username);
  const existing = findVersion(snap.versions, version);
  if (existing) {
    if (existing.state !== 'pending') {
      throw new StoreStateError(
        `credential "${snap.id}" version ${version} exists already as ${existing.state}`,
      );
    }
    if (existing.username !== username) {
      throw new StoreStateError(
        `credential "${snap.id}" version ${version} is pending with username "${existing.username}", not "${username}"`,
      );
    }
    return unchanged(toMeta(existing));
  }
  const other = findVersion(snap.versions, 'PENDING');
  if (other) {
    throw new StoreStateError(`credential "${snap.id}" already has a PENDING version (${other.version})`);
  }
  const highest = nextVersion(snap.versions) - 1;
  if (version <= highest) {
    throw new StoreStateError(
      `credential "${snap.id}": new version ${version} must be above the highest existing version (${highest})`,
    );
  }
  const password = generate();
  assertPassword(snap.id, password);
  const next = clone(snap);
  const r: VersionRecord = {
    credentialId: snap.id,
    version,
    username,
    state: 'pending',
    label: 'PENDING',
    createdAt: ctx.now,
    updatedAt: ctx.now,
    secret: ctx.cipher.encrypt(password, { credentialId: snap.id, version }),
  };
  next.versions.push(r);
  return done(next, toMeta(r), [
    record(ctx, snap.id, 'create-pending', version, { username, keyId: ctx.cipher.activeKeyId }),
  ]);
}

/**
 * Deletes a PENDING version (saga undo of createPending). No-op if the
 * version (or the credential) does not exist. Refuses to delete a version in
 * any other state: an undo must never destroy the CURRENT credential.
 */
export function discardPending(
  snap: CredentialSnapshot,
  version: number,
  ctx: TransitionContext,
): Mutation<void> {
  const existing = findVersion(snap.versions, version);
  if (!existing) return unchanged(undefined);
  if (existing.state !== 'pending') {
    throw new StoreStateError(
      `credential "${snap.id}" version ${version} is ${existing.state}, not pending; refusing to discard it`,
    );
  }
  const next = clone(snap);
  next.versions = next.versions.filter((v) => v.version !== version);
  return done(next, undefined, [
    record(ctx, snap.id, 'discard-pending', version, { username: existing.username }),
  ]);
}

export function promote(snap: CredentialSnapshot, version: number, ctx: TransitionContext): Mutation<void> {
  requireDefinition(snap);
  const target = findVersion(snap.versions, version);
  if (target?.state === 'current') return unchanged(undefined);
  if (!target || target.state !== 'pending') {
    throw new StoreStateError(
      `credential "${snap.id}": cannot promote version ${version}: ${target ? `it is ${target.state}` : 'no such version'}, not pending`,
    );
  }
  const next = clone(snap);
  const details: Record<string, unknown> = {};
  for (const v of next.versions) {
    if (v.label === 'PREVIOUS') {
      setLabel(v, undefined);
      v.updatedAt = ctx.now;
      details.unlabelled = v.version;
    }
  }
  for (const v of next.versions) {
    if (v.state === 'current') {
      v.state = 'previous';
      setLabel(v, 'PREVIOUS');
      v.updatedAt = ctx.now;
      details.previous = v.version;
    }
  }
  const t = next.versions.find((v) => v.version === version)!;
  t.state = 'current';
  setLabel(t, 'CURRENT');
  t.updatedAt = ctx.now;
  return done(next, undefined, [record(ctx, snap.id, 'promote', version, details)]);
}

/**
 * Rollback of promote: PREVIOUS `toVersion` becomes CURRENT again, the
 * version that was CURRENT becomes PENDING. Idempotent if `toVersion` is
 * CURRENT already.
 */
export function demote(snap: CredentialSnapshot, toVersion: number, ctx: TransitionContext): Mutation<void> {
  requireDefinition(snap);
  const target = findVersion(snap.versions, toVersion);
  if (target?.state === 'current') return unchanged(undefined);
  if (!target || target.label !== 'PREVIOUS') {
    throw new StoreStateError(
      `credential "${snap.id}": cannot demote to version ${toVersion}: ${
        target
          ? `it is ${target.state}${target.state === 'previous' ? ' but no longer labelled PREVIOUS' : ''}`
          : 'no such version'
      }`,
    );
  }
  const pending = findVersion(snap.versions, 'PENDING');
  if (pending) {
    throw new StoreStateError(
      `credential "${snap.id}": cannot demote while version ${pending.version} is PENDING (discard it first)`,
    );
  }
  const cur = findVersion(snap.versions, 'CURRENT');
  if (!cur) throw new StoreStateError(`credential "${snap.id}": cannot demote: no CURRENT version`);
  const next = clone(snap);
  const c = next.versions.find((v) => v.version === cur.version)!;
  c.state = 'pending';
  setLabel(c, 'PENDING');
  c.updatedAt = ctx.now;
  const t = next.versions.find((v) => v.version === toVersion)!;
  t.state = 'current';
  setLabel(t, 'CURRENT');
  t.updatedAt = ctx.now;
  return done(next, undefined, [record(ctx, snap.id, 'demote', toVersion, { demoted: cur.version })]);
}

/**
 * Marks a version revoked and drops its label. Idempotent. Refuses the
 * CURRENT version (that would leave the credential without a usable login).
 */
export function markRevoked(
  snap: CredentialSnapshot,
  version: number,
  ctx: TransitionContext,
): Mutation<void> {
  requireDefinition(snap);
  const target = findVersion(snap.versions, version);
  if (!target)
    throw new StoreStateError(`credential "${snap.id}": cannot revoke version ${version}: no such version`);
  if (target.state === 'revoked') return unchanged(undefined);
  if (target.state === 'current') {
    throw new StoreStateError(
      `credential "${snap.id}": refusing to revoke version ${version}: it is CURRENT`,
    );
  }
  const next = clone(snap);
  const t = next.versions.find((v) => v.version === version)!;
  const details: Record<string, unknown> = { wasState: t.state };
  if (t.label) details.wasLabel = t.label;
  t.state = 'revoked';
  setLabel(t, undefined);
  t.updatedAt = ctx.now;
  return done(next, undefined, [record(ctx, snap.id, 'mark-revoked', version, details)]);
}

/**
 * Re-encrypts every secret not sealed with the active key (after a key
 * rotation); records signed with another key are re-signed by the store
 * when it persists the result. Returns how many secrets were re-encrypted.
 */
export function reencrypt(snap: CredentialSnapshot, ctx: TransitionContext): Mutation<number> {
  const sealed = (v: VersionRecord) => v.secret !== PURGED_SECRET;
  const stale = snap.versions.filter((v) => sealed(v) && ctx.cipher.needsReencrypt(v.secret));
  const staleTags =
    (snap.definitionTag !== undefined &&
      ctx.cipher.keyIdOfTag(snap.definitionTag) !== ctx.cipher.activeKeyId) ||
    snap.versions.some((v) => v.tag !== undefined && ctx.cipher.keyIdOfTag(v.tag) !== ctx.cipher.activeKeyId);
  if (stale.length === 0 && !staleTags) return unchanged(0);
  const next = clone(snap);
  const fromKeys = new Set<string>();
  for (const v of next.versions) {
    if (!sealed(v) || !ctx.cipher.needsReencrypt(v.secret)) continue;
    fromKeys.add(ctx.cipher.keyIdOf(v.secret));
    const secretCtx = { credentialId: v.credentialId, version: v.version };
    v.secret = ctx.cipher.encrypt(ctx.cipher.decrypt(v.secret, secretCtx), secretCtx);
  }
  return done(next, stale.length, [
    record(ctx, snap.id, 'reencrypt-secrets', undefined, {
      versions: stale.map((v) => v.version),
      fromKeyIds: [...fromKeys].sort(),
      toKeyId: ctx.cipher.activeKeyId,
      resigned: true,
    }),
  ]);
}

/**
 * Deletes the secret of every revoked version whose revocation is older
 * than `cutoff` (ISO): its login no longer works, and a secret that is not
 * kept cannot leak from a backup or a stolen keyring. The version's
 * metadata stays (history, version numbering). Idempotent.
 */
export function purgeRevoked(
  snap: CredentialSnapshot,
  cutoff: string,
  retentionMs: number,
  ctx: TransitionContext,
): Mutation<number> {
  const due = snap.versions.filter(
    (v) => v.state === 'revoked' && v.secret !== PURGED_SECRET && v.updatedAt <= cutoff,
  );
  if (due.length === 0) return unchanged(0);
  const next = clone(snap);
  for (const v of next.versions) {
    if (!due.some((d) => d.version === v.version)) continue;
    v.secret = PURGED_SECRET;
    v.updatedAt = ctx.now;
  }
  return done(next, due.length, [
    record(ctx, snap.id, 'purge-revoked-secrets', undefined, {
      versions: due.map((v) => v.version),
      retentionMs,
    }),
  ]);
}

/** A free-standing audit record (no state change). */
export function auditOnly(input: Omit<AuditRecord, 'at'>, now: string): Mutation<void> {
  if (!input.actor || !input.credentialId || !input.action) {
    throw new StoreStateError('audit record needs actor, credentialId and action');
  }
  const r: AuditRecord = {
    at: now,
    actor: input.actor,
    credentialId: input.credentialId,
    action: input.action,
  };
  if (input.version !== undefined) r.version = input.version;
  if (input.details && Object.keys(input.details).length > 0) r.details = sanitizeDetails(input.details);
  return { result: undefined, audit: [r] };
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
