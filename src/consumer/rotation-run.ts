import { defaultPayloadConverter, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { RotationStatus } from '../shared/types';

/** The running rotation as a heartbeat sender sees it (describe, never a query). */
export interface RunningRun {
  runId: string;
  phase?: string;
  /** The run's published status lists this consumer at this version (false when the memo is unreadable). */
  listsUs: boolean;
}

/**
 * The running run of `workflowId`: run id, phase and whether its memo lists
 * `consumerId` at `version`. describe() adds nothing to history and, unlike a
 * query, never reaches a worker.
 *
 * The memo is encrypted by the payload codec; a client without the memo's
 * key (no codec, or a codec key rotation it has not caught up with) cannot
 * decode it, and describe() then throws for the whole answer. Run id, state
 * and the RotationPhase search attribute are not encrypted, so they are read
 * from the raw answer instead: enough to report once per run and version
 * rather than every period.
 */
export async function describeRunningRun(
  client: Pick<Client, 'workflow'>,
  workflowId: string,
  consumerId: string,
  version: number,
): Promise<RunningRun | 'no-rotation'> {
  const handle = client.workflow.getHandle(workflowId);
  let d: Awaited<ReturnType<typeof handle.describe>>;
  try {
    d = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'no-rotation';
    return describeRaw(client, workflowId, err);
  }
  if (d.status.name !== 'RUNNING') return 'no-rotation';
  const status = d.memo?.status as RotationStatus | undefined;
  const phaseAttr = d.searchAttributes?.RotationPhase;
  return {
    runId: d.runId,
    phase: status?.phase ?? (Array.isArray(phaseAttr) ? String(phaseAttr[0]) : undefined),
    listsUs: (status?.consumers ?? []).some((c) => c.consumerId === consumerId && c.version === version),
  };
}

/** RUNNING in temporal.api.enums.v1.WorkflowExecutionStatus. */
const STATUS_RUNNING = 1;

async function describeRaw(
  client: Pick<Client, 'workflow'>,
  workflowId: string,
  firstError: unknown,
): Promise<RunningRun | 'no-rotation'> {
  const wf = client.workflow as Partial<Client['workflow']>;
  // A stand-in client without the raw service: the first error stands.
  if (!wf.workflowService || !wf.options) throw firstError;
  const raw = await wf.workflowService.describeWorkflowExecution({
    namespace: wf.options.namespace,
    execution: { workflowId },
  });
  const info = raw.workflowExecutionInfo;
  if (!info?.execution?.runId) throw firstError;
  if (info.status !== STATUS_RUNNING) return 'no-rotation';
  const phasePayload = info.searchAttributes?.indexedFields?.RotationPhase;
  let phase: string | undefined;
  try {
    const v: unknown = phasePayload ? defaultPayloadConverter.fromPayload(phasePayload) : undefined;
    phase = Array.isArray(v) ? String(v[0]) : typeof v === 'string' ? v : undefined;
  } catch {
    phase = undefined;
  }
  return { runId: info.execution.runId, phase, listsUs: false };
}

/**
 * While the rotation waits on its consumers (migrate, rollback) a consumer
 * silent for a few periods counts as gone, so reports go every period then;
 * otherwise one report per version per run is enough.
 */
export function waitsOnConsumers(run: RunningRun): boolean {
  return run.phase === 'migrate' || run.phase === 'rollback';
}
