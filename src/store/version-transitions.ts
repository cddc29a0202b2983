import { timingSafeEqual } from 'node:crypto';
import { StoreStateError } from '../errors';
import { record } from './audit-details';
import { assertPassword, assertUsername, assertVersionNumber } from './invariants';
import {
  clone,
  done,
  findVersion,
  nextVersion,
  openSecret,
  requireDefinition,
  setLabel,
  toMeta,
  unchanged,
  type CredentialSnapshot,
  type Mutation,
  type TransitionContext,
  type VersionRecord,
} from './snapshot';
import type { VersionMeta } from './types';

// The version lifecycle: import, create/discard PENDING, promote/demote, revoke.

/** Compares an offered password with a stored one in constant time. */
function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
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
