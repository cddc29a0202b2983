/**
 * The rotation tracker (src/workflows/tracker.ts) seen through the workflow on the time-skipping
 * server: what operators and dashboards read (status, result errors) and what operator requests
 * change (grace deadline, early finish, abort/rollback, resolve). Each test uses inputs that tell
 * right from wrong: a grace that would also end on its own is checked to end when it should.
 */
import { describe, expect, it, vi } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import * as msg from '../../src/shared/messages';
import type { OperatorRequest } from '../../src/shared/operator-requests';
import type { Outcome, Phase, RotationInput, RotationResult, RotationStatus } from '../../src/shared/types';
import { fakeActivities, newWorld, snapshot, type FakeActivity, type FakeOptions } from './fake-world';
import { createTestWorker, runtimeMetricsUrl, uniqueTaskQueue } from '../helpers/temporal';
import { rotationWorkflowId } from '../../src/shared/constants';
import { parkedOrDone, parseMetrics, rotateOn, useTimeSkippingEnv, waitForPhase } from './time-skipping-run';

const ts = useTimeSkippingEnv();

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Runs a rotation; `drive` acts while it runs; returns the result and the status after it ended. */
async function rotateAndStatus(
  opts: FakeOptions,
  input: Partial<RotationInput>,
  drive: (h: WorkflowHandle) => Promise<void>,
): Promise<{ result: RotationResult; status: RotationStatus }> {
  let status!: RotationStatus;
  const result = await rotateOn(ts.env, newWorld(), opts, input, async (h) => {
    await drive(h);
    await h.result();
    status = await h.query(msg.statusQuery);
  });
  return { result, status };
}

/** `ms` is `expected` give or take the few ms a timer fires late (a minute is far from any mutant's result). */
function expectAbout(ms: number, expected: number): void {
  expect(ms).toBeGreaterThanOrEqual(expected);
  expect(ms).toBeLessThan(expected + 60_000);
}

/** The samples of the runtime's /metrics that belong to `credential`'s run (its task queue label). */
async function scrapeFor(credential: string) {
  const url = runtimeMetricsUrl();
  expect(url, 'the helpers install the runtime with a metrics endpoint').toBeDefined();
  const taskQueue = credential.replace(/^cred-/, ''); // the credential id is cred-<task queue>
  return parseMetrics(await (await fetch(url!)).text()).filter((s) => s.labels.taskQueue === taskQueue);
}

/** A per-credential gauge's value, undefined while never set. */
async function gaugeOf(credential: string, name: string): Promise<number | undefined> {
  return (await scrapeFor(credential)).find((s) => s.name === name && s.labels.credential === credential)
    ?.value;
}

/** The credential id of a run (its workflow id is rotate/<credential id>). */
const credentialOf = (h: WorkflowHandle) => h.workflowId.replace(/^rotate\//, '');

/** A rotation straight into migrate (no grace) whose consumers expire after 10 silent minutes. */
const migrateWithExpiry = (drive: (h: WorkflowHandle) => Promise<void>) =>
  rotateOn(
    ts.env,
    newWorld(),
    {},
    { graceMs: 0, migrationTimeoutMs: DAY_MS, consumerExpiryMs: 10 * 60_000 },
    drive,
  );

/** How long the grace phase lasted (workflow time). */
function graceLength(status: RotationStatus): number {
  const grace = status.phases.find((p) => p.phase === 'grace')!;
  return Date.parse(grace.endedAt!) - Date.parse(grace.startedAt);
}

describe('rotation tracker (through the workflow, time-skipping server)', () => {
  it('finish-grace ends a one-day grace at once, and the run still rotates', async () => {
    const { result, status } = await rotateAndStatus({}, { graceMs: DAY_MS }, async (h) => {
      await waitForPhase(h, 'grace');
      // The reply tells the operator what happened.
      expect(await h.executeUpdate(msg.finishGraceUpdate, { args: [{}] })).toMatchObject({
        phase: 'grace',
        accepted: 'grace ends now',
      });
    });
    expect(result.outcome).toBe('rotated');
    expect(result.error).toBeUndefined();
    expect(graceLength(status)).toBeLessThan(60_000);
    expect(status.phase).toBe('done');
    expect(status.outcome).toBe('rotated');
  });

  it('an extension during grace re-arms the timer: the grace lasts its length plus the extension', async () => {
    const { result, status } = await rotateAndStatus({}, { graceMs: HOUR_MS }, async (h) => {
      await waitForPhase(h, 'grace');
      const reply = await h.executeUpdate(msg.extendGraceUpdate, { args: [{ byMs: 2 * HOUR_MS }] });
      expect(reply).toMatchObject({ phase: 'grace', accepted: `grace extended by ${2 * HOUR_MS} ms` });
      expect(reply.graceDeadline).toBe((await h.query(msg.statusQuery)).graceDeadline);
    });
    expect(result.outcome).toBe('rotated');
    const grace = status.phases.find((p) => p.phase === 'grace')!;
    expect(Date.parse(status.graceDeadline!) - Date.parse(grace.startedAt)).toBe(3 * HOUR_MS);
    expectAbout(graceLength(status), 3 * HOUR_MS);
  });

  it('extensions asked for before grace add up and lengthen the grace to come', async () => {
    const { result, status } = await rotateAndStatus(
      {},
      { graceMs: HOUR_MS, migrationTimeoutMs: DAY_MS },
      async (h) => {
        await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'api-1', version: 1 });
        await waitForPhase(h, 'migrate');
        const s = await h.query(msg.statusQuery);
        const migrate = s.phases.find((p) => p.phase === 'migrate')!;
        expect(Date.parse(s.migrationDeadline!) - Date.parse(migrate.startedAt)).toBe(DAY_MS);
        await h.executeUpdate(msg.extendGraceUpdate, { args: [{ byMs: 2 * HOUR_MS }] });
        await h.executeUpdate(msg.extendGraceUpdate, { args: [{ byMs: HOUR_MS / 2 }] });
        expect((await h.query(msg.statusQuery)).graceDeadline).toBeUndefined();
        await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'api-1', version: 2 });
      },
    );
    expect(result.outcome).toBe('rotated');
    expectAbout(graceLength(status), 3.5 * HOUR_MS);
  });

  it('status lists each consumer with its version and last report; one silent past the expiry is gone', async () => {
    await rotateOn(ts.env, newWorld(), {}, { graceMs: DAY_MS, consumerExpiryMs: 60_000 }, async (h) => {
      await waitForPhase(h, 'grace');
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'api-new', version: 2 });
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'api-old', version: 1 });
      let s = await h.query(msg.statusQuery);
      expect(s.consumers).toEqual([
        { consumerId: 'api-new', version: 2, lastSeen: expect.any(String) },
        { consumerId: 'api-old', version: 1, lastSeen: expect.any(String) },
      ]);
      const heard = Date.parse(s.consumers[1]!.lastSeen);
      expect(heard).toBeGreaterThanOrEqual(Date.parse(s.phases.at(-1)!.startedAt));
      expect(s.consumersBehind).toEqual(['api-old']);
      await ts.env.sleep(2 * 60_000); // past the 1-minute expiry, well inside the grace
      // Status is computed at the workflow's time, which moves with its next task: a third report.
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'api-probe', version: 2 });
      s = await h.query(msg.statusQuery);
      expect(s.consumers).toEqual([
        { consumerId: 'api-new', version: 2, lastSeen: expect.any(String), gone: true },
        { consumerId: 'api-old', version: 1, lastSeen: new Date(heard).toISOString(), gone: true },
        { consumerId: 'api-probe', version: 2, lastSeen: expect.any(String) },
      ]);
      expect(s.consumersBehind).toEqual([]);
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'api-old', version: 1 });
      s = await h.query(msg.statusQuery);
      expect(s.consumers[1]!.gone).toBeUndefined();
      expect(Date.parse(s.consumers[1]!.lastSeen)).toBeGreaterThan(heard);
      expect(s.consumersBehind).toEqual(['api-old']);
      await h.executeUpdate(msg.finishGraceUpdate, { args: [{}] });
    });
  });

  it('an abort before promote ends the run aborted, the error naming the operator and reason', async () => {
    let release!: () => void;
    const unblock = new Promise<void>((r) => (release = r));
    const { result, status } = await rotateAndStatus({ blockAt: 'applyPending', unblock }, {}, async (h) => {
      // Released whatever happens: a blocked activity would hold the worker's shutdown, and a
      // failed expectation here would show as a test timeout instead of itself.
      try {
        await waitForPhase(h, 'apply');
        await h.executeUpdate(msg.abortUpdate, { args: [{ reason: 'wrong target', by: 'alice' }] });
        expect((await h.query(msg.statusQuery)).abortRequested).toBe('wrong target (by alice)');
      } finally {
        release();
      }
    });
    expect(result.outcome).toBe('aborted');
    expect(result.error).toBe('aborted by operator: wrong target (by alice)');
    expect(status.lastError).toBe(result.error);
    expect(status.rollbackRequested).toBeUndefined();
    expect(status.phases.map((p) => p.phase)).toEqual(['preflight', 'create-pending', 'apply', 'compensate']);
  });

  it('an abort that arrives while the store step runs stops the run before apply touches the database', async () => {
    // create-pending is a local activity: the Update reaches the run when the workflow task
    // heartbeats (at 80 % of its timeout, here 2 s), while the step is still running.
    let release!: () => void;
    const unblock = new Promise<void>((r) => (release = r));
    const world = newWorld();
    const taskQueue = uniqueTaskQueue('rot');
    const credentialId = `cred-${taskQueue}`;
    const worker = await createTestWorker(ts.env, {
      taskQueue,
      activities: fakeActivities(world, { blockAt: 'createPending', unblock }),
    });
    const result = await worker.runUntil(async () => {
      const h = await ts.env.client.workflow.start('rotateCredential', {
        args: [{ credentialId }],
        taskQueue,
        workflowId: rotationWorkflowId(credentialId),
        workflowTaskTimeout: '2s',
      });
      try {
        await vi.waitFor(() => expect(world.calls).toContain('createPending'), { timeout: 10_000 });
        await h.executeUpdate(msg.abortUpdate, { args: [{ reason: 'wrong target' }] });
      } finally {
        release();
      }
      return (await h.result()) as RotationResult;
    });
    expect(result.outcome).toBe('aborted');
    expect(world.calls).not.toContain('applyPending');
  });

  // Abort is accepted in the remaining steps up to promote (preflight and verify: below;
  // create-pending: above). During promote the store may already have promoted: the run goes back.
  // A request may come without a body (the CLI's `abort` with no reason).
  it.each([
    {
      phase: 'replicate',
      step: 'replicateToNodes',
      opts: { nodes: ['replica:5433'] },
      request: undefined,
      outcome: 'aborted',
      requested: 'no reason given',
    },
    {
      phase: 'promote',
      step: 'deliverCurrent',
      opts: { targets: ['t'] },
      request: { reason: 'wrong target', by: 'alice' },
      outcome: 'rolled-back',
      requested: 'wrong target (by alice)',
    },
  ] satisfies Array<{
    phase: Phase;
    step: FakeActivity;
    opts: FakeOptions;
    request: OperatorRequest;
    outcome: Outcome;
    requested: string;
  }>)(
    'an abort during $phase is accepted; the run ends $outcome',
    async ({ phase, step, opts, request, outcome, requested }) => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const { result, status } = await rotateAndStatus(
        { ...opts, gates: { [step]: gate } },
        { graceMs: 0 },
        async (h) => {
          try {
            await waitForPhase(h, phase);
            await h.executeUpdate(msg.abortUpdate, { args: [request] });
          } finally {
            release();
          }
        },
      );
      expect(result.outcome).toBe(outcome);
      expect(status.abortRequested).toBe(requested);
    },
  );

  it('extendGrace and finishGrace refused outside their phases, each saying when they apply', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { result } = await rotateAndStatus(
      { gates: { applyPending: gate } },
      { graceMs: DAY_MS },
      async (h) => {
        try {
          await waitForPhase(h, 'apply');
          await expect(h.executeUpdate(msg.finishGraceUpdate, { args: [{}] })).rejects.toMatchObject({
            cause: { message: 'finishGrace: refused in phase apply: only during migrate or grace' },
          });
        } finally {
          release();
        }
        await waitForPhase(h, 'grace');
        await h.executeUpdate(msg.rollbackUpdate, { args: [{ reason: 'bad deploy' }] });
        await expect(
          h.executeUpdate(msg.extendGraceUpdate, { args: [{ byMs: HOUR_MS }] }),
        ).rejects.toMatchObject({
          cause: {
            message: expect.stringMatching(
              /^extendGrace: refused in phase \S+: there is no grace period ahead$/,
            ),
          },
        });
      },
    );
    expect(result.outcome).toBe('rolled-back');
  });

  it('a rollback before promote is an abort: the run ends aborted and nothing of the new version is left', async () => {
    let release!: () => void;
    const unblock = new Promise<void>((r) => (release = r));
    const world = newWorld();
    const before = snapshot(world);
    let status!: RotationStatus;
    const result = await rotateOn(ts.env, world, { blockAt: 'verifyPending', unblock }, {}, async (h) => {
      try {
        await waitForPhase(h, 'verify');
        const reply = await h.executeUpdate(msg.rollbackUpdate, {
          args: [{ reason: 'not yet', by: 'dave' }],
        });
        expect(reply).toMatchObject({ accepted: 'abort', phase: 'verify' }); // what the operator is told
      } finally {
        release(); // see above
      }
      await h.result();
      status = await h.query(msg.statusQuery);
    });
    expect(result.outcome).toBe('aborted');
    expect(result.error).toBe('aborted by operator: not yet (by dave)');
    expect(status.rollbackRequested).toBeUndefined();
    expect(snapshot(world)).toEqual(before);
    expect(world.calls).not.toContain('promote');
  });

  it('after promote, rollback and abort both roll back; status says who asked for which', async () => {
    const rollback = await rotateAndStatus({}, { graceMs: DAY_MS }, async (h) => {
      await waitForPhase(h, 'grace');
      const reply = await h.executeUpdate(msg.rollbackUpdate, {
        args: [{ reason: 'bad deploy', by: 'bob' }],
      });
      expect(reply).toMatchObject({ accepted: 'rollback', phase: 'grace' });
    });
    expect(rollback.result.outcome).toBe('rolled-back');
    expect(rollback.result.error).toBeUndefined();
    expect(rollback.status.rollbackRequested).toBe('bad deploy (by bob)');
    expect(rollback.status.abortRequested).toBeUndefined();
    const abort = await rotateAndStatus({}, { graceMs: DAY_MS }, async (h) => {
      await waitForPhase(h, 'grace');
      expect(await h.executeUpdate(msg.abortUpdate, { args: [{ reason: 'bad deploy' }] })).toMatchObject({
        accepted: 'rollback',
      });
    });
    expect(abort.result.outcome).toBe('rolled-back');
    expect(abort.status.abortRequested).toBe('bad deploy');
    expect(abort.status.rollbackRequested).toBeUndefined();
  });

  it('a revoke that keeps failing parks the run; abandon ends it failed with step, reason, who and last error', async () => {
    const error = 'TransientError: injected failure in revokeOld';
    const { result, status } = await rotateAndStatus(
      { failTimes: { revokeOld: 1000 } },
      { graceMs: HOUR_MS },
      async (h) => {
        await ts.env.sleep(2 * HOUR_MS); // past the grace (time skips only while the test waits on it)
        await waitForPhase(h, 'needs-operator');
        const s = await h.query(msg.statusQuery);
        expect(s.needsOperator).toEqual({ step: 'revoke', since: expect.any(String), error });
        expect(s.lastError).toBe(error);
        await h.executeUpdate(msg.resolveUpdate, {
          args: [{ action: 'abandon', reason: 'db retired', by: 'carol' }],
        });
      },
    );
    expect(result.outcome).toBe('failed');
    expect(result.error).toBe(`abandoned by operator at revoke: db retired (by carol); last error: ${error}`);
    expect(status.needsOperator).toBeUndefined();
  });

  it('resolve retry after a parked revoke finishes the run, and the old error is no longer reported', async () => {
    const { result, status } = await rotateAndStatus(
      { failTimes: { revokeOld: 1 } },
      { graceMs: HOUR_MS },
      async (h) => {
        await ts.env.sleep(2 * HOUR_MS);
        await waitForPhase(h, 'needs-operator');
        await h.executeUpdate(msg.resolveUpdate, { args: [{ action: 'retry' }] });
      },
    );
    expect(result.outcome).toBe('rotated');
    expect(result.error).toBeUndefined();
    expect(status.phase).toBe('done');
    expect(status.lastError).toBeUndefined();
    expect(status.needsOperator).toBeUndefined();
    expect(status.phases.map((p) => p.phase).slice(-1)).toEqual(['revoke']);
  });

  it.each([
    { held: 'preflight' as const, opts: {}, notRun: 'createPending' },
    { held: 'verify' as const, opts: { nodes: ['replica:5433'] }, notRun: 'replicateToNodes' },
  ] satisfies Array<{ held: 'preflight' | 'verify'; opts: FakeOptions; notRun: string }>)(
    'an abort during $held is honoured at the next step boundary: $notRun never runs',
    async ({ held, opts, notRun }) => {
      let release!: () => void;
      const unblock = new Promise<void>((r) => (release = r));
      // (create-pending is a local activity: an Update waits for it to end, ~30 s; not held here.)
      const fake: FakeOptions =
        held === 'preflight'
          ? { ...opts, gates: { preflight: unblock } }
          : { ...opts, blockAt: 'verifyPending', unblock };
      const world = newWorld();
      const before = snapshot(world);
      const result = await rotateOn(ts.env, world, fake, {}, async (h) => {
        try {
          await waitForPhase(h, held);
          await h.executeUpdate(msg.abortUpdate, { args: [{ reason: 'stop' }] });
        } finally {
          release();
        }
      });
      expect(result.outcome).toBe('aborted');
      expect(world.calls).not.toContain(notRun);
      expect(snapshot(world)).toEqual(before);
    },
  );

  it("the plan's consumer bounds win over the input's", async () => {
    await rotateOn(
      ts.env,
      newWorld(),
      { planLimits: { maxConsumers: 2, consumerExpiryMs: 60_000 } },
      { graceMs: DAY_MS, maxConsumers: 5, consumerExpiryMs: DAY_MS },
      async (h) => {
        await waitForPhase(h, 'grace');
        for (const id of ['a', 'b', 'c'])
          await h.signal(msg.consumerHeartbeatSignal, { consumerId: id, version: 1 });
        let s = await h.query(msg.statusQuery);
        expect(s.consumers.map((c) => c.consumerId)).toEqual(['a', 'b']);
        expect(s.consumersOverflow).toBe(1);
        await ts.env.sleep(2 * 60_000);
        await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'a', version: 2 });
        s = await h.query(msg.statusQuery);
        expect(s.consumers.map((c) => [c.consumerId, c.gone])).toEqual([
          ['a', undefined],
          ['b', true],
        ]);
        await h.executeUpdate(msg.finishGraceUpdate, { args: [{}] });
      },
    );
  });

  it('before promote nobody is behind: consumers on the current version are listed, not waited for', async () => {
    let release!: () => void;
    const unblock = new Promise<void>((r) => (release = r));
    await rotateOn(ts.env, newWorld(), { blockAt: 'applyPending', unblock }, { graceMs: 0 }, async (h) => {
      try {
        await waitForPhase(h, 'apply');
        await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'api-1', version: 1 });
        const s = await h.query(msg.statusQuery);
        expect(s.consumers.map((c) => c.consumerId)).toEqual(['api-1']);
        expect(s.consumersBehind).toEqual([]);
        // Nobody is behind on the dashboard either: the gauge is set only once there is a version to
        // be behind. (Give the exporter the time a wrongly set gauge would take to show.)
        await new Promise((r) => setTimeout(r, 500));
        expect(await gaugeOf(credentialOf(h), 'rotator_consumers_behind')).toBeUndefined();
      } finally {
        release();
      }
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'api-1', version: 2 });
    });
  });

  it('a step that fails again after resolve retry parks again and waits for a second decision', async () => {
    const { result, status } = await rotateAndStatus(
      { failTimes: { revokeOld: 2 } },
      { graceMs: 0 },
      async (h) => {
        await waitForPhase(h, 'needs-operator');
        await h.executeUpdate(msg.resolveUpdate, { args: [{ action: 'retry' }] });
        const s = await parkedOrDone(h); // a stale decision reused: already done
        expect(s.phase).toBe('needs-operator');
        await h.executeUpdate(msg.resolveUpdate, { args: [{ action: 'retry' }] });
      },
    );
    expect(result.outcome).toBe('rotated');
    expect(status.needsOperator).toBeUndefined();
  });

  it('while the run waits for resolve, abort and rollback are refused with what it waits for', async () => {
    const { result } = await rotateAndStatus({ failTimes: { revokeOld: 1 } }, { graceMs: 0 }, async (h) => {
      await waitForPhase(h, 'needs-operator');
      for (const [update, name] of [
        [msg.abortUpdate, 'abort'],
        [msg.rollbackUpdate, 'rollback'],
      ] as const)
        await expect(h.executeUpdate(update, { args: [{ reason: 'stop' }] })).rejects.toMatchObject({
          cause: {
            message: `${name}: refused in phase needs-operator: the run waits for \`resolve\` (retry or abandon)`,
          },
        });
      await h.executeUpdate(msg.resolveUpdate, { args: [{ action: 'retry' }] });
    });
    expect(result.outcome).toBe('rotated');
  });

  it('once the old login is being revoked, a rollback is refused: past the point of no return', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { result } = await rotateAndStatus({ gates: { revokeOld: gate } }, { graceMs: 0 }, async (h) => {
      try {
        await waitForPhase(h, 'revoke');
        await expect(h.executeUpdate(msg.rollbackUpdate, { args: [{}] })).rejects.toMatchObject({
          cause: {
            message: 'rollback: refused in phase revoke: the rotation is past the point of no return',
          },
        });
      } finally {
        release();
      }
    });
    expect(result.outcome).toBe('rotated');
  });

  it('resolve is refused while the run is not waiting for an operator', async () => {
    await rotateOn(ts.env, newWorld(), {}, { graceMs: DAY_MS }, async (h) => {
      await waitForPhase(h, 'grace');
      await expect(h.executeUpdate(msg.resolveUpdate, { args: [{ action: 'retry' }] })).rejects.toMatchObject(
        {
          cause: { message: 'resolve: refused in phase grace: the run is not waiting for an operator' },
        },
      );
      // A malformed one is refused for what is wrong with it, named.
      await expect(
        h.executeUpdate(msg.resolveUpdate, { args: [{ action: 'later' } as never] }),
      ).rejects.toMatchObject({
        cause: { message: 'resolve: invalid request: action: action must be "retry" or "abandon"' },
      });
      await h.executeUpdate(msg.finishGraceUpdate, { args: [{}] });
    });
  });

  it('after resolve retry the run is back in its phase (status, search attribute) while it still waits', async () => {
    const { result } = await rotateAndStatus(
      { failTimes: { demote: 1 } },
      { graceMs: DAY_MS, consumerExpiryMs: DAY_MS },
      async (h) => {
        await waitForPhase(h, 'grace');
        await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'pod-1', version: 2 });
        await h.executeUpdate(msg.rollbackUpdate, { args: [{ reason: 'bad deploy' }] });
        await waitForPhase(h, 'needs-operator');
        expect((await h.describe()).searchAttributes.RotationPhase).toEqual(['needs-operator']);
        await h.executeUpdate(msg.resolveUpdate, { args: [{ action: 'retry' }] });
        await waitForPhase(h, 'rollback'); // waiting for pod-1 to come back to version 1
        const d = await h.describe();
        expect(d.searchAttributes.RotationPhase).toEqual(['rollback']);
        expect((d.memo?.status as RotationStatus).needsOperator).toBeUndefined();
        await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'pod-1', version: 1 });
      },
    );
    expect(result.outcome).toBe('rolled-back');
  });

  it('the memo shows a consumer gone while migrate still waits for another', async () => {
    let timers = 0;
    await migrateWithExpiry(async (h) => {
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'quiet', version: 1 });
      await waitForPhase(h, 'migrate');
      await ts.env.sleep(60_000);
      // Already on the new version: its silence (from ~1 min, past the expiry at ~11 min) must not wake the run.
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'moved', version: 2 });
      await ts.env.sleep(4 * 60_000);
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'late', version: 1 }); // expires at ~15 min
      await ts.env.sleep(7 * 60_000); // 'quiet' expired at ~10 min; the run woke then
      const memo = (await h.describe()).memo?.status as RotationStatus;
      expect(memo.phase).toBe('migrate');
      expect(
        memo.consumers.filter((c) => c.consumerId !== 'moved').map((c) => [c.consumerId, c.gone]),
      ).toEqual([
        ['quiet', true],
        ['late', undefined],
      ]);
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'late', version: 2 });
      await h.result();
      timers = ((await h.fetchHistory()).events ?? []).filter((e) => e.timerStartedEventAttributes).length;
    });
    // Two timers: migrate sleeps until 'quiet' expires (~10 min, one ms past its expiry, when it
    // counts as gone), then until 'late' would (~15 min). Neither a consumer already gone (it would
    // spin on 1 ms timers until 'late' answers), nor one on the new version, nor waking a ms before
    // an expiry adds one.
    expect(timers).toBe(2);
  });

  it('with two consumers behind, migrate wakes when the first of them expires, not the last', async () => {
    await migrateWithExpiry(async (h) => {
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'first', version: 1 });
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'second', version: 1 });
      await waitForPhase(h, 'migrate');
      await ts.env.sleep(3 * 60_000);
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'first', version: 1 }); // expires at ~13 min
      await ts.env.sleep(3 * 60_000);
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'second', version: 1 }); // at ~16 min
      // The run re-checks at ~10 min (nobody gone yet), then at ~13 min; at ~14.5 min the memo it
      // published then shows 'first' gone and 'second' still awaited.
      await ts.env.sleep(8.5 * 60_000);
      const memo = (await h.describe()).memo?.status as RotationStatus;
      expect(memo.consumers.map((c) => [c.consumerId, c.gone])).toEqual([
        ['first', true],
        ['second', undefined],
      ]);
      expect(memo.consumersBehind).toEqual(['second']);
      await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'second', version: 2 });
    });
  });

  it('metrics: grace deadline, consumers behind and needs-operator per credential, zero at the end; phases and outcome counted', async () => {
    let credential = '';
    const scrape = () => scrapeFor(credential);
    const gauge = (name: string) => gaugeOf(credential, name);
    const { result, status } = await rotateAndStatus(
      { failTimes: { revokeOld: 1 } },
      { graceMs: HOUR_MS, consumerExpiryMs: DAY_MS },
      async (h) => {
        credential = credentialOf(h);
        await waitForPhase(h, 'grace');
        await h.signal(msg.consumerHeartbeatSignal, { consumerId: 'api-1', version: 1 });
        const s = await h.query(msg.statusQuery);
        await vi.waitFor(async () => {
          expect(await gauge('rotator_grace_deadline_seconds')).toBe(
            Math.floor(Date.parse(s.graceDeadline!) / 1000),
          );
          expect(await gauge('rotator_consumers_behind')).toBe(1);
          expect(await gauge('rotator_needs_operator')).toBeUndefined();
        });
        await ts.env.sleep(2 * HOUR_MS);
        await waitForPhase(h, 'needs-operator');
        await vi.waitFor(async () => expect(await gauge('rotator_needs_operator')).toBe(1));
        await h.executeUpdate(msg.resolveUpdate, { args: [{ action: 'retry' }] });
      },
    );
    expect(result.outcome).toBe('rotated');
    await vi.waitFor(async () => {
      expect(await gauge('rotator_needs_operator')).toBe(0);
      expect(await gauge('rotator_grace_deadline_seconds')).toBe(0);
      expect(await gauge('rotator_consumers_behind')).toBe(0);
    });
    const m = await scrape();
    const one = (name: RegExp, labels: Record<string, string>) =>
      m.filter((s) => name.test(s.name) && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    expect(
      one(/^rotator_rotations/, { outcome: 'rotated', engine: 'postgres', strategy: 'dual-user' }),
    ).toEqual([expect.objectContaining({ value: 1 })]);
    expect(one(/^rotator_rotations/, { outcome: 'failed' })).toEqual([]);
    expect(one(/^rotator_phase_duration_count$/, { phase: 'grace' })).toEqual([
      expect.objectContaining({ value: 1 }),
    ]);
    expectAbout(one(/^rotator_phase_duration_sum$/, { phase: 'grace' })[0]!.value, graceLength(status));
    expect(one(/^rotator_phase_duration_count$/, { phase: 'revoke' })).toEqual([
      expect.objectContaining({ value: 1 }),
    ]);
  });
});
