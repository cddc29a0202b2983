import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { PlanningActivities, RotationActivities } from '../shared/activities';
import type { Outcome, RotationInput, RotationPlan, RotationResult } from '../shared/types';
import { AbortRequested, RotationTracker } from './tracker';
import { registerHandlers } from './handlers';
import { rotationInputProblems } from '../shared/rotation-input';
import { waitForRevokeWindow } from './windows';
import { deliveryFor, type Delivery } from './delivery';
import { replicateToNodes } from './nodes';
import { cancellationType, heartbeatTimeout, retry } from './activity-options';

// Short, bounded steps: a failing database gives up after a few minutes instead of retrying forever.
const act = proxyActivities<RotationActivities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout,
  cancellationType,
  retry: { ...retry, maximumAttempts: 5 },
});

// Undo and revoke steps must get through transient trouble; they are what keeps the database
// consistent. When they still give up, the run waits for an operator (untilDone), never fails.
const undo = proxyActivities<RotationActivities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout,
  cancellationType,
  retry: { ...retry, maximumAttempts: 20, maximumInterval: '1m' },
});

// Store-only steps run as local activities: no server round trip per step and a
// marker instead of three history events. A local activity's effect can be lost
// from history (worker killed before its task completed), so none of them is
// ever the only record of a change: each is idempotent, and every undo reads the
// actual state (the restore activity) instead of trusting which steps ran.
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
 * revoke. Until promote, any failure or abort restores the state before the
 * rotation; after promote, rollback (or abort) during migrate/grace points
 * consumers back to the old version and removes the new one. A step after
 * promote (or an undo) that keeps failing parks the run for an operator.
 */
export async function rotateCredential(input: RotationInput): Promise<RotationResult> {
  const problems = rotationInputProblems(input);
  if (problems) return refuseInput(input, problems);
  if (input.dryRun) return planOnly(input);
  const t = new RotationTracker(input.credentialId, input);
  registerHandlers(t);
  upsertSearchAttributes({ RotationCredentialId: [input.credentialId] });
  const audit = auditor(input);

  // 1. preflight: nothing changed yet, so a failure here only needs recording.
  let plan: RotationPlan;
  try {
    plan = await t.phase('preflight', () => act.preflight(input));
  } catch (err) {
    t.recordError(err);
    t.setOutcome(isCancellation(err) || err instanceof AbortRequested ? 'aborted' : 'failed');
    await CancellationScope.nonCancellable(() =>
      audit(undefined, isCancellation(err) ? 'rotation-aborted' : 'rotation-failed', {
        phase: 'preflight',
        error: t.status().lastError,
      }),
    );
    throw err;
  }
  t.setPlan(plan);
  upsertSearchAttributes({ RotationEngine: [plan.engine], RotationStrategy: [plan.strategy] });
  await CancellationScope.nonCancellable(() => audit(plan, 'rotation-started'));
  const deliver = deliveryFor(plan);
  const note = (action: string, extra: Record<string, unknown>) =>
    audit(plan, action, extra).then(() => deliver.announce(action, extra.error));

  // 2–5. Before promote: any failure or abort restores the state as it was.
  try {
    await t.phase('create-pending', () => store.createPending(plan));
    await t.phase('apply', () => act.applyPending(plan));
    await t.phase('verify', () => act.verifyPending(plan));
    await replicateToNodes(t, plan); // replicas and readers have it before promote (issue 13)
    await deliver.pending();
    await t.phase('promote', () => store.promote(plan).then(() => deliver.current()));
  } catch (err) {
    const outcome: Outcome = err instanceof AbortRequested || isCancellation(err) ? 'aborted' : 'failed';
    t.recordError(err);
    const restored = await CancellationScope.nonCancellable(() =>
      t.phase('compensate', async () => {
        // A promote whose result was lost with its worker may have let consumers move to the
        // new version already: then it is undone like a rollback, consumers back first. The
        // store says so, not the history.
        if (patched('compensate-reads-promote')) {
          let promoted = false;
          const inspected = await untilDone(t, note, 'inspect', async () => {
            promoted = await undo.isPromoted(plan);
          });
          if (!inspected) return false;
          if (promoted) return moveBack(t, note, plan, deliver);
        }
        if (!(await untilDone(t, note, 'restore', () => undo.restore(plan)))) return false;
        return untilDone(t, note, 'deliver-restore', () => deliver.restore());
      }),
    );
    return finish(t, plan, restored ? outcome : 'failed', audit, deliver);
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
    const rolledBack = await CancellationScope.nonCancellable(() =>
      t.phase('rollback', () => moveBack(t, note, plan, deliver)),
    );
    return finish(t, plan, rolledBack ? 'rolled-back' : 'failed', audit, deliver);
  }

  // 8. revoke: drain by the server's own session data, then end the rest.
  const revoked = await CancellationScope.nonCancellable(() =>
    t.phase('revoke', async () => {
      await waitForRevokeWindow(plan); // policy windows/freezes; patched('revoke-window')
      if (!(await untilDone(t, note, 'drain', () => drainSessions(plan, 'from', plan.drainTimeoutMs))))
        return false;
      if (!(await untilDone(t, note, 'revoke', () => undo.revokeOld(plan)))) return false;
      return untilDone(t, note, 'deliver-remove-old', () => deliver.removeOld());
    }),
  );
  return finish(t, plan, revoked ? 'rotated' : 'failed', audit, deliver);
}

type Note = (action: string, extra: Record<string, unknown>) => Promise<void>;

/**
 * Undoes a promote: consumers go back to the old version first, the new
 * login (or password) goes only after they left it. With one password
 * (single) there is nothing to wait for: consumers on the new password fail
 * until the server has the old one again, so that comes at once.
 */
async function moveBack(
  t: RotationTracker,
  note: Note,
  plan: RotationPlan,
  deliver: Delivery,
): Promise<boolean> {
  if (!(await untilDone(t, note, 'demote', () => storeUndo.demote(plan)))) return false;
  if (!(await untilDone(t, note, 'deliver-restore', () => deliver.restore()))) return false;
  if (plan.strategy !== 'single' || !patched('single-rollback-without-wait')) {
    await waitForConsumers(t, plan.fromVersion, plan.migrationTimeoutMs);
    if (!(await untilDone(t, note, 'drain', () => drainSessions(plan, 'to', plan.drainTimeoutMs))))
      return false;
  }
  if (!(await untilDone(t, note, 'restore', () => undo.restore(plan)))) return false;
  return untilDone(t, note, 'deliver-restore', () => deliver.restore()); // drops the new login's traces
}

/**
 * A start input that does not parse (started around our CLI): fail at once
 * with every problem named, before any timer or activity could choke on it.
 */
async function refuseInput(input: RotationInput, problems: string): Promise<never> {
  const failure = ApplicationFailure.nonRetryable(`invalid rotation input: ${problems}`, 'ConfigError');
  const id = typeof input?.credentialId === 'string' && input.credentialId ? input.credentialId : undefined;
  if (id) {
    const t = new RotationTracker(id);
    t.recordError(failure);
    t.setOutcome('failed');
    await CancellationScope.nonCancellable(() =>
      auditor(input)(undefined, 'rotation-failed', { phase: 'preflight', error: t.status().lastError }),
    );
  }
  throw failure;
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

/**
 * Runs a step that must not be given up silently. When its retries are
 * exhausted the run parks (phase needs-operator, audited) until an operator
 * sends `resolve`: retry runs the step again, abandon returns false and the
 * run ends as failed with the operator's reason and the step's last error.
 */
async function untilDone(
  t: RotationTracker,
  record: Note,
  step: string,
  run: () => Promise<unknown>,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await run();
      // Patched: clearing republishes the memo, a command older runs did not issue here.
      if (attempt > 1 && patched('clear-error-after-retry')) t.clearError();
      return true;
    } catch (err) {
      log.warn('step keeps failing; waiting for an operator', { step });
      const parked = t.waitForOperator(step, err);
      await record('rotation-needs-operator', { step, error: t.status().lastError });
      const decision = await parked;
      await record(`rotation-operator-${decision.action}`, {
        step,
        reason: decision.reason,
        by: decision.by,
      });
      if (decision.action === 'abandon') {
        t.recordAbandon(step, decision.reason ?? 'no reason given', decision.by);
        return false;
      }
    }
  }
}

/**
 * Gives every live consumer one heartbeat period to make itself known: the
 * migrate step can only wait for consumers it has heard from, and promote
 * comes faster than a heartbeat.
 */
async function discoverConsumers(t: RotationTracker, discoveryMs: number): Promise<void> {
  if (discoveryMs > 0) await condition(() => t.rollbackWanted() || t.graceFinished(), discoveryMs);
}

/**
 * Waits until every live consumer reports `version`, or the timeout, or a
 * rollback request. A consumer silent for longer than the expiry stops
 * counting, so the wait wakes up when the next one would expire.
 */
async function waitForConsumers(t: RotationTracker, version: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  t.setMigrationDeadline(deadline);
  t.waitingSince(Date.now());
  const leaving = version !== t.plan?.fromVersion;
  for (;;) {
    const done = () => t.consumersBehind(version).length === 0 || (leaving && t.rollbackWanted());
    if (done()) return;
    const now = Date.now();
    if (now >= deadline) break;
    const wakeAt = Math.min(deadline, t.nextExpiryMs(version, now) ?? deadline);
    await condition(done, Math.max(1, wakeAt - now));
    t.refresh();
  }
  log.warn('migration timeout: consumers still behind', { behind: t.consumersBehind(version) });
}

/**
 * The durable grace timer; extend/finish/rollback requests interrupt it and
 * an extension re-arms it for the new deadline.
 */
async function waitForGrace(t: RotationTracker, graceMs: number): Promise<void> {
  t.setGraceDeadline(Date.now() + graceMs + t.takeEarlyExtensionMs());
  for (;;) {
    if (t.graceFinished() || t.rollbackWanted()) return;
    const waitMs = t.graceDeadlineMs() - Date.now();
    if (waitMs <= 0) return;
    const seen = t.graceChanges();
    const interrupted = await condition(
      () => t.graceFinished() || t.rollbackWanted() || t.graceChanges() !== seen,
      waitMs,
    );
    if (!interrupted) return; // the timer fired: grace is over
  }
}

/**
 * Waits for the server's sessions of the retiring login to end by themselves,
 * up to the drain timeout.
 */
async function drainSessions(
  plan: RotationPlan,
  which: 'from' | 'to',
  drainTimeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + drainTimeoutMs;
  for (;;) {
    const open = await undo.countSessions(plan, which);
    // -1: one account with two passwords, sessions cannot be told apart; heartbeats decided already.
    const leftMs = deadline - Date.now();
    if (open <= 0 || leftMs <= 0) return;
    await sleep(Math.min(DRAIN_POLL_MS, leftMs));
  }
}

type Audit = (
  plan: RotationPlan | undefined,
  action: string,
  extra?: Record<string, unknown>,
) => Promise<void>;

/**
 * Audit records of this run. Each carries an id unique to this run and
 * record, so a local activity that runs again after a lost workflow task
 * writes nothing twice (recordAudit skips a known eventId).
 */
function auditor(input: RotationInput): Audit {
  let seq = 0;
  return (plan, action, extra = {}) => {
    const { workflowId, runId } = workflowInfo();
    return storeUndo.recordAudit(input.credentialId, action, {
      by: input.requestedBy ?? 'unknown',
      reason: input.reason,
      emergency: plan ? plan.emergency !== undefined : input.emergency === true,
      strategy: plan?.strategy,
      fromVersion: plan?.fromVersion,
      toVersion: plan?.toVersion,
      runId,
      workflowId,
      eventId: `${workflowId}/${runId}/${++seq}`,
      ...extra,
    });
  };
}

async function finish(
  t: RotationTracker,
  plan: RotationPlan,
  outcome: Outcome,
  audit: Audit,
  deliver?: ReturnType<typeof deliveryFor>,
): Promise<RotationResult> {
  t.setOutcome(outcome);
  const error = t.status().lastError;
  await CancellationScope.nonCancellable(() => audit(plan, `rotation-${outcome}`, { error }));
  await CancellationScope.nonCancellable(async () => deliver?.announce(`rotation-${outcome}`, error));
  return {
    credentialId: plan.credentialId,
    outcome,
    strategy: plan.strategy,
    fromVersion: plan.fromVersion,
    toVersion: plan.toVersion,
    error,
  };
}
