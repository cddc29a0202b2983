/**
 * Rotation windows in workflow time, on the time-skipping server: the revoke
 * waits for the next window (across a DST change), an emergency does not,
 * and the schedule/fleet launchers start a rotation only inside a window.
 * Dates are absolute (2027), reached by skipping time from today.
 */
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RotationActivities } from '../../src/shared/activities';
import { rotationWorkflowId } from '../../src/shared/constants';
import type { FleetSummary, LaunchResult, RotationInput, RotationResult } from '../../src/shared/types';
import type { WindowPolicy } from '../../src/shared/windows';
import { createTestWorker, timeSkippingEnv, uniqueTaskQueue } from '../helpers/temporal';
import { fakeActivities, newWorld } from './fake-world';

// One server per test: each starts at today's date (skipped time does not go back).
let env: TestWorkflowEnvironment;
beforeEach(async () => {
  env = await timeSkippingEnv();
});
afterEach(async () => {
  await env?.teardown();
});

/** Fake activities whose preflight hands out `window`, recording the (server) time of each call. */
function activities(window: WindowPolicy | undefined) {
  const world = newWorld();
  const fake = fakeActivities(world);
  const at: Record<string, number> = {};
  const inputs: RotationInput[] = [];
  const when = (name: string) => (at[name] ??= Context.current().info.currentAttemptScheduledTimestampMs);
  const acts: RotationActivities & {
    rotationWindow(id: string): Promise<WindowPolicy | undefined>;
    selectCredentials(): Promise<string[]>;
  } = {
    ...fake,
    async preflight(input) {
      when('preflight');
      inputs.push(input);
      const plan = await fake.preflight(input);
      return {
        ...plan,
        emergency: input.emergency ? { reason: input.reason ?? '' } : undefined,
        window: input.emergency ? undefined : window,
      };
    },
    async countSessions(plan, which) {
      when('countSessions');
      return fake.countSessions(plan, which);
    },
    async revokeOld(plan) {
      when('revokeOld');
      return fake.revokeOld(plan);
    },
    async rotationWindow() {
      return window;
    },
    async selectCredentials() {
      return [`fleet-cred-${Math.random().toString(36).slice(2, 8)}`];
    },
  };
  return { acts, at, inputs, world };
}

function within(ms: number | undefined, iso: string, slackMs = 60_000): void {
  expect(ms, `expected a call at ${iso}`).toBeDefined();
  const target = Date.parse(iso);
  expect(new Date(ms!).toISOString() >= new Date(target).toISOString()).toBe(true);
  expect(ms! - target).toBeLessThan(slackMs);
}

describe('rotation windows (workflow time, time-skipping server)', () => {
  // Daily 09:00-10:00 in Berlin. Grace ends Sat 2027-03-27 ~12:00Z (13:00 CET);
  // Berlin moves to CEST on Sun 2027-03-28, so the next window is 09:00 CEST = 07:00Z.
  const berlin: WindowPolicy = {
    windows: [
      {
        days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
        start: '09:00',
        end: '10:00',
        timeZone: 'Europe/Berlin',
      },
    ],
  };

  async function rotate(window: WindowPolicy | undefined, input: Partial<RotationInput>) {
    const { acts, at } = activities(window);
    const taskQueue = uniqueTaskQueue('win');
    const worker = await createTestWorker(env, { taskQueue, activities: acts });
    const credentialId = `cred-${taskQueue}`;
    const result = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('rotateCredential', {
        args: [{ credentialId, ...input }],
        taskQueue,
        workflowId: rotationWorkflowId(credentialId),
      });
      return (await handle.result()) as RotationResult;
    });
    return { result, at };
  }

  it('revoke waits for the next window, across the spring DST change in Europe/Berlin', async () => {
    const graceMs = Date.parse('2027-03-27T12:00:00Z') - Date.now();
    const { result, at } = await rotate(berlin, { graceMs });
    expect(result.outcome).toBe('rotated');
    within(at.countSessions, '2027-03-28T07:00:00Z'); // 09:00 CEST, not 08:00Z (CET)
    within(at.revokeOld, '2027-03-28T07:00:00Z');
  });

  it('a grace that ends inside a window revokes at once', async () => {
    const graceMs = Date.parse('2027-03-29T07:30:00Z') - Date.now(); // Mon 09:30 CEST
    const { at } = await rotate(berlin, { graceMs });
    within(at.revokeOld, '2027-03-29T07:30:00Z', 120_000);
  });

  it('an emergency revokes at the end of its grace, whatever the window', async () => {
    const graceMs = Date.parse('2027-03-27T12:00:00Z') - Date.now();
    const { at } = await rotate(berlin, { graceMs, emergency: true, reason: 'leaked' });
    within(at.revokeOld, '2027-03-27T12:00:00Z', 120_000);
  });

  // Mondays 09:00-10:00 New York, frozen until Sat 2027-03-13: the first window is
  // Mon 2027-03-15, after New York moved to EDT (2027-03-14) → 13:00Z, not 14:00Z.
  const newYork: WindowPolicy = {
    windows: [{ days: ['mon'], start: '09:00', end: '10:00', timeZone: 'America/New_York' }],
    freezes: [{ from: '2026-01-01T00:00:00Z', to: '2027-03-13T00:00:00Z', reason: 'test' }],
  };

  it('the schedule launcher starts the rotation only inside the window (freeze, then DST in New York)', async () => {
    const { acts, at, inputs } = activities(newYork);
    const taskQueue = uniqueTaskQueue('win-sched');
    const worker = await createTestWorker(env, { taskQueue, activities: acts });
    const credentialId = `cred-${taskQueue}`;
    const result = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('scheduledRotation', {
        args: [{ credentialId, graceMs: 0, requestedBy: 'schedule' }],
        taskQueue,
        workflowId: `scheduled-rotation/${credentialId}`,
      });
      return (await handle.result()) as LaunchResult;
    });
    expect(result.outcome).toBe('rotated');
    within(at.preflight, '2027-03-15T13:00:00Z');
    expect(inputs[0]?.outsideWindow).toBe('launcher-waited');
    // the revoke, right after a zero grace, is inside the same window
    within(at.revokeOld, '2027-03-15T13:00:00Z');
  });

  it.each([false, true])(
    'a fleet rotation waits for its window unless it is an emergency (emergency: %s)',
    async (emergency) => {
      {
        const { acts, at } = activities(newYork);
        const taskQueue = uniqueTaskQueue('win-fleet');
        const worker = await createTestWorker(env, { taskQueue, activities: acts });
        const started = Date.now();
        const summary = await worker.runUntil(async () => {
          const handle = await env.client.workflow.start('rotateFleet', {
            args: [{ selector: {}, rotation: { graceMs: 0, emergency, reason: 'test' } }],
            taskQueue,
            workflowId: `fleet/${taskQueue}`,
          });
          return (await handle.result()) as FleetSummary;
        });
        expect(summary.rotated).toHaveLength(1);
        if (emergency) expect(at.preflight! - started).toBeLessThan(5 * 60_000);
        else within(at.preflight, '2027-03-15T13:00:00Z');
      }
    },
  );
});
