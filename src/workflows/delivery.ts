import {
  ActivityCancellationType,
  log,
  patched,
  proxyActivities,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { DeliveryActivities } from '../shared/activities';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/constants';
import type { RotationPlan } from '../shared/types';

const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
};
const common = {
  startToCloseTimeout: '2m',
  heartbeatTimeout: '10s',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
} as const;

// Before promote: a target that keeps failing fails the step, and the rotation compensates.
const beforePromote = proxyActivities<DeliveryActivities>({
  ...common,
  retry: { ...retry, maximumAttempts: 5 },
});

// After promote (and in compensation) there is no undo: retry long, bounded.
// ISSUE 11 (needs-operator parking): when these attempts run out, the rotation must park
// as "needs operator" (and deliverEvent(plan, 'needs-operator')) instead of failing the run.
const afterPromote = proxyActivities<DeliveryActivities>({
  ...common,
  retry: { ...retry, maximumAttempts: 20, maximumInterval: '1m' },
});

/**
 * The rotation's calls to its delivery targets (src/activities/delivery.ts).
 * No-ops for a credential without targets, and for histories recorded before
 * delivery existed (patch "delivery-targets"), so those replay unchanged.
 */
export function deliveryFor(plan: RotationPlan) {
  const on = (plan.targets?.length ?? 0) > 0 && patched('delivery-targets');
  return {
    /** After verify. Registers the restore compensation first (last in line: after the login is dropped). */
    async pending(undoSteps: Array<() => Promise<void>>): Promise<void> {
      if (!on) return;
      undoSteps.push(() => afterPromote.deliverRestore(plan));
      await beforePromote.deliverPending(plan);
    },
    /** At promote, after the store's promote; a failure here still compensates (demote + restore). */
    async current(): Promise<void> {
      if (on) await beforePromote.deliverCurrent(plan);
    },
    /** Rollback: the old version back on every target, right after the store's demote. */
    async restore(): Promise<void> {
      if (on) await afterPromote.deliverRestore(plan);
    },
    /** Revoke: after the old login is gone. */
    async removeOld(): Promise<void> {
      if (on) await afterPromote.deliverRemoveOld(plan);
    },
    /** A failed rotation is announced; a listener that cannot be reached does not change the outcome. */
    async failed(detail: string | undefined): Promise<void> {
      if (!on) return;
      try {
        await afterPromote.deliverEvent(plan, 'failed', detail);
      } catch (err) {
        log.warn('delivery: the failed event could not be sent', { error: String(err) });
      }
    },
  };
}
