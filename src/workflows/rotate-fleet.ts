import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  continueAsNew,
  defineQuery,
  executeChild,
  isCancellation,
  proxyActivities,
  setHandler,
  startChild,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { FleetActivities } from '../shared/fleet-activities';
import { NON_RETRYABLE_ERROR_TYPES, rotationWorkflowId } from '../shared/constants';
import { describeRootCause } from '../shared/error-cause';
import type { FleetInput, FleetSummary, LaunchResult, RotationInput, RotationResult } from '../shared/types';
import { rotateCredential } from './rotate-credential';
import { waitForStartWindow } from './windows';

const { selectCredentials } = proxyActivities<FleetActivities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
});

/** Rotations started per run before continuing as new, to keep each history small. */
const ROTATIONS_PER_RUN = 100;
/** Ids named per list of the summary; the counts cover the rest. */
export const FLEET_LISTED_MAX = 100;

export const fleetProgressQuery = defineQuery<FleetSummary & { remaining: number; running: string[] }>(
  'fleetProgress',
);

/**
 * Rotates many credentials as child workflows, at most `concurrency` at a
 * time. One failure never stops the others; the result is a summary.
 * Cancelling the fleet stops it launching and ends it with a summary that
 * says so; rotations already running are abandoned, never cancelled (a
 * cancelled rotation rolls back): each has its own abort/rollback.
 */
export async function rotateFleet(input: FleetInput): Promise<FleetSummary> {
  const summary: FleetSummary = { ...emptySummary(0), ...input.summary };
  summary.counts = { ...emptySummary(0).counts, ...input.summary?.counts };
  let remaining: string[] = input.remaining ?? [];
  const running = new Set<string>();
  setHandler(fleetProgressQuery, () => ({ ...summary, remaining: remaining.length, running: [...running] }));

  if (!input.remaining) {
    try {
      remaining = await selectCredentials(input.selector);
    } catch (err) {
      if (!isCancellation(err)) throw err;
      summary.cancelled = true;
      return summary;
    }
    summary.total = remaining.length;
  }

  const thisRun = remaining.splice(0, ROTATIONS_PER_RUN);
  const concurrency = Math.max(1, input.concurrency ?? 5);
  const lanes = Array.from({ length: Math.min(concurrency, thisRun.length) }, async () => {
    while (!summary.cancelled && thisRun.length > 0) {
      if (CancellationScope.current().consideredCancelled) {
        summary.cancelled = true;
        break;
      }
      const id = thisRun.shift()!;
      running.add(id);
      try {
        record(summary, id, await rotateOne({ ...input.rotation, credentialId: id, requestedBy: 'fleet' }));
      } catch (err) {
        if (!isCancellation(err)) throw err;
        summary.cancelled = true;
        summary.counts.leftRunning++;
        listed(summary.leftRunning, id);
      } finally {
        running.delete(id);
      }
    }
  });
  await Promise.all(lanes);

  if (summary.cancelled) {
    summary.counts.notStarted += thisRun.length + remaining.length;
    return summary;
  }
  if (remaining.length > 0) await continueAsNew<typeof rotateFleet>({ ...input, remaining, summary });
  return summary;
}

function emptySummary(total: number): FleetSummary {
  return {
    total,
    counts: { rotated: 0, rolledBack: 0, aborted: 0, failed: 0, skipped: 0, leftRunning: 0, notStarted: 0 },
    rotated: [],
    rolledBack: [],
    aborted: [],
    failed: [],
    skipped: [],
    leftRunning: [],
  };
}

function listed<T>(list: T[], item: T): void {
  if (list.length < FLEET_LISTED_MAX) list.push(item);
}

type OneResult = LaunchResult | { credentialId: string; outcome: 'error'; error: string };

/** One rotation as a child; a fleet cancel abandons it (rethrown as a cancellation), never cancels it. */
async function rotateOne(input: RotationInput): Promise<OneResult> {
  try {
    return await executeChild(rotateCredential, {
      workflowId: rotationWorkflowId(input.credentialId),
      args: [await waitForStartWindow(input)],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      cancellationType: ChildWorkflowCancellationType.ABANDON,
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return {
        credentialId: input.credentialId,
        outcome: 'skipped',
        reason: 'a rotation is already running',
      };
    }
    return { credentialId: input.credentialId, outcome: 'error', error: describeRootCause(err) };
  }
}

function record(summary: FleetSummary, id: string, r: OneResult): void {
  switch (r.outcome) {
    case 'rotated':
      summary.counts.rotated++;
      return listed(summary.rotated, id);
    case 'rolled-back':
      summary.counts.rolledBack++;
      return listed(summary.rolledBack, id);
    case 'aborted':
      summary.counts.aborted++;
      return listed(summary.aborted, id);
    case 'skipped':
      summary.counts.skipped++;
      return listed(summary.skipped, { credentialId: id, reason: r.reason });
    case 'failed':
      summary.counts.failed++;
      return listed(summary.failed, { credentialId: id, error: r.error ?? 'failed' });
    case 'error':
      summary.counts.failed++;
      return listed(summary.failed, { credentialId: id, error: r.error });
  }
}

/**
 * What a Temporal Schedule runs. Scheduled runs get timestamped workflow
 * ids, so this thin launcher starts the fixed-id rotation of the credential
 * (never a second one: a running manual rotation makes it skip) and waits
 * for it, so the schedule's pause-on-failure sees a failed rotation.
 */
export async function scheduledRotation(input: RotationInput): Promise<LaunchResult> {
  let handle;
  const started = await waitForStartWindow(input);
  try {
    handle = await startChild(rotateCredential, {
      workflowId: rotationWorkflowId(input.credentialId),
      args: [{ ...started, requestedBy: input.requestedBy ?? 'schedule' }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      cancellationType: ChildWorkflowCancellationType.ABANDON,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return {
        credentialId: input.credentialId,
        outcome: 'skipped',
        reason: 'a rotation is already running',
      };
    }
    throw err;
  }
  const result: RotationResult = await handle.result();
  if (result.outcome === 'failed') {
    throw ApplicationFailure.nonRetryable(
      `rotation of ${input.credentialId} failed: ${result.error ?? ''}`,
      'RotationFailed',
    );
  }
  return result;
}
