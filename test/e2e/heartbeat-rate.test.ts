import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { encryptedDataConverter } from '../../src/codec';
import { GatewayHeartbeatReporter } from '../../src/consumer/gateway-heartbeat';
import { HeartbeatReporter } from '../../src/consumer/heartbeat';
import { StoreSource } from '../../src/consumer/store-source';
import { heartbeatToken, startHeartbeatGateway } from '../../src/heartbeat-gateway';
import { productionActivities } from '../../src/runtime';
import { generateKeyBase64, parseKeyring } from '../../src/store/crypto';
import type { RotationResult } from '../../src/shared/types';
import { freshPg, type PgNamespace } from '../helpers/pg';
import { addPgAppWithAdmin } from '../helpers/pg-app';
import { createRotationRig, startRotation, type RotationRig } from '../helpers/rotation';
import { uniqueSuffix } from '../helpers/services';
import { createTestWorker, devServerEnv, encryptedClient, uniqueTaskQueue } from '../helpers/temporal';
import { recordCodecKey } from '../helpers/leak-ledger';

// Reviewer finding left from #11: consumers that cannot read the rotation's
// (encrypted) memo must still report at the intended rate — about one report
// per version per run, plus one per period only while the rotation waits on
// consumers (migrate, rollback) — not once per period for the whole grace.
// Two such consumers: a Temporal client whose codec keyring lacks the key the
// memo is written with (a codec key rotation in progress), and the heartbeat
// gateway (an application with no codec at all).

const PERIOD_MS = 100;
const GRACE_MS = 3_000;

describe('heartbeat rate of consumers that cannot read the memo', () => {
  let env: TestWorkflowEnvironment;
  let rig: RotationRig;
  let pg: PgNamespace;
  const closers: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    env = await devServerEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  it('a client lacking the active codec key, and the gateway, signal about as often as a full client', async () => {
    pg = await freshPg();
    closers.push(() => pg.cleanup());
    rig = await createRotationRig(env);
    closers.push(() => rig.close());
    const { id: credentialId } = await addPgAppWithAdmin(rig, pg, 'hb-rate', {
      verifyChecks: ['SELECT pg_sleep(0.5)'],
    });

    // Our own worker: codec keyring "new" (active) + "old"; a consumer still configured with "old" only.
    const oldKey = `old:${generateKeyBase64()}`;
    const newKey = `new:${generateKeyBase64()}`;
    recordCodecKey(oldKey);
    recordCodecKey(newKey);
    const workerKeyring = parseKeyring(`${newKey},${oldKey}`);
    const taskQueue = uniqueTaskQueue('hb-rate');
    const worker: Worker = await createTestWorker(env, {
      taskQueue,
      activities: productionActivities(rig.store, 'test-worker'),
      keyring: workerKeyring,
    });
    const running = worker.run();
    closers.push(async () => {
      worker.shutdown();
      await running;
    });
    const fullClient = encryptedClient(env, workerKeyring);
    const oldClient = new Client({
      connection: env.connection,
      namespace: env.namespace ?? 'default',
      dataConverter: encryptedDataConverter(parseKeyring(oldKey)),
    });
    const gatewayKey = Buffer.alloc(32, 7);
    const gateway = await startHeartbeatGateway({ client: fullClient, key: gatewayKey });
    closers.push(() => gateway.close());

    const prefix = `hb-${uniqueSuffix()}`;
    const sources = [0, 1, 2].map(() => new StoreSource({ store: rig.store, credentialId, ttlMs: 200 }));
    closers.push(() => Promise.all(sources.map((s) => s.close())));
    const full = new HeartbeatReporter({
      client: fullClient,
      credentialId,
      consumerId: `${prefix}-full`,
      periodMs: PERIOD_MS,
    });
    const lacking = new HeartbeatReporter({
      client: oldClient,
      credentialId,
      consumerId: `${prefix}-lacking`,
      periodMs: PERIOD_MS,
    });
    const viaGateway = new GatewayHeartbeatReporter({
      url: `http://127.0.0.1:${gateway.port}/v1/heartbeat`,
      token: heartbeatToken(gatewayKey, credentialId),
      credentialId,
      consumerId: `${prefix}-gateway`,
      periodMs: PERIOD_MS,
    });
    sources[0]!.subscribe((c) => full.setVersion(c.version));
    sources[1]!.subscribe((c) => lacking.setVersion(c.version));
    sources[2]!.subscribe((c) => viaGateway.setVersion(c.version));
    await Promise.all(sources.map((s) => s.current()));
    full.start();
    lacking.start();
    viaGateway.attach({ version: (await sources[2]!.current()).version, onSwap: () => () => undefined });
    closers.push(async () => {
      await full.stop();
      await lacking.stop();
      await viaGateway.stop();
    });

    const handle = await startRotation(fullClient, taskQueue, {
      credentialId,
      graceMs: GRACE_MS,
      drainTimeoutMs: 0,
      migrationTimeoutMs: 30_000,
    });
    const result = (await handle.result()) as RotationResult;
    expect(result.outcome).toBe('rotated');
    await full.stop();
    await lacking.stop();
    await viaGateway.stop();

    const events = (await handle.fetchHistory()).events ?? [];
    const signals = events.filter((e) => e.workflowExecutionSignaledEventAttributes).length;
    const gatewaySignals = signals - full.stats.signals - lacking.stats.signals;
    // 30 periods of grace alone: a consumer signalling every period sends well over this bound.
    const bound = GRACE_MS / PERIOD_MS / 2;
    expect(full.stats.signals).toBeLessThanOrEqual(bound);
    expect(lacking.stats.signals).toBeLessThanOrEqual(bound);
    expect(gatewaySignals).toBeLessThanOrEqual(bound);
  });
});
