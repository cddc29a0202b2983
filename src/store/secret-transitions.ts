import { record } from './audit-details';
import type { CredentialSnapshot, Mutation, TransitionContext, VersionRecord } from './snapshot';
import { clone, done, PURGED_SECRET, unchanged } from './snapshot';

// Maintenance of the stored secrets: re-encryption after a key rotation, purge after revocation.

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
