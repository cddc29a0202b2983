import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { DEFAULT_CONSUMER_EXPIRY_MS } from './shared/constants';
import { consumerHeartbeatSignal } from './shared/messages';
import type { ConsumerHeartbeat, RotationStatus } from './shared/types';

/**
 * The consumers of a running rotation as of now, not as of the workflow's
 * last wake-up. The workflow publishes its status (memo) only when something
 * other than a consumer's lastSeen changes, so heartbeats add no history
 * events; and it marks a consumer gone (silent longer than the expiry,
 * counted from the start of the last wait on consumers) only when it wakes.
 * Through a grace period nothing may wake it, and the memo goes on showing a
 * dead consumer as live. So the reader takes each consumer's last heartbeat
 * from the run's history (its signals, decoded with the client's codec; no
 * query, nothing written) and applies the workflow's own rule
 * (tracker.isGone) with the published plan and migration deadline.
 */
export async function consumersAsOfNow(
  client: Client,
  d: WorkflowExecutionDescription,
  status: RotationStatus,
  nowMs: number = Date.now(),
): Promise<RotationStatus> {
  if (d.status.name !== 'RUNNING' || status.consumers.length === 0) return status;
  const lastHeard = await lastHeartbeats(client, d);
  const expiryMs = status.plan?.consumerExpiryMs ?? DEFAULT_CONSUMER_EXPIRY_MS;
  const deadline = status.migrationDeadline ? Date.parse(status.migrationDeadline) : NaN;
  // waitForConsumers sets the deadline (start + timeout) and the start of the silence count together.
  const silenceFrom = status.plan && !Number.isNaN(deadline) ? deadline - status.plan.migrationTimeoutMs : 0;
  const gone = new Set<string>();
  const consumers = status.consumers.map((c) => {
    const heard = lastHeard.get(c.consumerId);
    const seenMs = Math.max(Date.parse(c.lastSeen), heard?.version === c.version ? heard.atMs : 0);
    const isGone = c.gone === true || nowMs - Math.max(seenMs, silenceFrom) > expiryMs;
    if (isGone) gone.add(c.consumerId);
    const { gone: _was, ...rest } = c;
    return { ...rest, lastSeen: new Date(seenMs).toISOString(), ...(isGone ? { gone: true } : {}) };
  });
  return { ...status, consumers, consumersBehind: status.consumersBehind.filter((id) => !gone.has(id)) };
}

/** Each consumer's last heartbeat signal in the run's history: its version and when it arrived. */
async function lastHeartbeats(
  client: Client,
  d: WorkflowExecutionDescription,
): Promise<Map<string, { version: number; atMs: number }>> {
  const out = new Map<string, { version: number; atMs: number }>();
  const handle = client.workflow.getHandle(d.workflowId, d.runId, { followRuns: false });
  for (const e of (await handle.fetchHistory()).events ?? []) {
    const s = e.workflowExecutionSignaledEventAttributes;
    if (s?.signalName !== consumerHeartbeatSignal.name || !s.input?.payloads?.length) continue;
    const [hb] = (await decodeArrayFromPayloads(client.options.loadedDataConverter, s.input.payloads).catch(
      () => [undefined],
    )) as [Partial<ConsumerHeartbeat> | undefined];
    const atMs = optionalTsToMs(e.eventTime);
    if (typeof hb?.consumerId !== 'string' || typeof hb.version !== 'number' || atMs === undefined) continue;
    out.set(hb.consumerId, { version: hb.version, atMs });
  }
  return out;
}
