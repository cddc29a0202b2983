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

// The rules live in one module per concern; this module is the store's one entry point to them.
export { sanitizeDetails, auditOnly } from './audit-details';
export { sameDefinition, putDefinition, deleteDefinition } from './definition-transitions';
export { checkInvariants } from './invariants';
export { reencrypt, purgeRevoked } from './secret-transitions';
export {
  toMeta,
  sortVersions,
  findVersion,
  nextVersion,
  describeSelector,
  requireDefinition,
  PURGED_SECRET,
  openSecret,
  getSecretFrom,
  diffVersions,
} from './snapshot';
export type { VersionRecord, CredentialSnapshot, TransitionContext, Mutation, VersionDiff } from './snapshot';
export { stableJson } from './stable-json';
export {
  importCurrent,
  createPending,
  discardPending,
  promote,
  demote,
  markRevoked,
} from './version-transitions';
