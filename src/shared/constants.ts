export const TASK_QUEUE = 'db-rotation';

/** One rotation per credential at a time: the workflow id is derived from the credential id. */
export function rotationWorkflowId(credentialId: string): string {
  return `rotate/${credentialId}`;
}

/**
 * Dry runs get their own ids, so a plan can be made while a rotation of the
 * same credential runs (and two plans never collide with it).
 */
export function planWorkflowId(credentialId: string, at: Date = new Date()): string {
  return `plan/${credentialId}/${at.toISOString()}`;
}

export const DEFAULT_GRACE_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_MIGRATION_TIMEOUT_MS = 60 * 60 * 1000;
export const DEFAULT_DRAIN_TIMEOUT_MS = 5 * 60 * 1000;
/** The consumer library's default heartbeat period: every live consumer reports within it. */
export const DEFAULT_CONSUMER_DISCOVERY_MS = 60 * 1000;
/** A consumer silent for 3 heartbeat periods no longer holds migrate (shown as gone). */
export const DEFAULT_CONSUMER_EXPIRY_MS = 3 * DEFAULT_CONSUMER_DISCOVERY_MS;
/** Consumers a rotation tracks; heartbeats from more are counted, not stored. */
export const DEFAULT_MAX_CONSUMERS = 100;
/** Grace of an emergency rotation unless the operator gives one. */
export const DEFAULT_EMERGENCY_GRACE_MS = 5 * 60 * 1000;

/** Error types that retrying cannot fix; activities raise them as non-retryable failures. */
export const NON_RETRYABLE_ERROR_TYPES = [
  'ConfigError',
  'UnknownCredentialError',
  'AdminPrivilegeError',
  'UnsupportedServerError',
  'UnsupportedStrategyError',
  'PrivilegeParityError',
  'VerificationError',
  'StoreStateError',
  'UnsafeIdentifierError',
  'OutsideWindowError',
] as const;
export type NonRetryableErrorType = (typeof NON_RETRYABLE_ERROR_TYPES)[number];
