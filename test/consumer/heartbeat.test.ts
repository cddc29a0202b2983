import { describe, expect, it } from 'vitest';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { HeartbeatReporter, estimateHeartbeatHistory } from '../../src/consumer/heartbeat';
import type { ConsumerHeartbeat, RotationStatus } from '../../src/shared/types';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stand-in for the Temporal client: one workflow that records heartbeats like the tracker does. */
function fakeTemporal() {
  const state = {
    running: true,
    exists: true,
    signals: [] as Array<{ workflowId: string; hb: ConsumerHeartbeat }>,
    phase: 'grace',
    recorded: new Map<string, number>(),
    gate: undefined as Promise<void> | undefined,
    runId: 'run-1',
  };
  const notFound = (id: string) => new WorkflowNotFoundError('workflow not found', id, undefined);
  const client = {
    workflow: {
      getHandle(workflowId: string) {
        return {
          async signal(_def: unknown, hb: ConsumerHeartbeat) {
            const gate = state.gate;
            state.gate = undefined;
            if (gate) await gate;
            if (!state.exists || !state.running) throw notFound(workflowId);
            state.signals.push({ workflowId, hb });
            state.recorded.set(hb.consumerId, hb.version);
          },
          async describe() {
            if (!state.exists) throw notFound(workflowId);
            // Like the tracker: the status (with the consumers it heard from) is in the memo.
            const status: Partial<RotationStatus> = {
              phase: state.phase as RotationStatus['phase'],
              consumers: [...state.recorded].map(([consumerId, version]) => ({
                consumerId,
                version,
                lastSeen: '',
              })),
            };
            return {
              runId: state.runId,
              status: { name: state.running ? 'RUNNING' : 'COMPLETED' },
              memo: { status },
              searchAttributes: { RotationPhase: [state.phase] },
            };
          },
          async query() {
            throw new Error('the reporter must not query (a dead sticky worker corrupts state)');
          },
        };
      },
    },
  } as unknown as Pick<Client, 'workflow'>;
  return { client, state };
}

/** A rotating client stand-in with swap notifications. */
function fakeRotating(version: number) {
  const listeners = new Set<(e: { version: number }) => void>();
  return {
    version,
    onSwap(l: (e: { version: number }) => void) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    swap(v: number) {
      this.version = v;
      for (const l of listeners) l({ version: v });
    },
  };
}

/**
 * A reporter for credential `c` as consumer i-1, attached to a stand-in pool
 * at version 1; `prepare` sets the fake server up before the reporter exists.
 */
function attachedReporter(periodMs: number, prepare: (state: FakeState) => void = () => undefined) {
  const { client, state } = fakeTemporal();
  prepare(state);
  const pool = fakeRotating(1);
  const r = new HeartbeatReporter({ client, credentialId: 'c', consumerId: 'i-1', periodMs }).attach(pool);
  return { state, pool, r };
}
type FakeState = ReturnType<typeof fakeTemporal>['state'];

/** A reporter for credential `c` on a fake Temporal, not attached to a client; `options` override. */
function detachedReporter(options: Partial<ConstructorParameters<typeof HeartbeatReporter>[0]>) {
  const { client, state } = fakeTemporal();
  const r = new HeartbeatReporter({ client, credentialId: 'c', ...options });
  return { state, r };
}

describe('HeartbeatReporter', () => {
  it('signals the rotation workflow of the credential at once, and again at once on a version change', async () => {
    const { client, state } = fakeTemporal();
    const pool = fakeRotating(1);
    const r = new HeartbeatReporter({
      client,
      credentialId: 'orders/app',
      consumerId: 'i-1',
      periodMs: 60_000,
    }).attach(pool);
    await r.flush();
    pool.swap(2);
    await r.flush();
    expect(state.signals).toEqual([
      { workflowId: 'rotate/orders/app', hb: { consumerId: 'i-1', version: 1 } },
      { workflowId: 'rotate/orders/app', hb: { consumerId: 'i-1', version: 2 } },
    ]);
    await r.stop();
  });

  it('periodic reports: none within a period of the last signal, none to a run that has our report, at once to a new run', async () => {
    const { state, r } = attachedReporter(40);
    await r.flush();
    await sleep(220);
    await r.flush();
    // The change signal went to "the latest run"; its memo lists us, so describe alone suffices.
    expect(state.signals).toHaveLength(1);
    expect(r.stats.skippedRecorded).toBeGreaterThanOrEqual(2);
    // A new rotation run knows nobody: the next tick announces us, without asking it first.
    state.runId = 'run-2';
    state.recorded.clear();
    await sleep(100);
    await r.flush();
    expect(state.signals).toHaveLength(2);
    await sleep(100);
    expect(state.signals).toHaveLength(2);
    await r.stop();
  });

  it('while the rotation waits on consumers (migrate) it reports every period, so it is not counted as gone', async () => {
    const { state, r } = attachedReporter(40, (st) => (st.phase = 'migrate'));
    await r.flush();
    await sleep(230);
    await r.flush();
    const during = state.signals.length;
    expect(during).toBeGreaterThanOrEqual(4);
    // Grace: listed at this version, so periodic reports stop.
    state.phase = 'grace';
    await sleep(150);
    await r.flush();
    expect(state.signals.length).toBeLessThanOrEqual(during + 1);
    await r.stop();
  });

  it('a change signal that the running run does not list (it went to an earlier run) is repeated', async () => {
    const { state, r } = attachedReporter(40);
    await r.flush();
    state.recorded.clear(); // the run that got it has ended; another one is running now
    state.runId = 'run-2';
    await sleep(100);
    await r.flush();
    expect(state.signals.map((x) => x.hb.version)).toEqual([1, 1]);
    await r.stop();
  });

  it('without confirmByQuery it signals once per period (bounded only by the period)', async () => {
    const { state, r } = detachedReporter({ consumerId: 'i-1', periodMs: 40, confirmByQuery: false });
    r.setVersion(3);
    r.start();
    await sleep(230);
    await r.stop();
    expect(state.signals.length).toBeGreaterThanOrEqual(3);
    expect(state.signals.length).toBeLessThanOrEqual(7);
  });

  it('a change already reported by a periodic tick is not signalled twice', async () => {
    let open!: () => void;
    // The first signal hangs for a while.
    const { state, pool, r } = attachedReporter(
      30,
      (st) => (st.gate = new Promise<void>((resolve) => (open = resolve))),
    );
    await sleep(45); // periodic ticks queue up behind the hanging signal...
    pool.swap(2); // ...and the change is queued after them
    open();
    await sleep(20);
    await r.flush();
    // The first tick already reports version 2; the queued change finds it sent.
    expect(state.signals.map((s) => s.hb.version)).toEqual([1, 2]);
    await r.stop();
  });

  it('no rotation running (not found, or finished) is normal: quiet, no error, no signal', async () => {
    const warnings: unknown[] = [];
    const { state, r } = detachedReporter({ periodMs: 30, logger: { warn: (o) => warnings.push(o) } });
    state.exists = false;
    r.setVersion(1);
    r.start();
    await sleep(100);
    state.exists = true;
    state.running = false;
    await sleep(100);
    await r.stop();
    expect(state.signals).toHaveLength(0);
    expect(r.stats.errors).toBe(0);
    expect(r.stats.noRotation).toBeGreaterThanOrEqual(3);
    expect(warnings).toEqual([]);
    expect(r.consumerId).toMatch(/-\d+-[0-9a-f]{6}$/);
  });

  it('other failures are counted and logged at most once per period, never thrown', async () => {
    const client = {
      workflow: {
        getHandle: () => ({
          signal: async () => {
            throw new Error('UNAVAILABLE: connection refused');
          },
        }),
      },
    } as unknown as Pick<Client, 'workflow'>;
    const warnings: unknown[] = [];
    const r = new HeartbeatReporter({
      client,
      credentialId: 'c',
      periodMs: 10_000,
      logger: { warn: (o) => warnings.push(o) },
    });
    r.setVersion(1);
    r.setVersion(2);
    r.setVersion(3);
    await r.flush();
    expect(r.stats.errors).toBe(3);
    expect(warnings).toHaveLength(1);
    await r.stop();
  });

  it('estimates the history a grace period costs', () => {
    const day = 24 * 60 * 60 * 1000;
    // Default period (60 s), 24 h grace, 10 consumers, signalling every period: 14,410 signals, beyond Temporal's limits.
    expect(estimateHeartbeatHistory({ consumers: 10, graceMs: day, confirmByQuery: false })).toEqual({
      signals: 14_410,
      events: 57_640,
    });
    // Confirming by query first: about two signals per consumer per rotation, whatever the grace.
    expect(estimateHeartbeatHistory({ consumers: 10, graceMs: day, confirmByQuery: true })).toEqual({
      signals: 20,
      events: 80,
    });
  });
});
