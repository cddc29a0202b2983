import type { RotationDryRun, RotationInput, RotationPlan } from './types';

/**
 * The activities of a rotation, as the workflow sees them. Every argument is
 * a plan (ids, versions, login names) — never a secret; the activity reads
 * secrets from the store itself. Every activity is idempotent.
 */
export interface RotationActivities {
  /** Loads the credential, checks admin rights, detects the server and picks the strategy. */
  preflight(input: RotationInput): Promise<RotationPlan>;
  /** Generates the new password inside the worker and stores it as PENDING. */
  createPending(plan: RotationPlan): Promise<void>;
  /** Makes the pending credential valid on the server next to the current one. */
  applyPending(plan: RotationPlan): Promise<void>;
  /** Logs in with the pending credential, runs checks and verifies privilege parity. */
  verifyPending(plan: RotationPlan): Promise<void>;
  /**
   * With nodes (replicas, readers): waits (bounded by plan.nodeSyncTimeoutMs)
   * until every node has the applied change, then verifies the pending login
   * on each. A node down or behind at the bound: VerificationError.
   */
  replicateToNodes(plan: RotationPlan): Promise<void>;
  /** PENDING becomes CURRENT, CURRENT becomes PREVIOUS. */
  promote(plan: RotationPlan): Promise<void>;
  /** Undo of promote: the old version is CURRENT again. */
  demote(plan: RotationPlan): Promise<void>;
  /**
   * Open server sessions of the login that is about to lose access
   * (`which`: the old one at revoke, the new one at rollback); -1 when the
   * strategy cannot tell them apart (one account, two passwords).
   */
  countSessions(plan: RotationPlan, which: 'from' | 'to'): Promise<number>;
  /** Ends what is left of the old credential and marks it revoked. */
  revokeOld(plan: RotationPlan): Promise<void>;
  /**
   * Puts back the state before the rotation, reading the actual state rather
   * than trusting which steps the workflow saw run: the old version CURRENT
   * again if the new one got promoted, the server accepting only the old
   * credential, no PENDING version left. Safe to run at any point and again.
   */
  restore(plan: RotationPlan): Promise<void>;
  /** Is the new version CURRENT in the store? (A promote's effect may outlive its lost result.) */
  isPromoted(plan: RotationPlan): Promise<boolean>;
  /**
   * Appends an audit record (no secret) for workflow-level events. With
   * `details.eventId`, a record with that id is written once only (a local
   * activity may run again after its workflow task was lost).
   */
  recordAudit(credentialId: string, action: string, details: Record<string, unknown>): Promise<void>;
}

/** The dry-run activity: computes a rotation's plan and changes nothing (one audit record). */
export interface PlanningActivities {
  planRotation(input: RotationInput): Promise<RotationDryRun>;
}

/**
 * Delivery to the credential's targets (src/targets). Arguments are the plan
 * only: each activity reads the versions from the store itself. Each one
 * publishes to every target and reads it back; all are idempotent.
 */
export interface DeliveryActivities {
  /** After verify: the new version as PENDING where the target has that notion. */
  deliverPending(plan: RotationPlan): Promise<void>;
  /** At promote: the new version becomes what applications read. */
  deliverCurrent(plan: RotationPlan): Promise<void>;
  /** Rollback/compensation: the old version is what applications read again; the new one is withdrawn. */
  deliverRestore(plan: RotationPlan): Promise<void>;
  /** At revoke: the old version is removed from every target. */
  deliverRemoveOld(plan: RotationPlan): Promise<void>;
  /** A lifecycle event that publishes nothing (failed, needs-operator) to targets that listen (webhooks). */
  deliverEvent(plan: RotationPlan, event: 'failed' | 'needs-operator', detail?: string): Promise<void>;
}
