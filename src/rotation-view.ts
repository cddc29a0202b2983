import {
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import { CancelledFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/common';
import {
  decodeArrayFromPayloads,
  decodeOptionalFailureToOptionalError,
} from '@temporalio/common/lib/internal-non-workflow';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import type { ReplicateProgress } from './activities/topology';
import { consumersAsOfNow } from './rotation-consumers';
import { rotationWorkflowId } from './shared/constants';
import { describeRootCause } from './shared/error-cause';
import type { Phase, RotationResult, RotationStatus } from './shared/types';

/**
 * What the CLI shows of a credential's latest rotation, read through
 * describe() and the run's close event — never through a query, which a
 * dead sticky worker can turn into corrupted cached state (TS SDK 1.24).
 * The workflow keeps its status in the memo (tracker.publish).
 */
export interface RotationView {
  workflowId: string;
  runId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED, TIMED_OUT, CANCELLED, … */
  execution: string;
  /** The workflow's own status as last published (absent for runs that never published one). */
  status?: RotationStatus;
  phase: Phase | string;
  /** rotated / aborted / rolled-back / failed, or the execution status of a run that ended otherwise. */
  outcome?: string;
  /** Why it did not rotate: error class and message. */
  cause?: string;
  /**
   * Set when the run's workflow task keeps failing (a bug, bad input or a
   * nondeterminism error): the run makes no progress although it shows a phase.
   */
  stuck?: string;
  /**
   * While phase `replicate` waits for nodes: which node is behind and how
   * far, from the running activity's last heartbeat (`at`).
   */
  replicate?: ReplicateProgress & { at?: string };
  /**
   * A step that failed and is being retried (its activity's attempt > 1):
   * "<step>, attempt N: <its last error>". The workflow learns of the
   * failure only when the retries run out, so without this a step retrying
   * for minutes (a node down at revoke) shows a phase and no cause.
   */
  retrying?: string;
}

export async function readRotation(client: Client, credentialId: string): Promise<RotationView> {
  const handle = client.workflow.getHandle(rotationWorkflowId(credentialId));
  const d = await handle.describe();
  const view = viewOf(d, await closeOf(client, d));
  // Best effort: a history this client cannot read leaves the status as published.
  if (view.status) view.status = await consumersAsOfNow(client, d, view.status).catch(() => view.status);
  const replicate = await replicateProgressOf(client, d);
  if (replicate) view.replicate = replicate;
  const retrying = await retryingStepOf(client, d);
  if (retrying) view.retrying = retrying;
  return view;
}

/** The first pending step on a retry, with its last failure (decoded by the client's codec). */
async function retryingStepOf(client: Client, d: WorkflowExecutionDescription): Promise<string | undefined> {
  const pending = d.raw.pendingActivities?.find((a) => (a.attempt ?? 1) > 1 && a.lastFailure);
  if (!pending) return undefined;
  const err = await decodeOptionalFailureToOptionalError(
    client.options.loadedDataConverter,
    pending.lastFailure,
  ).catch(() => undefined);
  const cause = err ? describeRootCause(err) : 'its last error could not be decoded';
  return `${pending.activityType?.name ?? 'a step'}, attempt ${pending.attempt}: ${cause}`;
}

/**
 * The replicate step's progress, read from its pending activity's heartbeat
 * details (encrypted by the codec like every payload; decoded here with the
 * client's data converter). Heartbeats never enter the history, so this
 * shows progress without a workflow change. Undefined when the step is not
 * waiting, or its details are not readable (status then shows the rest).
 */
async function replicateProgressOf(
  client: Client,
  d: WorkflowExecutionDescription,
): Promise<RotationView['replicate']> {
  const pending = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'replicateToNodes');
  const payloads = pending?.heartbeatDetails?.payloads;
  if (!pending || !payloads?.length) return undefined;
  const [details] = await decodeArrayFromPayloads(client.options.loadedDataConverter, payloads).catch(() => [
    undefined,
  ]);
  const p = details as Partial<ReplicateProgress> | undefined;
  if (!p || typeof p.waitingFor !== 'object' || p.waitingFor === null) return undefined;
  // The SDK throttles heartbeats (to 80 % of the 10 s heartbeat timeout), so the node details
  // can be a few seconds old (`at`); how long the attempt has waited is counted up to now.
  const at = optionalTsToMs(pending.lastHeartbeatTime);
  const startedAt = optionalTsToMs(pending.lastStartedTime);
  const waitedMs = Number(p.waitedMs ?? 0);
  return {
    waitingFor: p.waitingFor,
    waitedMs: startedAt === undefined ? waitedMs : Math.max(waitedMs, Date.now() - startedAt),
    timeoutMs: Number(p.timeoutMs ?? 0),
    ...(at !== undefined ? { at: new Date(at).toISOString() } : {}),
  };
}

export function viewOf(d: WorkflowExecutionDescription, close?: Close): RotationView {
  const status = (d.memo?.status ?? undefined) as RotationStatus | undefined;
  const phaseAttr = d.searchAttributes?.RotationPhase;
  const phase = status?.phase ?? (Array.isArray(phaseAttr) ? String(phaseAttr[0]) : 'unknown');
  const view: RotationView = {
    workflowId: d.workflowId,
    runId: d.runId,
    execution: d.status.name,
    status,
    phase,
  };
  const wft = d.raw.pendingWorkflowTask;
  if (d.status.name === 'RUNNING' && wft && (wft.attempt ?? 1) > 1)
    view.stuck = `its workflow task has failed ${(wft.attempt ?? 1) - 1} time(s); the worker log has the error (see README, Troubleshooting: TMPRL1100 / reset)`;
  if (close?.result) {
    view.outcome = close.result.outcome;
    view.cause = close.result.error;
  } else if (close?.cause) {
    view.outcome = d.status.name === 'FAILED' ? 'failed' : d.status.name.toLowerCase().replace('_', '-');
    view.cause = close.cause;
  } else if (status?.needsOperator) {
    view.cause = `${status.needsOperator.step}: ${status.needsOperator.error}`;
  }
  return view;
}

interface Close {
  result?: RotationResult;
  cause?: string;
}

/** The result or failure of a closed run (read from its close event; nothing for a running one). */
async function closeOf(client: Client, d: WorkflowExecutionDescription): Promise<Close | undefined> {
  if (d.status.name === 'RUNNING') return undefined;
  const handle = client.workflow.getHandle(d.workflowId, d.runId, { followRuns: false });
  try {
    return { result: (await handle.result()) as RotationResult };
  } catch (err) {
    return { cause: failureCause(err) };
  }
}

/**
 * Why a run did not complete: terminated, timed out or cancelled as such, else
 * "ErrorType: message" of the innermost cause (decoded by the client's codec).
 */
export function failureCause(err: unknown): string {
  if (err instanceof WorkflowNotFoundError) return 'no such rotation';
  const e: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  if (e instanceof TerminatedFailure) return `terminated: ${e.message || 'no reason given'}`;
  if (e instanceof TimeoutFailure) return `timed out (${String(e.timeoutType)})`;
  if (e instanceof CancelledFailure) return 'cancelled';
  return describeRootCause(e);
}
