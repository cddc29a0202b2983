import { patched, proxyActivities, sleep } from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/constants';
import type { RotationInput, RotationPlan } from '../shared/types';
import type { WindowActivities } from '../shared/window-activities';
import { nextAllowedStart, type WindowPolicy } from '../shared/windows';

const { rotationWindow } = proxyActivities<WindowActivities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES] },
});

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A durable sleep until the policy's next window, computed from workflow
 * time (deterministic: the time of the workflow task). Always one timer when
 * there are rules (1 ms when the window is open), so the commands of a run do
 * not depend on where in the window it reaches revoke. No window within the
 * horizon (a very long freeze): look again daily.
 */
async function sleepUntilWindow(window: WindowPolicy): Promise<void> {
  for (;;) {
    const now = Date.now();
    const next = nextAllowedStart(window, new Date(now));
    await sleep(next ? Math.max(1, next.getTime() - now) : DAY_MS);
    if (next) return;
  }
}

/** Before revoke: the old credential goes only inside a window (emergencies do not wait). */
export async function waitForRevokeWindow(plan: RotationPlan): Promise<void> {
  if (!plan.window || plan.emergency || !patched('revoke-window')) return;
  await sleepUntilWindow(plan.window);
}

/**
 * Schedule and fleet launchers: wait for the credential's window before
 * starting its rotation, and tell preflight so (its wall-clock check could
 * disagree by the clock skew between worker and server).
 */
export async function waitForStartWindow(input: RotationInput): Promise<RotationInput> {
  if (input.emergency || !patched('start-window')) return input;
  const window = await rotationWindow(input.credentialId);
  if (!window) return input;
  await sleepUntilWindow(window);
  return { ...input, outsideWindow: 'launcher-waited' };
}
