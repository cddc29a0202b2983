import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { GatewayHeartbeatReporter } from '../../src/consumer/gateway-heartbeat';
import { heartbeatToken, startHeartbeatGateway, type HeartbeatGateway } from '../../src/heartbeat-gateway';
import { statusQuery } from '../../src/shared/messages';
import { freshPg, type PgNamespace } from '../helpers/pg';
import { createRotationRig, uniqueCredentialId, type RotationRig } from '../helpers/rotation';
import { services } from '../helpers/services';
import { devServerEnv } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await devServerEnv();
});
afterAll(async () => {
  await env?.teardown();
});

describe('heartbeats without master keys: the worker-side gateway with per-credential tokens', () => {
  const key = randomBytes(32);
  let pg: PgNamespace;
  let rig: RotationRig;
  let gateway: HeartbeatGateway;
  let credentialId: string;
  let url: string;

  beforeEach(async () => {
    pg = await freshPg();
    rig = await createRotationRig(env);
    gateway = await startHeartbeatGateway({ client: rig.client, key });
    url = `http://127.0.0.1:${gateway.port}/v1/heartbeat`;
    const app = await pg.createLogin('app', 'initial-Pw-1');
    const adminId = uniqueCredentialId('admin');
    credentialId = uniqueCredentialId('pg-hb');
    const where = { engine: 'postgres' as const, host: services.postgres.host, port: services.postgres.port };
    await rig.addCredential(
      { id: adminId, ...where, database: pg.database },
      { username: services.postgres.user, password: services.postgres.password },
    );
    await rig.addCredential(
      {
        id: credentialId,
        ...where,
        database: pg.database,
        adminCredentialId: adminId,
        strategy: 'dual-user',
      },
      { username: app, password: 'initial-Pw-1' },
    );
  });
  afterEach(async () => {
    await gateway?.close();
    await rig?.close();
    await pg?.cleanup();
  });

  const post = (token: string, body: unknown) =>
    fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then((r) => r.status);

  it('refuses a wrong token, another credential’s token and a malformed report; 404 when no rotation runs', async () => {
    const mine = heartbeatToken(key, credentialId);
    const report = { credentialId, consumerId: 'c1', version: 1 };
    expect(await post(mine, report)).toBe(404);
    expect(await post('x'.repeat(mine.length), report)).toBe(401);
    expect(await post(heartbeatToken(key, 'other/credential'), report)).toBe(401);
    expect(await post(heartbeatToken(randomBytes(32), credentialId), report)).toBe(401);
    expect(await post(mine, { ...report, version: 'one' })).toBe(400);
    expect(await post(mine, { ...report, action: 'rollback' })).toBe(400);
  });

  it('the rotation waits for a consumer that reports through the gateway, and goes on when it moved', async () => {
    const consumer = { version: 1, listeners: [] as Array<(e: { version: number }) => void> };
    const versioned = {
      get version() {
        return consumer.version;
      },
      onSwap(l: (e: { version: number }) => void) {
        consumer.listeners.push(l);
        return () => undefined;
      },
    };
    const reporter = new GatewayHeartbeatReporter({
      url,
      token: heartbeatToken(key, credentialId),
      credentialId,
      consumerId: 'app-instance-1',
      periodMs: 300,
    }).attach(versioned);
    try {
      const handle = await rig.start({
        credentialId,
        graceMs: 0,
        drainTimeoutMs: 0,
        consumerDiscoveryMs: 1500,
        migrationTimeoutMs: 60_000,
      });
      let behind: string[] = [];
      for (let i = 0; i < 200; i++) {
        const s = await handle.query(statusQuery);
        behind = s.consumersBehind;
        if (s.phase === 'migrate' && behind.includes('app-instance-1')) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(behind).toContain('app-instance-1'); // known through the gateway, and still on version 1
      await new Promise((r) => setTimeout(r, 1000));
      expect((await handle.query(statusQuery)).phase).toBe('migrate'); // waits for it
      const movedAt = Date.now();
      consumer.version = 2;
      for (const l of consumer.listeners) l({ version: 2 });
      expect((await handle.result()).outcome).toBe('rotated');
      expect(Date.now() - movedAt).toBeLessThan(15_000); // far before the 60 s migration timeout
      expect(reporter.stats.sent).toBeGreaterThan(1);
      expect(reporter.stats.errors).toBe(0);
    } finally {
      await reporter.stop();
    }
  });
});
