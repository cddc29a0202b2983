import type { EngineKind, ResolvedStrategy } from '../shared/types';

/**
 * A delivery target: a place where applications already read secrets (a
 * directory, PgBouncer's auth file, AWS Secrets Manager) or hear about
 * rotations (webhooks). The rotation publishes each version there; the
 * store stays the rotator's own record.
 *
 * Contract for every implementation:
 * - Every method is idempotent and may be called again after a partial or
 *   complete success (activity retries, a second worker): it converges to
 *   the same end state and never fails because that state is reached already.
 * - Methods get the secret values as arguments from the delivery activity,
 *   which read them from the store; a target never writes one to a log, an
 *   error message or a file other than the ones it delivers.
 * - Errors: ConfigError (src/errors.ts) for what retrying cannot fix (bad
 *   path, unknown user); anything else is retried by the activity.
 * - `verify` reads back from the target itself (a file, a login through
 *   PgBouncer, GetSecretValue with an explicit stage), never from memory.
 */
export interface Target {
  /** e.g. "file /etc/creds/orders" — for plans, audit records and errors; holds no secret. */
  readonly description: string;

  /** A new version exists and works on the server; targets with a notion of "pending" show it. No-op elsewhere. */
  publishPending(step: DeliveryStep): Promise<void>;
  /** Promote: `step.to` becomes what applications read; `step.from` stays valid (and known where the target keeps it). */
  publishCurrent(step: DeliveryStep): Promise<void>;
  /**
   * Rollback or compensation: `step.from` is what applications read again;
   * the new version is withdrawn. `step.to` may be absent (its pending
   * version was already discarded): then only its login name and version
   * number are known (`step.toUsername`, `step.toVersion`).
   */
  restore(step: DeliveryStep): Promise<void>;
  /** Revoke: the old version (`step.from`, login already gone) is removed; `step.to` stays current. */
  removeOld(step: DeliveryStep): Promise<void>;
  /** Reads back what the target serves and throws TransientError unless it is `stage` of the step. */
  verify(step: DeliveryStep, stage: VerifyStage): Promise<void>;

  /** What each step would do, for dry runs; holds no secret. */
  describeActions(): DeliveryPlanLines;

  /** Releases clients and connections. */
  close(): Promise<void>;
}

/** Which version the target must serve after a step: the new one pending/current, or the old one current again / alone. */
export type VerifyStage = 'pending' | 'current' | 'restored' | 'old-removed';

/** One version of a credential as applications receive it. */
export interface DeliveredCredential {
  version: number;
  engine: EngineKind;
  host: string;
  port: number;
  database?: string;
  username: string;
  password: string;
  /** When the store created this version (ISO); distinguishes a reused version number. */
  createdAt: string;
}

/** Everything a target needs for one step of one rotation. */
export interface DeliveryStep {
  credentialId: string;
  strategy: ResolvedStrategy;
  fromVersion: number;
  toVersion: number;
  fromUsername: string;
  toUsername: string;
  /** The old version (always readable: revoked versions keep their secret). */
  from: DeliveredCredential;
  /** The new version; absent once its pending version was discarded. */
  to?: DeliveredCredential;
  /** The rotation's workflow run id: events of one run share it, a retried activity repeats it. */
  runId?: string;
}

export interface DeliveryPlanLines {
  pending: string;
  current: string;
  restore: string;
  removeOld: string;
}

/** Lifecycle events that are not a publication of a version (sent by targets that listen for them). */
export type LifecycleEvent = 'pending' | 'promoted' | 'rolled-back' | 'revoked' | 'failed' | 'needs-operator';

/** A target that also hears events that publish nothing (the webhook). */
export interface EventTarget extends Target {
  notify(event: LifecycleEvent, step: Omit<DeliveryStep, 'from' | 'to'>, detail?: string): Promise<void>;
}

export function isEventTarget(t: Target): t is EventTarget {
  return typeof (t as Partial<EventTarget>).notify === 'function';
}
