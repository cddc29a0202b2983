/**
 * Operator messages against the real dev server (workflow logic with the
 * in-memory world; the activities themselves are tested elsewhere).
 *
 * Issue 11, item 3: every operator control is an Update whose validator
 * rejects malformed or ill-timed requests without writing history, in every
 * phase; heartbeats never fail the run; status always answers; the rotation
 * still completes. Item 6: a step after promote that keeps failing parks the
 * run as needs-operator until `resolve`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { rotationWorkflowId } from '../../src/shared/constants';
import { consumerHeartbeatSignal, statusQuery } from '../../src/shared/messages';
import type { Phase, RotationResult, RotationStatus } from '../../src/shared/types';
import type { RotationActivities } from '../../src/shared/activities';
import { TestWorkflowEnvironment as TestEnv } from '@temporalio/testing';
import { PrivateTemporal } from '../helpers/faults';
import { createTestWorker, devServerEnv, uniqueTaskQueue } from '../helpers/temporal';
import { fakeActivities, newWorld, type FakeOptions, type FakeWorld } from './fake-world';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await devServerEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Malformed for every operator message: wrong types, shapes, sizes and unknown fields. */
const JUNK: unknown[] = [
  null,
  0,
  1,
  -1,
  NaN, // JSON null
  Infinity, // JSON null
  1e16,
  true,
  false,
  '',
  'abort',
  '3600000',
  '{}',
  [],
  [1],
  [{}],
  [{ reason: 'x' }],
  { reason: 5 },
  { reason: null },
  { reason: {} },
  { reason: ['a'] },
  { reason: true },
  { by: 7 },
  { by: [] },
  { by: {} },
  { reason: 'x', by: null },
  { reason: 'a'.repeat(1001) },
  { by: 'b'.repeat(201) },
  { unknown: 1 },
  { reason: 'ok', extra: true },
  { Reason: 'typo' },
  { byMs: 3_600_000, reason: 'mixed up messages' },
  { action: 'retry', reason: 'x', bogus: 1 },
];

/** Malformed for extendGrace beyond JUNK: missing, wrong unit, out of range. */
const BAD_EXTEND: unknown[] = [
  ...JUNK,
  {},
  { byMs: 0 },
  { byMs: -1 },
  { byMs: -3_600_000 },
  { byMs: 999 },
  { byMs: 1.5 },
  { byMs: 1e16 },
  { byMs: Number.MAX_SAFE_INTEGER },
  { byMs: '3600000' },
  { byMs: null },
  { byMs: NaN },
  { byMs: [3_600_000] },
  { byMs: { ms: 1 } },
  { bymS: 3_600_000 },
  { byMs: 3_600_000, extra: 1 },
];

/** Malformed for resolve beyond JUNK. */
const BAD_RESOLVE: unknown[] = [
  ...JUNK,
  {},
  { action: 'maybe' },
  { action: 'RETRY' },
  { action: 1 },
  { action: null },
  { action: 'abandon' }, // no reason
  { action: 'abandon', reason: '' },
  { action: ['retry'] },
  { action: 'retry', reason: 7 },
];

const MESSAGES: Array<[string, unknown[]]> = [
  ['abort', JUNK],
  ['rollback', JUNK],
  ['finishGrace', JUNK],
  ['extendGrace', BAD_EXTEND],
  ['resolve', BAD_RESOLVE],
];

/** Malformed heartbeats: the handler must ignore each without failing the run. */
const BAD_HEARTBEATS: unknown[] = [
  ...JUNK,
  {},
  { consumerId: 1, version: 1 },
  { consumerId: '', version: 1 },
  { consumerId: 'x'.repeat(201), version: 1 },
  { consumerId: 'a', version: '2' },
  { consumerId: 'a', version: -1 },
  { consumerId: 'a', version: 1.5 },
  { consumerId: 'a', version: 1e300 },
  { consumerId: 'a' },
  { version: 2 },
];

/** Sends every payload of every message; each must be rejected, and history must not grow. */
async function expectAllRejected(h: WorkflowHandle, phase: string, extra: Array<[string, unknown]> = []) {
  const before = (await h.describe()).historyLength;
  const sends: Array<[string, unknown]> = [
    ...MESSAGES.flatMap(([name, payloads]) => payloads.map((p) => [name, p] as [string, unknown])),
    ...extra,
  ];
  expect(sends.length).toBeGreaterThanOrEqual(5 * 30);
  const accepted: string[] = [];
  for (let i = 0; i < sends.length; i += 10) {
    await Promise.all(
      sends.slice(i, i + 10).map(async ([name, payload]) => {
        try {
          await h.executeUpdate(name, { args: [payload] });
          accepted.push(`${name} ${JSON.stringify(payload)}`);
        } catch (err) {
          if (!(err instanceof WorkflowUpdateFailedError)) throw err;
          // The rejection names the problem (the validator's message), never echoes the payload.
          expect(String((err.cause as Error).message)).toMatch(
            /invalid request|refused in phase|needs a reason/,
          );
        }
      }),
    );
  }
  expect(accepted, `accepted in phase ${phase}`).toEqual([]);
  expect((await h.describe()).historyLength, `history grew in phase ${phase}`).toBe(before);
  // Status always answers, both ways.
  const status = (await h.query(statusQuery)) as RotationStatus;
  expect(status.phase).toBe(phase);
  expect(((await h.describe()).memo?.status as RotationStatus).phase).toBe(phase);
}

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

async function waitForPhase(h: WorkflowHandle, phase: Phase, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const s = (await h.describe()).memo?.status as RotationStatus | undefined;
    if (s?.phase === phase) return;
    await sleep(50);
  }
  throw new Error(`phase ${phase} not reached`);
}

async function withWorld(
  world: FakeWorld,
  opts: FakeOptions,
  fn: (worker: Worker, taskQueue: string) => Promise<void>,
): Promise<void> {
  const taskQueue = uniqueTaskQueue('opmsg');
  const worker = await createTestWorker(env, { taskQueue, activities: fakeActivities(world, opts) });
  await worker.runUntil(() => fn(worker, taskQueue));
}

describe('operator messages are Updates with validators (dev server)', () => {
  it('≥30 malformed payloads per message in every phase: all rejected, no history written, status answers, the rotation completes', async () => {
    const world = newWorld();
    const gates = {
      preflight: gate(),
      applyPending: gate(),
      verifyPending: gate(),
      countSessions: gate(),
    };
    const opts: FakeOptions = {
      gates: Object.fromEntries(Object.entries(gates).map(([k, g]) => [k, g.p])) as FakeOptions['gates'],
    };
    await withWorld(world, opts, async (_w, taskQueue) => {
      const credentialId = `opmsg-${taskQueue}`;
      const h = await env.client.workflow.start('rotateCredential', {
        args: [{ credentialId, consumerDiscoveryMs: 0 }],
        taskQueue,
        workflowId: rotationWorkflowId(credentialId),
      });
      const wrongPhase: Array<[string, unknown]> = [
        ['finishGrace', {}],
        ['resolve', { action: 'retry' }],
      ];

      await waitForPhase(h, 'preflight');
      await expectAllRejected(h, 'preflight', wrongPhase);
      gates.preflight.open();

      await waitForPhase(h, 'apply');
      await expectAllRejected(h, 'apply', wrongPhase);
      // A consumer still on v1 holds migrate until it reports v2.
      await h.signal(consumerHeartbeatSignal, { consumerId: 'api-1', version: 1 });
      gates.applyPending.open();

      await waitForPhase(h, 'verify');
      await expectAllRejected(h, 'verify', wrongPhase);
      gates.verifyPending.open();

      await waitForPhase(h, 'migrate');
      await expectAllRejected(h, 'migrate', [['resolve', { action: 'retry' }]]);
      for (const hb of BAD_HEARTBEATS) await h.signal(consumerHeartbeatSignal, hb as never);
      // extendGrace during migrate is not lost: it lengthens the grace to come.
      const reply = await h.executeUpdate<{ phase: string; accepted: string }, [unknown]>('extendGrace', {
        args: [{ byMs: 3_600_000 }],
      });
      expect(reply).toMatchObject({ phase: 'migrate' });
      const migrateStatus = (await h.query(statusQuery)) as RotationStatus;
      expect(migrateStatus.consumers.map((c) => c.consumerId)).toEqual(['api-1']);
      await h.signal(consumerHeartbeatSignal, { consumerId: 'api-1', version: 2 });

      await waitForPhase(h, 'grace');
      const grace = (await h.query(statusQuery)) as RotationStatus;
      const graceStart = Date.parse(grace.phases.find((p) => p.phase === 'grace')!.startedAt);
      const graceMs = Date.parse(grace.graceDeadline!) - graceStart;
      expect(graceMs).toBeGreaterThanOrEqual(25 * 3_600_000 - 5_000);
      expect(graceMs).toBeLessThanOrEqual(25 * 3_600_000 + 5_000);
      await expectAllRejected(h, 'grace', [['resolve', { action: 'retry' }]]);
      await h.executeUpdate('finishGrace', { args: [{ by: 'test' }] });

      await waitForPhase(h, 'revoke');
      await expectAllRejected(h, 'revoke', [
        ['abort', {}],
        ['rollback', { reason: 'too late' }],
        ['extendGrace', { byMs: 60_000 }],
        ['finishGrace', {}],
      ]);
      gates.countSessions.open();

      const result = (await h.result()) as RotationResult;
      expect(result.outcome).toBe('rotated');
      expect(world.logins).toEqual({ app_b: 'pw2' });
      // After the run: an Update has no run to reach.
      await expect(h.executeUpdate('abort', { args: [{}] })).rejects.toThrow();
    });
  }, 240_000);

  it('heartbeats beyond the cap are counted, not stored; a silent consumer expires and stops holding migrate', async () => {
    const world = newWorld();
    const held = gate();
    await withWorld(world, { gates: { preflight: held.p } }, async (_w, taskQueue) => {
      const credentialId = `opcap-${taskQueue}`;
      const h = await env.client.workflow.start('rotateCredential', {
        args: [
          {
            credentialId,
            consumerDiscoveryMs: 0,
            maxConsumers: 5,
            consumerExpiryMs: 4_000,
            migrationTimeoutMs: 3_600_000,
          },
        ],
        taskQueue,
        workflowId: rotationWorkflowId(credentialId),
      });
      for (let i = 0; i < 8; i++)
        await h.signal(consumerHeartbeatSignal, { consumerId: `c-${i}`, version: 1 });
      held.open();
      await waitForPhase(h, 'migrate');
      const s = (await h.query(statusQuery)) as RotationStatus;
      expect(s.consumers).toHaveLength(5);
      expect(s.consumersOverflow).toBe(3);
      // Nobody moves to v2; they all fall silent. Migrate must end by expiry, not by its 1 h timeout.
      const started = Date.now();
      await waitForPhase(h, 'grace', 30_000);
      expect(Date.now() - started).toBeLessThan(25_000);
      const g = (await h.query(statusQuery)) as RotationStatus;
      expect(g.consumers.every((c) => c.gone)).toBe(true);
      expect(g.consumersBehind).toEqual([]);
      await h.executeUpdate('finishGrace', { args: [{}] });
      expect(((await h.result()) as RotationResult).outcome).toBe('rotated');
    });
  }, 90_000);

  for (const [step, decision] of [
    ['revokeOld', 'retry'],
    ['revokeOld', 'abandon'],
    ['restore', 'retry'],
  ] as Array<[keyof RotationActivities, 'retry' | 'abandon']>) {
    it(`a permanently failing ${step} parks the run as needs-operator; resolve ${decision} ${decision === 'retry' ? 'finishes it' : 'ends it as failed with the cause'}`, async () => {
      const world = newWorld();
      await withWorld(world, { failTimes: { [step]: 1 } }, async (_w, taskQueue) => {
        const credentialId = `oppark-${taskQueue}`;
        const h = await env.client.workflow.start('rotateCredential', {
          args: [{ credentialId, consumerDiscoveryMs: 0, graceMs: step === 'restore' ? 3_600_000 : 0 }],
          taskQueue,
          workflowId: rotationWorkflowId(credentialId),
        });
        if (step === 'restore') {
          await waitForPhase(h, 'grace');
          await h.executeUpdate('rollback', { args: [{ reason: 'bad deploy', by: 'test' }] });
        }
        await waitForPhase(h, 'needs-operator');
        const d = await h.describe();
        expect(d.searchAttributes?.RotationPhase).toEqual(['needs-operator']);
        const parked = d.memo?.status as RotationStatus;
        expect(parked.needsOperator).toMatchObject({ step: step === 'revokeOld' ? 'revoke' : 'restore' });
        expect(parked.needsOperator!.error).toContain(`injected failure in ${step}`);
        expect(world.audit).toContain('rotation-needs-operator');
        // Only resolve gets through now; its malformed forms do not.
        await expectAllRejected(h, 'needs-operator', [
          ['abort', {}],
          ['rollback', {}],
          ['finishGrace', {}],
        ]);
        await h.executeUpdate('resolve', {
          args: [
            decision === 'retry' ? { action: 'retry' } : { action: 'abandon', reason: 'db decommissioned' },
          ],
        });
        const result = (await h.result()) as RotationResult;
        if (decision === 'retry') {
          expect(result.outcome).toBe(step === 'restore' ? 'rolled-back' : 'rotated');
          // The failure was dealt with: it is not the outcome's cause.
          expect(result.error).toBeUndefined();
        } else {
          expect(result.outcome).toBe('failed');
          expect(result.error).toContain('abandoned by operator at revoke: db decommissioned');
          expect(result.error).toContain(`injected failure in ${step}`);
        }
        expect(world.audit[world.audit.length - 1]).toBe(`rotation-${result.outcome}`);
        expect(world.audit).toContain(`rotation-operator-${decision}`);
      });
    }, 90_000);
  }
});

describe('two resolves that reach the run together', () => {
  it('the first decides; the second is refused, though the run has not woken up yet', async () => {
    // Both Updates wait while no worker polls; the next worker gets them in one workflow task, where
    // the first one's decision is taken but the run is still parked.
    const world = newWorld();
    const opts: FakeOptions = { failTimes: { revokeOld: 1 } };
    const taskQueue = uniqueTaskQueue('opresolve');
    const credentialId = `opresolve-${taskQueue}`;
    const worker = () => createTestWorker(env, { taskQueue, activities: fakeActivities(world, opts) });
    const h = await env.client.workflow.start('rotateCredential', {
      args: [{ credentialId, consumerDiscoveryMs: 0, graceMs: 0 }],
      taskQueue,
      workflowId: rotationWorkflowId(credentialId),
    });
    await (await worker()).runUntil(() => waitForPhase(h, 'needs-operator'));
    const retry = h.executeUpdate('resolve', { args: [{ action: 'retry' }] });
    const abandon = h.executeUpdate('resolve', { args: [{ action: 'abandon', reason: 'late second' }] });
    await sleep(1000); // both admitted by the server before a worker polls again
    const { settled, result } = await (
      await worker()
    ).runUntil(async () => ({
      settled: await Promise.allSettled([retry, abandon]),
      result: (await h.result()) as RotationResult,
    }));
    expect(settled.map((x) => x.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected')!;
    expect(refused.reason).toMatchObject({
      cause: {
        message: expect.stringMatching(
          /^resolve: refused in phase \S+: the run is not waiting for an operator$/,
        ),
      },
    });
    // The run did what the accepted one said.
    expect(result.outcome).toBe(settled[0]!.status === 'fulfilled' ? 'rotated' : 'failed');
  }, 90_000);
});

describe('start input is checked by the workflow itself', () => {
  it('a start around our CLI with bad durations fails at once, naming every problem, touching nothing', async () => {
    const world = newWorld();
    await withWorld(world, {}, async (_w, taskQueue) => {
      const credentialId = `badinput-${taskQueue}`;
      const h = await env.client.workflow.start('rotateCredential', {
        args: [{ credentialId, graceMs: '5m', drainTimeoutMs: -1, maxConsumers: 0 } as never],
        taskQueue,
        workflowId: rotationWorkflowId(credentialId),
      });
      const err = await h.result().then(
        () => undefined,
        (e: unknown) => e as Error & { cause?: Error },
      );
      expect(err?.cause?.message).toMatch(/invalid rotation input: .*graceMs.*drainTimeoutMs.*maxConsumers/);
      expect(world.calls).toEqual([]);
      expect(world.audit).toEqual(['rotation-failed']);
      expect(((await h.describe()).memo?.status as RotationStatus).lastError).toMatch(/^ConfigError: /);
    });
  }, 60_000);
});

describe('heartbeats cannot lock operators out (server signal limit lowered)', () => {
  it('with maximumSignalsPerExecution = 20 used up by heartbeats, extendGrace and finishGrace still get through and the rotation completes', async () => {
    const server = await PrivateTemporal.start({ 'history.maximumSignalsPerExecution': 20 });
    const privateEnv = await TestEnv.createFromExistingServer({ address: server.address });
    try {
      const world = newWorld();
      const taskQueue = uniqueTaskQueue('siglimit');
      const worker = await createTestWorker(privateEnv, { taskQueue, activities: fakeActivities(world) });
      await worker.runUntil(async () => {
        const credentialId = `siglimit-${taskQueue}`;
        const h = await privateEnv.client.workflow.start('rotateCredential', {
          args: [{ credentialId, consumerDiscoveryMs: 0, graceMs: 3_600_000 }],
          taskQueue,
          workflowId: rotationWorkflowId(credentialId),
        });
        await waitForPhase(h, 'grace');
        let refused = 0;
        for (let i = 0; i < 30; i++) {
          try {
            await h.signal(consumerHeartbeatSignal, { consumerId: `c-${i % 4}`, version: 2 });
          } catch {
            refused++;
          }
        }
        // The server refused heartbeats past its limit: the budget is gone.
        expect(refused).toBeGreaterThanOrEqual(10);
        const extended = await h.executeUpdate<{ graceDeadline?: string }, [unknown]>('extendGrace', {
          args: [{ byMs: 60_000 }],
        });
        expect(extended.graceDeadline).toBeDefined();
        await h.executeUpdate('finishGrace', { args: [{ by: 'test' }] });
        expect(((await h.result()) as RotationResult).outcome).toBe('rotated');
      });
    } finally {
      await privateEnv.teardown();
      await server.close();
    }
  }, 120_000);
});
