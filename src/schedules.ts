import { ScheduleOverlapPolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import type { RotatorConfig } from './config';
import type { FleetInput, RotationInput } from './shared/types';

const DAY_MS = 24 * 60 * 60 * 1000;

export function rotationScheduleId(credentialId: string): string {
  return `rotation-schedule/${credentialId}`;
}

export interface RotationScheduleOptions {
  everyDays?: number;
  /** Random delay added to each run so a fleet does not rotate all at once. */
  jitterMs?: number;
  rotation?: Omit<RotationInput, 'credentialId'>;
  paused?: boolean;
}

/**
 * Periodic rotation of one credential (default every 90 days with up to one
 * day of jitter). The action is the thin `scheduledRotation` launcher: it
 * starts the fixed-id rotation, so a schedule and a manual start can never
 * run two rotations of one credential. Overlap SKIP: a run that is still in
 * grace makes the next tick skip. A failed rotation pauses the schedule.
 */
export async function createRotationSchedule(
  client: Client,
  cfg: RotatorConfig,
  credentialId: string,
  opts: RotationScheduleOptions = {},
) {
  const everyDays = opts.everyDays ?? 90;
  return client.schedule.create({
    scheduleId: rotationScheduleId(credentialId),
    spec: { intervals: [{ every: everyDays * DAY_MS }], jitter: opts.jitterMs ?? DAY_MS },
    action: {
      type: 'startWorkflow',
      workflowType: 'scheduledRotation',
      args: [{ ...opts.rotation, credentialId, requestedBy: 'schedule' }],
      taskQueue: cfg.temporal.taskQueue,
      workflowId: `scheduled-rotation/${credentialId}`,
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, pauseOnFailure: true, catchupWindow: DAY_MS },
    state: { paused: opts.paused ?? false, note: `rotate ${credentialId} every ${everyDays} days` },
  });
}

/** Daily sweep that rotates every credential whose expiry date is near. */
export async function createExpirySweepSchedule(client: Client, cfg: RotatorConfig, withinDays = 14) {
  const input: FleetInput = { selector: { expiringWithinDays: withinDays }, concurrency: 5 };
  return client.schedule.create({
    scheduleId: 'rotation-schedule/expiry-sweep',
    spec: { intervals: [{ every: DAY_MS }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'rotateFleet',
      args: [input],
      taskQueue: cfg.temporal.taskQueue,
      workflowId: 'fleet/expiry-sweep',
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
    state: { note: `rotate credentials expiring within ${withinDays} days` },
  });
}

export function describeScheduleLine(id: string, d: ScheduleDescription): string {
  const next = d.info.nextActionTimes[0]?.toISOString() ?? '-';
  return `${id}\t${d.state.paused ? 'paused' : 'active'}\tnext ${next}\t${d.state.note ?? ''}`;
}
