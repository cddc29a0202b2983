import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GatewayHeartbeatReporter } from '../../src/consumer/gateway-heartbeat';
import { heartbeatToken, startHeartbeatGateway, type HeartbeatGateway } from '../../src/heartbeat-gateway';
import { statusQuery } from '../../src/shared/messages';
import { addDualUserApp } from '../helpers/pg-rig';
import { withPgRig } from '../helpers/with-pg-rig';

describe('heartbeats without master keys: the worker-side gateway with per-credential tokens', () => {
  const t = withPgRig();
  const key = randomBytes(32);
  let gateway: HeartbeatGateway;
  let credentialId: string;
  let url: string;

  beforeEach(async () => {
    gateway = await startHeartbeatGateway({ client: t.rig.client, key });
    url = `http://127.0.0.1:${gateway.port}/v1/heartbeat`;
    const app = await t.pg.createLogin('app', 'initial-Pw-1');
    credentialId = await addDualUserApp(t.rig, t.pg, {
      login: app,
      password: 'initial-Pw-1',
      idPrefix: 'pg-hb',
    });
  });
  afterEach(async () => {
    await gateway?.close();
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
      const handle = await t.rig.start({
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
