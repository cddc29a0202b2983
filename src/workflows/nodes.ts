import { patched, proxyActivities } from '@temporalio/workflow';
import type { RotationActivities } from '../shared/activities';
import type { RotationPlan } from '../shared/types';
import { cancellationType, heartbeatTimeout, retry } from './activity-options';
import type { RotationTracker } from './tracker';

/**
 * The replicate step (issue 13), between verify and promote: when the
 * definition lists nodes (replicas, readers), wait until every node has the
 * change and the pending login works there. Its failure (a node down or
 * behind at the plan's bound) is a failure before promote: the rotation is
 * undone. Plans without nodes, and histories recorded before this step
 * existed (patch 'replicate-to-nodes'), skip it.
 */
export async function replicateToNodes(t: RotationTracker, plan: RotationPlan): Promise<void> {
  if (!plan.nodes?.length || !patched('replicate-to-nodes')) return;
  // The activity itself waits up to the bound (heartbeating), then verifies on each node.
  const steps = proxyActivities<RotationActivities>({
    startToCloseTimeout: (plan.nodeSyncTimeoutMs ?? 60_000) + 120_000,
    heartbeatTimeout,
    cancellationType,
    retry: { ...retry, maximumAttempts: 3 },
  });
  await t.phase('replicate', () => steps.replicateToNodes(plan));
}
