import { ScheduleOverlapPolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import type { RotatorConfig } from './config';
import { ConfigError } from './errors';
import type { FleetInput, RotationInput } from './shared/types';
import type { CredentialStore } from './store/types';
// By function reference: the compiler checks each schedule's arguments against the workflow.
import { rotateFleet, scheduledRotation } from './workflows/rotate-fleet';

const DAY_MS = 24 * 60 * 60 * 1000;

export function rotationScheduleId(credentialId: string): string {
  return `rotation-schedule/${credentialId}`;
}

export interface RotationScheduleOptions {
  everyDays?: number;
  /**
   * When the first run is due (see firstRunAt); the interval is phased so that
   * runs fall on it and every `everyDays` after it. Absent: aligned to the
   * Unix epoch (Temporal's default), i.e. anywhere in the first period.
   */
  firstRunAt?: Date;
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
  const everyMs = everyDays * DAY_MS;
  const offset = opts.firstRunAt ? intervalOffsetMs(opts.firstRunAt, everyMs) : 0;
  const first = opts.firstRunAt ? `, first run ${opts.firstRunAt.toISOString()}` : '';
  return client.schedule.create({
    scheduleId: rotationScheduleId(credentialId),
    // startAt too: the phase also lands one period earlier (the last rotation itself).
    spec: {
      intervals: [{ every: everyMs, offset }],
      jitter: opts.jitterMs ?? DAY_MS,
      startAt: opts.firstRunAt,
    },
    action: {
      type: 'startWorkflow',
      workflowType: scheduledRotation,
      args: [{ ...opts.rotation, credentialId, requestedBy: 'schedule' }],
      taskQueue: cfg.temporal.taskQueue,
      workflowId: `scheduled-rotation/${credentialId}`,
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, pauseOnFailure: true, catchupWindow: DAY_MS },
    state: { paused: opts.paused ?? false, note: `rotate ${credentialId} every ${everyDays} days${first}` },
  });
}

/** How long an overdue credential waits for its first scheduled run (one minute). */
const OVERDUE_DELAY_MS = 60_000;

/**
 * The first run of an "every N days" schedule: N days after the credential's
 * last rotation (or import), or in a minute when that is already past
 * (overdue). Whole seconds, as schedule specs have no finer resolution.
 */
export function firstRunAt(lastRotatedAt: Date, everyDays: number, now: Date = new Date()): Date {
  const due = lastRotatedAt.getTime() + everyDays * DAY_MS;
  const at = due > now.getTime() ? due : now.getTime() + OVERDUE_DELAY_MS;
  return new Date(Math.ceil(at / 1000) * 1000);
}

/** Temporal interval runs fall on epoch + k·every + offset: the offset that puts one on `at`. */
export function intervalOffsetMs(at: Date, everyMs: number): number {
  return ((at.getTime() % everyMs) + everyMs) % everyMs;
}

/** When the credential's CURRENT version became current (rotation promote or import). */
export async function lastRotatedAt(store: CredentialStore, credentialId: string): Promise<Date> {
  const current = await store.getVersion(credentialId, 'CURRENT');
  if (!current) throw new ConfigError(`credential "${credentialId}" has no CURRENT version: import it first`);
  return new Date(current.updatedAt);
}

/** Daily sweep that rotates every credential whose expiry date is near. */
export async function createExpirySweepSchedule(client: Client, cfg: RotatorConfig, withinDays = 14) {
  const input: FleetInput = { selector: { expiringWithinDays: withinDays }, concurrency: 5 };
  return client.schedule.create({
    scheduleId: 'rotation-schedule/expiry-sweep',
    spec: { intervals: [{ every: DAY_MS }] },
    action: {
      type: 'startWorkflow',
      workflowType: rotateFleet,
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
  const jitterMs = d.spec.jitter === undefined ? 0 : Number(d.spec.jitter);
  const jitter = jitterMs > 0 ? ` (+ up to ${Math.round(jitterMs / 3_600_000)}h jitter)` : '';
  return `${id}\t${d.state.paused ? 'paused' : 'active'}\tnext run ${next}${jitter}\t${d.state.note ?? ''}`;
}
