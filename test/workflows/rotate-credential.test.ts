import { describe, expect, it, vi } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { rotationWorkflowId } from '../../src/shared/constants';
import {
  abortUpdate,
  consumerHeartbeatSignal,
  extendGraceUpdate,
  finishGraceUpdate,
  resolveUpdate,
  rollbackUpdate,
  statusQuery,
} from '../../src/shared/messages';
import type { Phase, RotationInput, RotationResult, RotationStatus } from '../../src/shared/types';
import { capturedLogs, createTestWorker, runtimeMetricsUrl, uniqueTaskQueue } from '../helpers/temporal';
import { fakeActivities, newWorld, snapshot, type FakeOptions, type FakeWorld } from './fake-world';
import { parkedOrDone, parseMetrics, rotateOn, useTimeSkippingEnv, waitForPhase } from './time-skipping-run';

const ts = useTimeSkippingEnv();

const DAY_MS = 24 * 60 * 60 * 1000;

/** Runs one rotation with fake activities; `drive` may signal/query while it runs. */
const rotate = (
  world: FakeWorld,
  opts: FakeOptions,
  input: Partial<RotationInput> = {},
  drive?: (h: WorkflowHandle) => Promise<void>,
): Promise<RotationResult> => rotateOn(ts.env, world, opts, input, drive);

/**
 * Runs one rotation to its end, successful or not, and returns what an operator would see then:
 * the result or the error, the status query's answer (undefined if the run never answered it),
 * and the search attributes.
 */
async function endedRun(
  world: FakeWorld,
  opts: FakeOptions,
  input: Partial<RotationInput> = {},
  drive?: (h: WorkflowHandle) => Promise<void>,
): Promise<{
  credentialId: string;
  runId: string;
  result?: RotationResult;
  error?: string;
  errorType?: string;
  status?: RotationStatus;
  searchAttributes: Record<string, unknown>;
}> {
  let seen!: Awaited<ReturnType<typeof endedRun>>;
  await rotate(world, opts, input, async (h) => {
    await drive?.(h);
    const ended = await h.result().then(
      (result: RotationResult) => ({ result }),
      (err: Error) => ({
        error: rootCause(err).message,
        errorType: (rootCause(err) as { type?: string }).type,
      }),
    );
    const status = await h.query(statusQuery).catch(() => undefined);
    const { searchAttributes, runId } = await h.describe();
    seen = { credentialId: h.workflowId.replace(/^rotate\//, ''), runId, ...ended, status, searchAttributes };
  }).catch(() => undefined);
  return seen;
}

/** How long `phase` lasted (workflow time). */
function phaseMs(status: RotationStatus, phase: Phase): number {
  const p = status.phases.find((x) => x.phase === phase)!;
  return Date.parse(p.endedAt!) - Date.parse(p.startedAt);
}

function rootCause(err: Error): Error {
  let e = err;
  while (e.cause instanceof Error) e = e.cause;
  return e;
}

describe('rotateCredential (workflow logic, time-skipping server)', () => {
  it('happy path: the default 24 h grace elapses durably, then the old login is revoked', async () => {
    const world = newWorld();
    world.sessions.app = 2; // two sessions that drain on their own
    const started = Date.now();
    const result = await rotate(world, {});
    expect(result).toMatchObject({ outcome: 'rotated', fromVersion: 1, toVersion: 2, strategy: 'dual-user' });
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(world.logins).toEqual({ app_b: 'pw2' });
    expect(world.versions).toEqual([
      { version: 1, username: 'app', state: 'revoked' },
      { version: 2, username: 'app_b', state: 'current', label: 'CURRENT' },
    ]);
    expect(world.calls).toEqual([
      'preflight',
      'createPending',
      'applyPending',
      'verifyPending',
      'promote',
      'countSessions:from',
      'countSessions:from',
      'countSessions:from',
      'revokeOld',
    ]);
    expect(world.audit).toEqual(['rotation-started', 'rotation-rotated']);
  });

  for (const failAt of ['createPending', 'applyPending', 'verifyPending', 'promote'] as const) {
    for (const failAfterEffect of [false, true]) {
      it(`failure in ${failAt} (${failAfterEffect ? 'after' : 'before'} its effect) leaves everything as before`, async () => {
        const world = newWorld();
        const before = snapshot(world);
        const result = await rotate(world, { failAt, failAfterEffect });
        expect(result.outcome).toBe('failed');
        expect(result.error).toContain(`injected failure`);
        expect(snapshot(world)).toEqual(before);
        expect(world.audit).toEqual(['rotation-started', 'rotation-failed']);
      });
    }
  }

  it('a failing preflight fails the run without touching anything; status and audit say failed', async () => {
    const world = newWorld();
    const before = snapshot(world);
    const seen = await endedRun(
      world,
      { failAt: 'preflight' },
      { requestedBy: 'alice', reason: 'quarterly' },
    );
    expect(seen.error).toMatch(/unknown credential/);
    expect(seen.status).toMatchObject({
      phase: 'done',
      outcome: 'failed',
      lastError: 'UnknownCredentialError: unknown credential',
    });
    expect(seen.searchAttributes).toMatchObject({
      RotationCredentialId: [seen.credentialId],
      RotationPhase: ['done'],
    });
    expect(snapshot(world)).toEqual(before);
    expect(world.calls).toEqual(['preflight']);
    expect(world.audit).toEqual(['rotation-failed']);
    const workflowId = `rotate/${seen.credentialId}`;
    expect(world.auditRecords[0]!.details).toEqual({
      by: 'alice',
      reason: 'quarterly',
      emergency: false,
      runId: seen.runId,
      workflowId,
      eventId: `${workflowId}/${seen.runId}/1`,
      phase: 'preflight',
      error: 'UnknownCredentialError: unknown credential',
    });
  });

  it('cancelled before preflight ran: the run ends aborted, audited as aborted, nothing touched', async () => {
    // The cancel is in the run's first task, so the preflight call itself is cancelled.
    const world = newWorld();
    const before = snapshot(world);
    const taskQueue = uniqueTaskQueue('rot');
    const credentialId = `cred-${taskQueue}`;
    const h = await ts.env.client.workflow.start('rotateCredential', {
      args: [{ credentialId }],
      taskQueue,
      workflowId: rotationWorkflowId(credentialId),
    });
    await h.cancel();
    const worker = await createTestWorker(ts.env, { taskQueue, activities: fakeActivities(world, {}) });
    const status = await worker.runUntil(async () => {
      await expect(h.result()).rejects.toThrow(/cancel/i);
      return h.query(statusQuery);
    });
    expect(status).toMatchObject({ phase: 'done', outcome: 'aborted' });
    expect(snapshot(world)).toEqual(before);
    expect(world.calls).toEqual([]);
    expect(world.audit).toEqual(['rotation-aborted']);
  });

  it('an input that does not parse fails at once with every problem named; nothing runs', async () => {
    const world = newWorld();
    const seen = await endedRun(world, {}, { graceMs: -1, drainTimeoutMs: 'soon' as never });
    expect(seen.error).toMatch(/^invalid rotation input: .*graceMs.*drainTimeoutMs/);
    expect(seen.errorType).toBe('ConfigError'); // non-retryable, and named for what it is
    expect(seen.status).toBeUndefined(); // refused before any handler was registered
    expect(world.calls).toEqual([]);
    expect(world.audit).toEqual(['rotation-failed']);
    expect(world.auditRecords[0]!.details).toMatchObject({
      phase: 'preflight',
      error: `ConfigError: ${seen.error}`,
    });
    // Counted as a failed rotation like any other.
    const taskQueue = seen.credentialId.replace(/^cred-/, '');
    const counted = parseMetrics(await (await fetch(runtimeMetricsUrl()!)).text()).filter(
      (m) => /^rotator_rotations/.test(m.name) && m.labels.taskQueue === taskQueue,
    );
    expect(counted.map((m) => [m.labels.outcome, m.value])).toEqual([['failed', 1]]);
  });

  it('a start with no input at all fails at once, not with a workflow task that fails for ever', async () => {
    const taskQueue = uniqueTaskQueue('rot');
    const world = newWorld();
    const worker = await createTestWorker(ts.env, { taskQueue, activities: fakeActivities(world, {}) });
    await worker.runUntil(async () => {
      const h = await ts.env.client.workflow.start('rotateCredential', {
        args: [null],
        taskQueue,
        workflowId: `rotate/null-${taskQueue}`,
      });
      const ended = await Promise.race([
        h.result().then(
          () => 'completed',
          (err: Error) => rootCause(err).message,
        ),
        new Promise((r) => setTimeout(() => r('still running after 5 s'), 5_000)),
      ]);
      expect(ended).toMatch(/^invalid rotation input: /);
    });
    expect(world.audit).toEqual([]);
  });

  it('a dry run only plans: the plan comes back, nothing changes, no search attribute but the id', async () => {
    const world = newWorld();
    const before = snapshot(world);
    const seen = await endedRun(world, {}, { dryRun: true });
    expect(seen.result).toMatchObject({
      credentialId: seen.credentialId,
      outcome: 'planned',
      strategy: 'dual-user',
      fromVersion: 1,
      toVersion: 2,
      dryRun: { statements: { apply: ['CREATE ROLE app_b'], revoke: ['DROP ROLE app'] } },
    });
    expect(seen.searchAttributes).toEqual({ RotationCredentialId: [seen.credentialId] });
    expect(world.calls).toEqual(['planRotation']);
    expect(snapshot(world)).toEqual(before);
  });

  it('a dry run stopped by a blocker comes back planned, with the blocker and no versions', async () => {
    const world = newWorld();
    const seen = await endedRun(world, { dryRunBlocker: 'the admin may not create roles' }, { dryRun: true });
    expect(seen.result).toMatchObject({
      outcome: 'planned',
      dryRun: { blockers: ['the admin may not create roles'] },
    });
    expect(seen.result?.fromVersion).toBeUndefined();
    expect(seen.result?.toVersion).toBeUndefined();
  });

  it('a dry run gives up after 5 retryable failures of its planning step', async () => {
    const world = newWorld();
    const seen = await endedRun(world, { retryableFailures: { planRotation: 5 } }, { dryRun: true });
    expect(seen.error).toBe('injected retryable failure in planRotation');
    expect(world.calls).toEqual(Array(5).fill('planRotation'));
  });

  it('abort before promote compensates at the next step boundary', async () => {
    const world = newWorld();
    const before = snapshot(world);
    let release!: () => void;
    const unblock = new Promise<void>((r) => (release = r));
    const result = await rotate(world, { blockAt: 'applyPending', unblock }, {}, async (h) => {
      await waitForPhase(h, 'apply');
      await h.executeUpdate(abortUpdate, { args: [{ reason: 'operator changed mind', by: 'alice' }] });
      release();
    });
    expect(result.outcome).toBe('aborted');
    expect(result.error).toContain('operator changed mind');
    expect(snapshot(world)).toEqual(before);
    expect(world.calls).not.toContain('verifyPending');
  });

  for (const [name, signal] of [
    ['rollback', rollbackUpdate],
    ['abort', abortUpdate],
  ] as const) {
    it(`${name} during grace points back to the old version and removes the new login`, async () => {
      const world = newWorld();
      const before = snapshot(world);
      const result = await rotate(world, {}, {}, async (h) => {
        await waitForPhase(h, 'grace');
        await h.executeUpdate(signal, { args: [{ reason: 'bad deploy' }] });
      });
      expect(result.outcome).toBe('rolled-back');
      expect(snapshot(world)).toEqual(before);
      expect(world.calls.slice(-3)).toEqual(['demote', 'countSessions:to', 'restore']);
    });
  }

  it('migrate waits until every known consumer reports the new version', async () => {
    const world = newWorld();
    const result = await rotate(world, {}, { graceMs: 1000, migrationTimeoutMs: DAY_MS }, async (h) => {
      await h.signal(consumerHeartbeatSignal, { consumerId: 'api-1', version: 1 });
      await h.signal(consumerHeartbeatSignal, { consumerId: 'api-2', version: 1 });
      await waitForPhase(h, 'migrate');
      const s = await h.query(statusQuery);
      expect(s.consumersBehind.sort()).toEqual(['api-1', 'api-2']);
      expect(s.migrationDeadline).toBeDefined();
      await h.signal(consumerHeartbeatSignal, { consumerId: 'api-1', version: 2 });
      expect((await h.query(statusQuery)).consumersBehind).toEqual(['api-2']);
      await h.signal(consumerHeartbeatSignal, { consumerId: 'api-2', version: 2 });
      await waitForPhase(h, 'grace');
    });
    expect(result.outcome).toBe('rotated');
  });

  it('extend-grace moves the deadline; finish-grace revokes early', async () => {
    const world = newWorld();
    const result = await rotate(world, {}, {}, async (h) => {
      await waitForPhase(h, 'grace');
      const first = (await h.query(statusQuery)).graceDeadline!;
      await h.executeUpdate(extendGraceUpdate, { args: [{ byMs: DAY_MS }] });
      const second = (await h.query(statusQuery)).graceDeadline!;
      expect(Date.parse(second) - Date.parse(first)).toBe(DAY_MS);
      await h.executeUpdate(finishGraceUpdate, { args: [{}] });
    });
    expect(result.outcome).toBe('rotated');
    expect(world.logins).toEqual({ app_b: 'pw2' });
  });

  it('heartbeats: reports it cannot use are ignored, the table is capped, and status lists who is behind', async () => {
    const world = newWorld();
    const long = 'c'.repeat(200); // the longest id accepted
    await rotate(world, {}, { graceMs: DAY_MS, maxConsumers: 3 }, async (h) => {
      await waitForPhase(h, 'grace');
      const ignored: unknown[] = [
        null,
        'api-1',
        { consumerId: '', version: 2 },
        { consumerId: 7, version: 2 },
        { consumerId: 'c'.repeat(201), version: 2 },
        { consumerId: 'bell\u0007', version: 2 },
        { consumerId: 'zero\u200bwidth', version: 2 }, // a format character (\p{Cf}) hides in a terminal
        { consumerId: 'negative', version: -1 },
        { consumerId: 'fraction', version: 1.5 },
        { consumerId: 'text', version: '2' },
        { consumerId: 'huge', version: 2 ** 53 },
      ];
      for (const hb of ignored) await h.signal(consumerHeartbeatSignal, hb as never);
      await h.signal(consumerHeartbeatSignal, { consumerId: long, version: 2 });
      await h.signal(consumerHeartbeatSignal, { consumerId: 'zero', version: 0 });
      await h.signal(consumerHeartbeatSignal, { consumerId: 'old', version: 1 });
      await h.signal(consumerHeartbeatSignal, { consumerId: 'one-too-many', version: 2 });
      let s = await h.query(statusQuery);
      expect(s.consumers.map((c) => [c.consumerId, c.version, c.gone])).toEqual([
        [long, 2, undefined],
        ['zero', 0, undefined],
        ['old', 1, undefined],
      ]);
      expect(s.consumersBehind).toEqual(['zero', 'old']);
      expect(s.consumersOverflow).toBe(1);
      // A known consumer still reports at the cap.
      await h.signal(consumerHeartbeatSignal, { consumerId: 'old', version: 2 });
      s = await h.query(statusQuery);
      expect(s.consumersBehind).toEqual(['zero']);
      expect(s.consumersOverflow).toBe(1);
      await h.executeUpdate(finishGraceUpdate, { args: [{}] });
    });
  });

  it('status reports phases, plan and deadlines', async () => {
    const world = newWorld();
    await rotate(world, {}, { graceMs: DAY_MS }, async (h) => {
      await waitForPhase(h, 'grace');
      const s = await h.query(statusQuery);
      expect(s.plan).toMatchObject({
        strategy: 'dual-user',
        fromVersion: 1,
        toVersion: 2,
        toUsername: 'app_b',
      });
      expect(s.phases.map((p) => p.phase)).toEqual([
        'preflight',
        'create-pending',
        'apply',
        'verify',
        'promote',
        'migrate',
        'grace',
      ]);
      expect(Date.parse(s.graceDeadline!)).toBeGreaterThan(Date.now());
      // What describe() shows without a query: the same status in the memo, the phase as a search attribute.
      const d = await h.describe();
      expect(d.memo?.status).toEqual(s);
      expect(d.searchAttributes.RotationPhase).toEqual(['grace']);
      await h.executeUpdate(finishGraceUpdate, { args: [{}] });
    });
  });

  it('the memo is rewritten when the status changes, not when a consumer only reports again', async () => {
    const world = newWorld();
    await rotate(world, {}, { graceMs: DAY_MS }, async (h) => {
      await waitForPhase(h, 'grace');
      const memoWrites = async () =>
        ((await h.fetchHistory()).events ?? []).filter((e) => e.workflowPropertiesModifiedEventAttributes)
          .length;
      const report = async (consumerId: string, version: number) => {
        await h.signal(consumerHeartbeatSignal, { consumerId, version });
        await h.query(statusQuery); // the signal has been handled
      };
      await report('api-1', 2);
      const afterFirst = await memoWrites();
      await report('api-1', 2);
      await report('api-1', 2);
      expect(await memoWrites()).toBe(afterFirst);
      await report('api-1', 1); // a change: the memo is rewritten
      expect(await memoWrites()).toBe(afterFirst + 1);
      expect((await h.describe()).memo?.status).toMatchObject({ consumersBehind: ['api-1'] });
      await h.executeUpdate(finishGraceUpdate, { args: [{}] });
    });
  });

  it('a second rotation of the same credential cannot start while one runs', async () => {
    const world = newWorld();
    const taskQueue = uniqueTaskQueue('dup');
    const worker = await createTestWorker(ts.env, { taskQueue, activities: fakeActivities(world) });
    const workflowId = rotationWorkflowId('dup-cred');
    await worker.runUntil(async () => {
      const h = await ts.env.client.workflow.start('rotateCredential', {
        args: [{ credentialId: 'dup-cred' }],
        taskQueue,
        workflowId,
      });
      await expect(
        ts.env.client.workflow.start('rotateCredential', {
          args: [{ credentialId: 'dup-cred' }],
          taskQueue,
          workflowId,
        }),
      ).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
      await waitForPhase(h, 'grace');
      await h.executeUpdate(finishGraceUpdate, { args: [{}] });
      await h.result();
    });
  });

  it('a rollback long into grace waits for consumers to come back, however long they were quiet', async () => {
    const world = newWorld();
    await rotate(world, { strategy: 'dual-password' }, { graceMs: 3_600_000 }, async (h) => {
      await waitForPhase(h, 'grace');
      // Migrated; during grace the reporter stays quiet (it reports only on a change).
      await h.signal(consumerHeartbeatSignal, { consumerId: 'pod-1', version: 2 });
      await ts.env.sleep(10 * 60_000);
      await h.executeUpdate(rollbackUpdate, { args: [{ reason: 'bad deploy' }] });
      await waitForPhase(h, 'rollback');
      const s = await h.query(statusQuery);
      // Silence counts from the start of the rollback: pod-1 is behind, not gone.
      expect(s.consumersBehind).toEqual(['pod-1']);
      expect(s.consumers[0]!.gone).toBeUndefined();
      expect(world.calls).not.toContain('restore');
      await h.signal(consumerHeartbeatSignal, { consumerId: 'pod-1', version: 1 });
    });
    expect(world.calls.slice(-1)).toEqual(['restore']);
    expect(world.logins).toEqual({ app: 'pw1' });
  });

  // The fakes' failures above are non-retryable; these are retryable, so the workflow's retry
  // policies decide: a step before promote gives up after 5 attempts (the rotation fails and is
  // undone), an undo step after 20 (the run parks for an operator). One attempt more would pass.
  it.each([
    ['applyPending', 'an activity'],
    ['createPending', 'a local activity'],
  ] as const)(
    '%s (%s) gives up after 5 retryable failures and the rotation is undone',
    async (step, _kind) => {
      const world = newWorld();
      const before = snapshot(world);
      const result = await rotate(world, { retryableFailures: { [step]: 5 } }, { graceMs: 0 });
      expect(result.outcome).toBe('failed');
      expect(result.error).toBe(`TransientError: injected retryable failure in ${step}`);
      expect(world.calls.filter((c) => c === step)).toHaveLength(5);
      expect(snapshot(world)).toEqual(before);
    },
  );

  it.each([
    ['restore', 'an activity', 'compensate'],
    ['demote', 'a local activity', 'rollback'],
  ] as const)(
    '%s (%s) parks the run after 20 retryable failures; resolve retry finishes it',
    async (step, _kind, phase) => {
      const world = newWorld();
      const before = snapshot(world);
      const opts: FakeOptions = { retryableFailures: { [step]: 20 } };
      if (step === 'restore') opts.failAt = 'verifyPending';
      const result = await rotate(world, opts, { graceMs: DAY_MS }, async (h) => {
        if (step === 'demote') {
          await waitForPhase(h, 'grace');
          await h.executeUpdate(rollbackUpdate, { args: [{ reason: 'bad deploy' }] });
        }
        const s = await parkedOrDone(h); // one attempt more allowed: already done
        expect(s.phase).toBe('needs-operator');
        expect(s.needsOperator).toMatchObject({
          step,
          error: `TransientError: injected retryable failure in ${step}`,
        });
        expect(s.phases.at(-1)!.phase).toBe(phase);
        expect(world.calls.filter((c) => c === step)).toHaveLength(20);
        await h.executeUpdate(resolveUpdate, { args: [{ action: 'retry' }] });
      });
      expect(result.outcome).toBe(step === 'restore' ? 'failed' : 'rolled-back');
      expect(world.calls.filter((c) => c === step)).toHaveLength(21);
      expect(snapshot(world)).toEqual(before);
    },
  );

  it('with delivery targets: pending after verify, current with promote, the old version removed after revoke', async () => {
    const world = newWorld();
    const seen = await endedRun(world, { targets: ['file /run/app'] }, { graceMs: 0, requestedBy: 'bob' });
    expect(seen.result?.outcome).toBe('rotated');
    expect(world.calls).toEqual([
      'preflight',
      'createPending',
      'applyPending',
      'verifyPending',
      'deliverPending',
      'promote',
      'deliverCurrent',
      'countSessions:from',
      'revokeOld',
      'deliverRemoveOld',
    ]);
    expect(seen.searchAttributes).toMatchObject({
      RotationCredentialId: [seen.credentialId],
      RotationEngine: ['postgres'],
      RotationStrategy: ['dual-user'],
      RotationPhase: ['done'],
    });
    const workflowId = `rotate/${seen.credentialId}`;
    expect(world.auditRecords).toEqual([
      {
        action: 'rotation-started',
        details: {
          by: 'bob',
          emergency: false,
          strategy: 'dual-user',
          fromVersion: 1,
          toVersion: 2,
          runId: seen.runId,
          workflowId,
          eventId: `${workflowId}/${seen.runId}/1`,
        },
      },
      {
        action: 'rotation-rotated',
        details: expect.objectContaining({ eventId: `${workflowId}/${seen.runId}/2`, toVersion: 2 }),
      },
    ]);
  });

  // With targets, compensation follows the store's state: a promote that happened (its result
  // lost) is undone like a rollback, store and targets first; otherwise the server, then targets.
  it.each([
    {
      failed: 'a promote after its effect',
      opts: { failAt: 'promote', failAfterEffect: true },
      error: 'VerificationError: injected failure after promote',
      undo: [
        'promote',
        'isPromoted',
        'demote',
        'deliverRestore',
        'countSessions:to',
        'restore',
        'deliverRestore',
      ],
    },
    {
      failed: 'the pending delivery',
      opts: { failAt: 'deliverPending' },
      error: 'VerificationError: injected failure in deliverPending',
      undo: ['deliverPending', 'isPromoted', 'restore', 'deliverRestore'],
    },
    {
      // Nothing was published yet: the targets still hold the old version, nothing to restore there.
      failed: 'verify',
      opts: { failAt: 'verifyPending' },
      error: 'VerificationError: injected failure in verifyPending',
      undo: ['verifyPending', 'isPromoted', 'restore'],
    },
  ] satisfies Array<{ failed: string; opts: FakeOptions; error: string; undo: string[] }>)(
    'with targets, $failed failed: undone in order, and the failure announced',
    async ({ opts, error, undo }) => {
      const world = newWorld();
      const before = snapshot(world);
      const seen = await endedRun(world, { targets: ['t'], ...opts }, { graceMs: 0 });
      expect(seen.result?.outcome).toBe('failed');
      expect(seen.result?.error).toBe(error);
      expect(world.calls.slice(world.calls.indexOf(undo[0]!))).toEqual([
        ...undo,
        `deliverEvent:failed:${error}`,
      ]);
      expect(snapshot(world)).toEqual(before);
    },
  );

  it('a parked step is announced and audited; abandon is audited with who and why, and announced as failed', async () => {
    const world = newWorld();
    const error = 'TransientError: injected failure in revokeOld';
    const seen = await endedRun(
      world,
      { targets: ['t'], failTimes: { revokeOld: 1000 } },
      { graceMs: 0 },
      async (h) => {
        await waitForPhase(h, 'needs-operator');
        await h.executeUpdate(resolveUpdate, {
          args: [{ action: 'abandon', reason: 'db retired', by: 'carol' }],
        });
      },
    );
    expect(seen.result?.outcome).toBe('failed');
    const abandoned = `abandoned by operator at revoke: db retired (by carol); last error: ${error}`;
    expect(world.calls.filter((c) => c.startsWith('deliverEvent'))).toEqual([
      `deliverEvent:needs-operator:${error}`,
      `deliverEvent:failed:${abandoned}`,
    ]);
    expect(
      world.auditRecords
        .slice(1)
        .map((r) => [r.action, r.details.step, r.details.error, r.details.reason, r.details.by]),
    ).toEqual([
      ['rotation-needs-operator', 'revoke', error, undefined, 'unknown'],
      ['rotation-operator-abandon', 'revoke', undefined, 'db retired', 'carol'],
      ['rotation-failed', undefined, abandoned, undefined, 'unknown'],
    ]);
    expect(capturedLogs.join('\n')).toMatch(/step keeps failing; waiting for an operator .*"step":"revoke"/);
  });

  // An undo step abandoned by the operator: the run ends failed (not aborted: the state before
  // the rotation was not restored), the error names the step, and no later undo step runs.
  it.each([
    { step: 'inspect', activity: 'isPromoted', after: ['restore', 'deliverRestore'] },
    { step: 'restore', activity: 'restore', after: ['deliverRestore'] },
  ] as const)(
    'an abort whose $step step is abandoned ends failed, and nothing after it runs',
    async ({ step, activity, after }) => {
      const world = newWorld();
      let release!: () => void;
      const unblock = new Promise<void>((r) => (release = r));
      const opts: FakeOptions = {
        targets: ['t'],
        blockAt: 'applyPending',
        unblock,
        failTimes: { [activity]: 1000 },
      };
      const seen = await endedRun(world, opts, {}, async (h) => {
        try {
          await waitForPhase(h, 'apply');
          await h.executeUpdate(abortUpdate, { args: [{ reason: 'wrong target' }] });
        } finally {
          release();
        }
        await waitForPhase(h, 'needs-operator');
        expect((await h.query(statusQuery)).needsOperator?.step).toBe(step);
        await h.executeUpdate(resolveUpdate, { args: [{ action: 'abandon', reason: 'by hand' }] });
      });
      expect(seen.result?.outcome).toBe('failed');
      expect(seen.result?.error).toMatch(
        new RegExp(`^abandoned by operator at ${step}: by hand; last error: `),
      );
      for (const later of after) expect(world.calls).not.toContain(later);
    },
  );

  it.each([
    { when: 'in compensation', opts: { failAt: 'promote' }, rollBack: false },
    { when: 'in a rollback', opts: {}, rollBack: true },
  ] satisfies Array<{ when: string; opts: FakeOptions; rollBack: boolean }>)(
    'a target restore that keeps failing $when parks the run as deliver-restore; abandon skips the rest',
    async ({ opts, rollBack }) => {
      const world = newWorld();
      const fake: FakeOptions = { targets: ['t'], failTimes: { deliverRestore: 1000 }, ...opts };
      const seen = await endedRun(world, fake, { graceMs: DAY_MS }, async (h) => {
        if (rollBack) {
          await waitForPhase(h, 'grace');
          await h.executeUpdate(rollbackUpdate, { args: [{ reason: 'bad deploy' }] });
        }
        await waitForPhase(h, 'needs-operator');
        expect((await h.query(statusQuery)).needsOperator?.step).toBe('deliver-restore');
        await h.executeUpdate(resolveUpdate, { args: [{ action: 'abandon', reason: 'by hand' }] });
      });
      expect(seen.result?.outcome).toBe('failed');
      expect(seen.result?.error).toMatch(/^abandoned by operator at deliver-restore: by hand; last error: /);
      if (rollBack) expect(world.calls).not.toContain('restore');
    },
  );

  it('an emergency rotation is audited as one, from the plan and, when preflight fails, from the input', async () => {
    const world = newWorld();
    await endedRun(world, {}, { graceMs: 0, emergency: true, reason: 'leaked' });
    await endedRun(world, { failAt: 'preflight' }, { emergency: true, reason: 'leaked' });
    expect(world.auditRecords.map((r) => [r.action, r.details.emergency])).toEqual([
      ['rotation-started', true],
      ['rotation-rotated', true],
      ['rotation-failed', true],
    ]);
  });

  it('an input without a usable credential id is refused with no audit record (there is nothing to file it under)', async () => {
    const world = newWorld();
    const seen = await endedRun(world, {}, { credentialId: 42 as never });
    expect(seen.error).toMatch(/^invalid rotation input: credentialId/);
    expect(world.audit).toEqual([]);
  });

  it('cancelled during grace: the run rolls back, as "workflow cancelled"', async () => {
    const world = newWorld();
    const seen = await endedRun(world, {}, { graceMs: DAY_MS }, async (h) => {
      await waitForPhase(h, 'grace');
      await h.cancel();
    });
    expect(seen.result?.outcome).toBe('rolled-back');
    expect(seen.status?.rollbackRequested).toBe('workflow cancelled');
    expect(world.logins).toEqual({ app: 'pw1' });
  });

  it('a rollback during migrate goes straight to rollback: no grace phase', async () => {
    const world = newWorld();
    const seen = await endedRun(world, {}, { graceMs: DAY_MS, migrationTimeoutMs: DAY_MS }, async (h) => {
      await h.signal(consumerHeartbeatSignal, { consumerId: 'api-1', version: 1 });
      await waitForPhase(h, 'migrate');
      await h.executeUpdate(rollbackUpdate, { args: [{ reason: 'bad deploy' }] });
    });
    expect(seen.result?.outcome).toBe('rolled-back');
    expect(seen.status?.phases.map((p) => p.phase).slice(-2)).toEqual(['migrate', 'rollback']);
    expect(phaseMs(seen.status!, 'migrate')).toBeLessThan(60_000); // not held until its timeout
  });

  it('a rollback of a single-password rotation restores the old password at once, without waiting for consumers', async () => {
    const world = newWorld();
    const seen = await endedRun(world, { strategy: 'single' }, { graceMs: DAY_MS }, async (h) => {
      await waitForPhase(h, 'grace');
      await h.signal(consumerHeartbeatSignal, { consumerId: 'pod-1', version: 2 });
      await h.executeUpdate(rollbackUpdate, { args: [{ reason: 'bad deploy' }] });
    });
    expect(seen.result?.outcome).toBe('rolled-back');
    expect(world.calls.slice(world.calls.indexOf('demote'))).toEqual(['demote', 'restore']);
    expect(phaseMs(seen.status!, 'rollback')).toBeLessThan(60_000);
    expect(world.logins).toEqual({ app: 'pw1' });
  });

  // Each step of a rollback that keeps failing parks under its own name; abandoning it ends the
  // run failed and runs none of the steps after it.
  it.each([
    { step: 'demote', fake: { failTimes: { demote: 1000 } }, deliverRestores: 0, restores: 0 },
    { step: 'drain', fake: { failTimes: { countSessions: 1000 } }, deliverRestores: 1, restores: 0 },
    { step: 'restore', fake: { failTimes: { restore: 1000 } }, deliverRestores: 1, restores: 1 },
    {
      step: 'deliver-restore',
      fake: { failAfterCalls: { deliverRestore: 1 } },
      deliverRestores: 2,
      restores: 1,
    },
  ] satisfies Array<{ step: string; fake: FakeOptions; deliverRestores: number; restores: number }>)(
    'a rollback whose $step step is abandoned ends failed; nothing after it runs',
    async ({ step, fake, deliverRestores, restores }) => {
      const world = newWorld();
      const seen = await endedRun(world, { targets: ['t'], ...fake }, { graceMs: DAY_MS }, async (h) => {
        await waitForPhase(h, 'grace');
        await h.executeUpdate(rollbackUpdate, { args: [{ reason: 'bad deploy' }] });
        await waitForPhase(h, 'needs-operator');
        expect((await h.query(statusQuery)).needsOperator?.step).toBe(step);
        await h.executeUpdate(resolveUpdate, { args: [{ action: 'abandon', reason: 'by hand' }] });
      });
      expect(seen.result?.outcome).toBe('failed');
      expect(seen.result?.error).toMatch(new RegExp(`^abandoned by operator at ${step}: by hand`));
      expect(world.calls.filter((c) => c === 'deliverRestore')).toHaveLength(deliverRestores);
      expect(world.calls.filter((c) => c === 'restore')).toHaveLength(restores);
    },
  );

  it('consumer discovery ends early when an operator finishes the grace', async () => {
    const world = newWorld();
    const seen = await endedRun(
      world,
      {},
      { graceMs: DAY_MS, consumerDiscoveryMs: DAY_MS / 2 },
      async (h) => {
        await waitForPhase(h, 'migrate');
        await h.executeUpdate(finishGraceUpdate, { args: [{}] });
      },
    );
    expect(seen.result?.outcome).toBe('rotated');
    expect(phaseMs(seen.status!, 'migrate')).toBeLessThan(60_000);
  });

  it('consumer discovery waits its time for consumers to make themselves known', async () => {
    const world = newWorld();
    const seen = await endedRun(world, {}, { graceMs: 0, consumerDiscoveryMs: 600_000 });
    const ms = phaseMs(seen.status!, 'migrate');
    expect(ms).toBeGreaterThanOrEqual(600_000);
    expect(ms).toBeLessThan(660_000);
  });

  it.each([
    {
      holds: 'until its expiry passes, when it goes silent',
      expiryMs: 600_000,
      timeoutMs: DAY_MS,
      heldMs: 600_000,
    },
    {
      holds: 'until the migration timeout, when it stays behind',
      expiryMs: DAY_MS,
      timeoutMs: 3_600_000,
      heldMs: 3_600_000,
    },
  ])(
    'a consumer on the old version holds migrate $holds; then the run goes on',
    async ({ expiryMs, timeoutMs, heldMs }) => {
      const world = newWorld();
      const seen = await endedRun(
        world,
        {},
        { graceMs: 0, migrationTimeoutMs: timeoutMs, consumerExpiryMs: expiryMs },
        async (h) => {
          await h.signal(consumerHeartbeatSignal, { consumerId: 'api-1', version: 1 });
        },
      );
      expect(seen.result?.outcome).toBe('rotated');
      const ms = phaseMs(seen.status!, 'migrate');
      expect(ms).toBeGreaterThanOrEqual(heldMs);
      expect(ms).toBeLessThan(heldMs + 60_000);
      expect(seen.status!.consumers[0]!.gone).toBe(expiryMs < timeoutMs ? true : undefined);
      if (expiryMs > timeoutMs) {
        expect(capturedLogs.join('\n')).toMatch(
          /migration timeout: consumers still behind .*"behind":\["api-1"\]/,
        );
      }
    },
  );

  it.each([
    ['deliverPending', 5],
    ['deliverCurrent', 5],
  ] as const)(
    'a target that keeps failing %s gives up after %i attempts and the rotation is undone',
    async (step, attempts) => {
      const world = newWorld();
      const before = snapshot(world);
      const seen = await endedRun(
        world,
        { targets: ['t'], retryableFailures: { [step]: attempts } },
        { graceMs: 0 },
      );
      expect(seen.result?.outcome).toBe('failed');
      expect(world.calls.filter((c) => c === step)).toHaveLength(attempts);
      expect(world.calls).toContain('deliverRestore');
      expect(snapshot(world)).toEqual(before);
    },
  );

  it('a target restore that keeps failing parks the run after 20 attempts', async () => {
    const world = newWorld();
    const opts: FakeOptions = {
      targets: ['t'],
      failAt: 'promote',
      retryableFailures: { deliverRestore: 20 },
    };
    const seen = await endedRun(world, opts, { graceMs: 0 }, async (h) => {
      const s = await parkedOrDone(h);
      expect(s.phase).toBe('needs-operator');
      expect(s.needsOperator?.step).toBe('deliver-restore');
      expect(world.calls.filter((c) => c === 'deliverRestore')).toHaveLength(20);
      await h.executeUpdate(resolveUpdate, { args: [{ action: 'retry' }] });
    });
    expect(seen.result?.outcome).toBe('failed');
  });

  it('an announcement that cannot be sent is tried 3 times and changes nothing', async () => {
    const world = newWorld();
    const seen = await endedRun(world, {
      targets: ['t'],
      failAt: 'applyPending',
      retryableFailures: { deliverEvent: 1000 },
    });
    expect(seen.result?.outcome).toBe('failed');
    expect(seen.result?.error).toBe('VerificationError: injected failure in applyPending');
    expect(world.calls.filter((c) => c.startsWith('deliverEvent'))).toEqual(
      Array(3).fill('deliverEvent:failed:VerificationError: injected failure in applyPending'),
    );
    await vi.waitFor(() =>
      expect(capturedLogs.join('\n')).toMatch(
        /delivery: event could not be sent .*"event":"failed","error":"TransientError: injected retryable failure in deliverEvent"/,
      ),
    );
  });

  it('without targets no delivery activity runs, even when the rotation fails or parks', async () => {
    const world = newWorld();
    await endedRun(world, { failAt: 'promote', failAfterEffect: true }, { graceMs: 0 });
    await endedRun(world, { failTimes: { revokeOld: 1 } }, { graceMs: 0 }, async (h) => {
      await waitForPhase(h, 'needs-operator');
      await h.executeUpdate(resolveUpdate, { args: [{ action: 'retry' }] });
    });
    expect(world.calls.filter((c) => c.startsWith('deliver'))).toEqual([]);
  });

  it('with nodes, the replicate step runs between verify and promote, as its own phase', async () => {
    const world = newWorld();
    const seen = await endedRun(world, { nodes: ['replica:5433'], targets: ['t'] }, { graceMs: 0 });
    expect(seen.result?.outcome).toBe('rotated');
    expect(world.calls.slice(3, 6)).toEqual(['verifyPending', 'replicateToNodes', 'deliverPending']);
    expect(seen.status?.phases.map((p) => p.phase).slice(3, 5)).toEqual(['verify', 'replicate']);
  });

  it('a replicate step that keeps failing gives up after 3 attempts and the rotation is undone', async () => {
    const world = newWorld();
    const before = snapshot(world);
    const seen = await endedRun(
      world,
      { nodes: ['replica:5433'], retryableFailures: { replicateToNodes: 3 } },
      { graceMs: 0 },
    );
    expect(seen.result?.outcome).toBe('failed');
    expect(world.calls.filter((c) => c === 'replicateToNodes')).toHaveLength(3);
    expect(world.calls).not.toContain('promote');
    expect(snapshot(world)).toEqual(before);
  });

  it('sessions that do not end hold revoke only for the drain timeout, polled every 5 s', async () => {
    const world = newWorld();
    world.sessions.app = 1000; // would take 1000 polls to end by themselves
    const seen = await endedRun(world, {}, { graceMs: 0, drainTimeoutMs: 12_000 });
    expect(seen.result?.outcome).toBe('rotated');
    // Polls at 0, 5 and 10 s, then at the deadline (12 s): four looks, then revoke.
    expect(world.calls.filter((c) => c === 'countSessions:from')).toHaveLength(4);
    const revoke = phaseMs(seen.status!, 'revoke');
    expect(revoke).toBeGreaterThanOrEqual(12_000);
    expect(revoke).toBeLessThan(20_000);
  });
});
