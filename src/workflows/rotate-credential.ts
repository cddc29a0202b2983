import {
  ActivityCancellationType,
  CancellationScope,
  condition,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { PlanningActivities, RotationActivities } from '../shared/activities';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/constants';
import {
  abortSignal,
  consumerHeartbeatSignal,
  extendGraceSignal,
  finishGraceSignal,
  rollbackSignal,
  statusQuery,
} from '../shared/messages';
import type { Outcome, RotationInput, RotationPlan, RotationResult } from '../shared/types';
import { deliveryFor } from './delivery';
import { AbortRequested, RotationTracker } from './tracker';

const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
};

// A cancelled step is allowed to finish first, so its undo never races it.
const cancellationType = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED;

// Activities heartbeat while they run (activities/rotation.ts), so a worker that dies mid-step
// is noticed after heartbeatTimeout and the step retried elsewhere, not after startToCloseTimeout.
const heartbeatTimeout = '10s';

// Short, bounded steps: a failing database gives up after a few minutes instead of retrying forever.
const act = proxyActivities<RotationActivities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout,
  cancellationType,
  retry: { ...retry, maximumAttempts: 5 },
});

// Undo and revoke steps must get through transient trouble; they are what keeps the database consistent.
const undo = proxyActivities<RotationActivities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout,
  cancellationType,
  retry: { ...retry, maximumAttempts: 20, maximumInterval: '1m' },
});

// Store-only steps run as local activities: no server round trip per step
// (the active phase is ~2× faster) and a marker instead of three history events.
const store = proxyLocalActivities<RotationActivities>({
  startToCloseTimeout: '30s',
  retry: { ...retry, maximumAttempts: 5 },
});
const storeUndo = proxyLocalActivities<RotationActivities>({
  startToCloseTimeout: '30s',
  retry: { ...retry, maximumAttempts: 20, maximumInterval: '1m' },
});

// A dry run only reads; it may retry like any short step.
const planning = proxyActivities<PlanningActivities>({
  startToCloseTimeout: '2m',
  retry: { ...retry, maximumAttempts: 5 },
});

/** How often the drain loop looks at the server's session list. */
const DRAIN_POLL_MS = 5_000;

/**
 * Rotates one credential with zero downtime. Reads as the runbook:
 * preflight → create pending → apply → verify → promote → migrate → grace →
 * revoke. Until promote, any failure or abort undoes the completed steps in
 * reverse; after promote, rollback (or abort) during migrate/grace points
 * consumers back to the old version and removes the new one.
 */
export async function rotateCredential(input: RotationInput): Promise<RotationResult> {
  if (input.dryRun) return planOnly(input);
  const t = new RotationTracker(input.credentialId);
  setHandler(statusQuery, () => t.status());
  setHandler(consumerHeartbeatSignal, (hb) => t.heartbeat(hb));
  setHandler(abortSignal, (req) => t.requestAbort(req?.reason ?? 'no reason given', req?.by));
  setHandler(rollbackSignal, (req) => t.requestRollback(req?.reason ?? 'no reason given', req?.by));
  setHandler(extendGraceSignal, (req) => t.extendGrace(req.byMs));
  setHandler(finishGraceSignal, () => t.finishGrace());

  upsertSearchAttributes({ RotationCredentialId: [input.credentialId] });

  // 1. preflight: nothing changed yet, so a failure here simply fails the run.
  const plan = await t.phase('preflight', () => act.preflight(input));
  t.setPlan(plan);
  upsertSearchAttributes({ RotationEngine: [plan.engine], RotationStrategy: [plan.strategy] });
  await store.recordAudit(plan.credentialId, 'rotation-started', auditDetails(plan, input));

  // 2–5. Every step registers its undo before it runs, so a retried or
  // half-done step is undone too.
  const undoSteps: Array<() => Promise<void>> = [];
  try {
    await t.phase('create-pending', async () => {
      undoSteps.unshift(() => storeUndo.discardPending(plan));
      await store.createPending(plan);
    });
    await t.phase('apply', async () => {
      undoSteps.unshift(() => undo.undoApply(plan));
      await act.applyPending(plan);
    });
    await t.phase('verify', () => act.verifyPending(plan));
    await deliveryFor(plan).pending(undoSteps);
    await t.phase('promote', async () => {
      undoSteps.unshift(() => storeUndo.demote(plan));
      await store.promote(plan);
      await deliveryFor(plan).current();
    });
  } catch (err) {
    const outcome: Outcome = err instanceof AbortRequested || isCancellation(err) ? 'aborted' : 'failed';
    t.recordError(err);
    try {
      await CancellationScope.nonCancellable(() => t.phase('compensate', () => runInOrder(undoSteps)));
    } catch (undoErr) {
      // The undo itself gave up (database gone for many minutes): record it, then fail
      // the workflow visibly — the leftovers in status need an operator.
      t.recordError(undoErr);
      await finish(t, plan, 'failed', input);
      throw undoErr;
    }
    return finish(t, plan, outcome, input);
  }

  // 6–7. The new credential is CURRENT; the old one stays valid until revoke.
  try {
    await t.phase('migrate', async () => {
      await discoverConsumers(t, Math.min(plan.consumerDiscoveryMs, plan.migrationTimeoutMs));
      await waitForConsumers(t, plan.toVersion, plan.migrationTimeoutMs);
    });
    if (!t.rollbackWanted()) await t.phase('grace', () => waitForGrace(t, plan.graceMs));
  } catch (err) {
    if (!isCancellation(err)) throw err;
    t.requestRollback('workflow cancelled', undefined);
  }

  if (t.rollbackWanted()) {
    // Consumers go back to the old version first; the new login goes only after they left it.
    await CancellationScope.nonCancellable(() =>
      t.phase('rollback', async () => {
        await storeUndo.demote(plan);
        await deliveryFor(plan).restore();
        await waitForConsumers(t, plan.fromVersion, plan.migrationTimeoutMs);
        await drainSessions(plan, 'to', plan.drainTimeoutMs);
        await runInOrder(undoSteps.slice(1)); // demote is done; then undo apply and discard pending
      }),
    );
    return finish(t, plan, 'rolled-back', input);
  }

  // 8. revoke: drain by the server's own session data, then end the rest.
  await CancellationScope.nonCancellable(() =>
    t.phase('revoke', async () => {
      await drainSessions(plan, 'from', plan.drainTimeoutMs);
      await undo.revokeOld(plan);
      await deliveryFor(plan).removeOld();
    }),
  );
  return finish(t, plan, 'rotated', input);
}

/**
 * A dry run: the plan with every blocker and statement, and nothing else —
 * no store change, no login, no grant (the activity writes one
 * "rotation-planned" audit record).
 */
async function planOnly(input: RotationInput): Promise<RotationResult> {
  upsertSearchAttributes({ RotationCredentialId: [input.credentialId] });
  const dryRun = await planning.planRotation(input);
  return {
    credentialId: input.credentialId,
    outcome: 'planned',
    strategy: dryRun.strategy,
    fromVersion: dryRun.plan?.fromVersion,
    toVersion: dryRun.plan?.toVersion,
    dryRun,
  };
}

async function runInOrder(steps: Array<() => Promise<void>>): Promise<void> {
  for (const step of steps) await step();
}

/** Waits until every known consumer reports `version`, or the timeout, or a rollback request. */
/**
 * Gives every live consumer one heartbeat period to make itself known: the
 * migrate step can only wait for consumers it has heard from, and promote
 * comes faster than a heartbeat.
 */
async function discoverConsumers(t: RotationTracker, discoveryMs: number): Promise<void> {
  if (discoveryMs > 0) await condition(() => t.rollbackWanted(), discoveryMs);
}

async function waitForConsumers(t: RotationTracker, version: number, timeoutMs: number): Promise<void> {
  t.setMigrationDeadline(Date.now() + timeoutMs);
  const migrated = await condition(
    () => t.consumersBehind(version).length === 0 || (version !== t.plan?.fromVersion && t.rollbackWanted()),
    timeoutMs,
  );
  if (!migrated)
    log.warn('migration timeout: consumers still behind', { behind: t.consumersBehind(version) });
}

/**
 * The durable grace timer; extend/finish/rollback signals interrupt it.
 *
 * No decision here (or in drainSessions) compares Date.now() with a deadline:
 * the workflow clock is not replay-safe in one case seen on TS SDK 1.24 — a
 * worker that takes over after another was killed while status queries were
 * being answered ran the next task with Date.now() still at the previous
 * task's time. A clock-based check then started a timer that a later replay
 * (with the right clock) does not, a nondeterminism error that leaves the
 * rotation stuck. So the timer firing ends grace, and an extension always
 * re-arms a timer (the clock only sizes it).
 */
async function waitForGrace(t: RotationTracker, graceMs: number): Promise<void> {
  t.setGraceDeadline(Date.now() + graceMs);
  let waitMs = graceMs;
  while (waitMs > 0 && !t.graceFinished() && !t.rollbackWanted()) {
    const seen = t.graceChanges();
    const interrupted = await condition(
      () => t.graceFinished() || t.rollbackWanted() || t.graceChanges() !== seen,
      waitMs,
    );
    if (!interrupted) return; // the timer fired: grace is over
    waitMs = Math.max(1, t.graceDeadlineMs() - Date.now());
  }
}

/**
 * Waits for the server's sessions of the retiring login to end by themselves,
 * up to the drain timeout (counted in polling sleeps, not read from the
 * clock: see waitForGrace).
 */
async function drainSessions(
  plan: RotationPlan,
  which: 'from' | 'to',
  drainTimeoutMs: number,
): Promise<void> {
  let leftMs = drainTimeoutMs;
  for (;;) {
    const open = await undo.countSessions(plan, which);
    // -1: one account with two passwords, sessions cannot be told apart; heartbeats decided already.
    if (open <= 0 || leftMs <= 0) return;
    const waitMs = Math.min(DRAIN_POLL_MS, leftMs);
    await sleep(waitMs);
    leftMs -= waitMs;
  }
}

async function finish(
  t: RotationTracker,
  plan: RotationPlan,
  outcome: Outcome,
  input: RotationInput,
): Promise<RotationResult> {
  t.setOutcome(outcome);
  if (outcome === 'failed')
    await CancellationScope.nonCancellable(() => deliveryFor(plan).failed(t.status().lastError));
  await CancellationScope.nonCancellable(() =>
    storeUndo.recordAudit(plan.credentialId, `rotation-${outcome}`, {
      ...auditDetails(plan, input),
      error: t.status().lastError,
      workflowId: workflowInfo().workflowId,
    }),
  );
  return {
    credentialId: plan.credentialId,
    outcome,
    strategy: plan.strategy,
    fromVersion: plan.fromVersion,
    toVersion: plan.toVersion,
    error: t.status().lastError,
  };
}

function auditDetails(plan: RotationPlan, input: RotationInput): Record<string, unknown> {
  return {
    by: input.requestedBy ?? 'unknown',
    reason: input.reason,
    emergency: plan.emergency !== undefined,
    strategy: plan.strategy,
    fromVersion: plan.fromVersion,
    toVersion: plan.toVersion,
    runId: workflowInfo().runId,
  };
}
