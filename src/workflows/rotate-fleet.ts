import {
  ApplicationFailure,
  ParentClosePolicy,
  continueAsNew,
  defineQuery,
  executeChild,
  proxyActivities,
  setHandler,
  startChild,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { FleetActivities } from '../shared/fleet-activities';
import { rotationWorkflowId } from '../shared/constants';
import type { FleetInput, FleetSummary, LaunchResult, RotationInput, RotationResult } from '../shared/types';
import type { rotateCredential } from './rotate-credential';
import { waitForStartWindow } from './windows';

const { selectCredentials } = proxyActivities<FleetActivities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['UnknownCredentialError', 'ConfigError'] },
});

/** Rotations started per run before continuing as new, to keep each history small. */
const ROTATIONS_PER_RUN = 100;

export const fleetProgressQuery = defineQuery<FleetSummary & { remaining: number; running: string[] }>(
  'fleetProgress',
);

/**
 * Rotates many credentials as child workflows, at most `concurrency` at a
 * time. One failure never stops the others; the result is a summary.
 * Children are abandoned on close so a fleet cancel never cuts a rotation
 * in half (each rotation has its own abort/rollback).
 */
export async function rotateFleet(input: FleetInput): Promise<FleetSummary> {
  const remaining = input.remaining ?? (await selectCredentials(input.selector));
  const summary: FleetSummary = input.summary ?? {
    total: remaining.length,
    rotated: [],
    rolledBack: [],
    aborted: [],
    failed: [],
    skipped: [],
  };
  const running = new Set<string>();
  setHandler(fleetProgressQuery, () => ({ ...summary, remaining: remaining.length, running: [...running] }));

  const thisRun = remaining.splice(0, ROTATIONS_PER_RUN);
  const concurrency = Math.max(1, input.concurrency ?? 5);
  const lanes = Array.from({ length: Math.min(concurrency, thisRun.length) }, async () => {
    for (let id = thisRun.shift(); id !== undefined; id = thisRun.shift()) {
      running.add(id);
      record(summary, id, await rotateOne({ ...input.rotation, credentialId: id, requestedBy: 'fleet' }));
      running.delete(id);
    }
  });
  await Promise.all(lanes);

  if (remaining.length > 0) await continueAsNew<typeof rotateFleet>({ ...input, remaining, summary });
  return summary;
}

async function rotateOne(
  input: RotationInput,
): Promise<LaunchResult | { credentialId: string; outcome: 'error'; error: string }> {
  try {
    return await executeChild<typeof rotateCredential>('rotateCredential', {
      workflowId: rotationWorkflowId(input.credentialId),
      args: [await waitForStartWindow(input)],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return {
        credentialId: input.credentialId,
        outcome: 'skipped',
        reason: 'a rotation is already running',
      };
    }
    return { credentialId: input.credentialId, outcome: 'error', error: rootMessage(err) };
  }
}

function record(summary: FleetSummary, id: string, r: Awaited<ReturnType<typeof rotateOne>>): void {
  switch (r.outcome) {
    case 'rotated':
      summary.rotated.push(id);
      break;
    case 'rolled-back':
      summary.rolledBack.push(id);
      break;
    case 'aborted':
      summary.aborted.push(id);
      break;
    case 'skipped':
      summary.skipped.push({ credentialId: id, reason: r.reason });
      break;
    case 'failed':
      summary.failed.push({ credentialId: id, error: r.error ?? 'failed' });
      break;
    case 'error':
      summary.failed.push({ credentialId: id, error: r.error });
      break;
  }
}

function rootMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && (e as { cause?: unknown }).cause instanceof Error)
    e = (e as { cause?: unknown }).cause;
  if (e instanceof ApplicationFailure && e.type) return `${e.type}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
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
    handle = await startChild<typeof rotateCredential>('rotateCredential', {
      workflowId: rotationWorkflowId(input.credentialId),
      args: [{ ...started, requestedBy: input.requestedBy ?? 'schedule' }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
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
