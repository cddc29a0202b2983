import { StoreStateError } from '../errors';
import { record } from './audit-details';
import {
  clone,
  done,
  unchanged,
  type CredentialSnapshot,
  type Mutation,
  type TransitionContext,
} from './snapshot';
import { stableJson } from './stable-json';
import type { CredentialDefinition } from './types';

// Transitions of a credential's definition (the versions are in ./version-transitions.ts).

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
