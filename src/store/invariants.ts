import { StoreStateError } from '../errors';
import type { VersionLabel } from '../shared/types';
import type { CredentialSnapshot } from './snapshot';

// The store's invariants: what a snapshot and the values put into it must satisfy.

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

export function assertVersionNumber(id: string, version: number): void {
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new StoreStateError(
      `credential "${id}": version must be a positive integer (got ${String(version)})`,
    );
  }
}

export function assertUsername(id: string, username: string): void {
  if (typeof username !== 'string' || username === '' || username.includes('\0')) {
    throw new StoreStateError(`credential "${id}": username must be a non-empty string without NUL`);
  }
}

export function assertPassword(id: string, password: unknown): asserts password is string {
  if (typeof password !== 'string' || password === '') {
    throw new StoreStateError(`credential "${id}": password must be a non-empty string`);
  }
}
