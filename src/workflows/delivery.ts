import { log, patched, proxyActivities } from '@temporalio/workflow';
import type { DeliveryActivities } from '../shared/activities';
import { describeRootCause } from '../shared/error-cause';
import type { RotationPlan } from '../shared/types';
import { cancellationType, heartbeatTimeout, retry } from './activity-options';

const common = { startToCloseTimeout: '2m', heartbeatTimeout, cancellationType } as const;

// Before promote: a target that keeps failing fails the step, and the rotation compensates.
const beforePromote = proxyActivities<DeliveryActivities>({
  ...common,
  retry: { ...retry, maximumAttempts: 5 },
});

// After promote and in compensation there is no undo: retry long, bounded; the caller wraps
// these in untilDone, so when the attempts run out the rotation parks as needs-operator.
const afterPromote = proxyActivities<DeliveryActivities>({
  ...common,
  retry: { ...retry, maximumAttempts: 20, maximumInterval: '1m' },
});

// Announcements only (failed, needs-operator): a few tries, never in the way of the outcome.
const announce = proxyActivities<DeliveryActivities>({ ...common, retry: { ...retry, maximumAttempts: 3 } });

/**
 * The rotation's calls to its delivery targets (src/activities/delivery.ts).
 * No-ops for a credential without targets, and for histories recorded before
 * delivery existed (patch "delivery-targets"), so those replay unchanged.
 * Every target call is idempotent and converges to the store's state, so
 * calling restore twice (rollback start and end) is safe and intended.
 */
export function deliveryFor(plan: RotationPlan) {
  const on = (plan.targets?.length ?? 0) > 0 && patched('delivery-targets');
  let published = false;
  return {
    /** After verify: PENDING where a target has that notion. */
    async pending(): Promise<void> {
      if (!on) return;
      published = true; // before the call: a half-done publish is restored too
      await beforePromote.deliverPending(plan);
    },
    /** At promote, after the store's promote; a failure here still compensates. */
    async current(): Promise<void> {
      if (on) await beforePromote.deliverCurrent(plan);
    },
    /** Compensation/rollback: the old version back on every target (only if anything was published). */
    async restore(): Promise<void> {
      if (on && published) await afterPromote.deliverRestore(plan);
    },
    /** Revoke: after the old login is gone. */
    async removeOld(): Promise<void> {
      if (on) await afterPromote.deliverRemoveOld(plan);
    },
    /** Audit actions that are lifecycle events for listeners (webhooks); failures are logged, not raised. */
    async announce(action: string, detail: unknown): Promise<void> {
      const event =
        action === 'rotation-needs-operator'
          ? 'needs-operator'
          : action === 'rotation-failed'
            ? 'failed'
            : undefined;
      if (!on || !event) return;
      try {
        await announce.deliverEvent(plan, event, typeof detail === 'string' ? detail : undefined);
      } catch (err) {
        log.warn('delivery: event could not be sent', { event, error: describeRootCause(err) });
      }
    },
  };
}

export type Delivery = ReturnType<typeof deliveryFor>;
