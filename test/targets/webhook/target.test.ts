import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { webhookTargetSchema } from '../../../src/targets/schema';
import type { DeliveryStep } from '../../../src/targets/target';
import { WebhookTarget } from '../../../src/targets/webhook';
import { startReceiver, type Receiver } from '../../helpers/webhook-receiver';

const step: DeliveryStep = {
  credentialId: 'orders/app',
  strategy: 'dual-user',
  fromVersion: 1,
  toVersion: 2,
  fromUsername: 'app',
  toUsername: 'app_b',
  runId: 'run-1',
  from: {
    version: 1,
    engine: 'postgres',
    host: 'h',
    port: 1,
    username: 'app',
    password: 'OLD-SECRET-pw',
    createdAt: 'x',
  },
  to: {
    version: 2,
    engine: 'postgres',
    host: 'h',
    port: 1,
    username: 'app_b',
    password: 'NEW-SECRET-pw',
    createdAt: 'y',
  },
};

describe('webhook target (local receiver checking signatures)', () => {
  const key = randomBytes(32);
  let receiver: Receiver;
  const env = { HOOK_KEY: `whsec_${key.toString('base64')}` };
  const target = (extra: Record<string, unknown> = {}) =>
    new WebhookTarget(
      webhookTargetSchema.parse({
        type: 'webhook',
        url: receiver.url,
        signingSecretEnv: 'HOOK_KEY',
        ...extra,
      }),
      env,
    );

  beforeEach(async () => {
    receiver = await startReceiver(key);
  });
  afterEach(async () => {
    await receiver.close();
  });

  it('posts signed CloudEvents in lifecycle order, without any secret', async () => {
    const t = target();
    await t.publishPending(step);
    await t.publishCurrent(step);
    await t.removeOld(step);
    await t.notify('needs-operator', step, 'revoke keeps failing');
    expect(receiver.badSignatures).toBe(0);
    expect(receiver.events.map((e) => e.type)).toEqual([
      'io.db-rotator.rotation.pending',
      'io.db-rotator.rotation.promoted',
      'io.db-rotator.rotation.revoked',
      'io.db-rotator.rotation.needs-operator',
    ]);
    expect(receiver.events[0]).toMatchObject({
      specversion: '1.0',
      source: 'db-rotator/credentials/orders%2Fapp',
      subject: 'orders/app',
      datacontenttype: 'application/json',
      data: { credentialId: 'orders/app', fromVersion: 1, toVersion: 2, toUsername: 'app_b' },
    });
    for (const body of receiver.rawBodies) expect(body).not.toMatch(/SECRET-pw/);
  });

  it('a retried step re-sends the same event id (receivers de-duplicate); another run gets another id', async () => {
    const t = target();
    await t.publishCurrent(step);
    await t.publishCurrent(step);
    await t.publishCurrent({ ...step, runId: 'run-2' });
    expect([...receiver.deliveries.values()]).toEqual([2, 1]);
    expect(receiver.events).toHaveLength(2);
  });

  it('retries a failing receiver with backoff, then fails the step (the activity retries it)', async () => {
    receiver.failFor.add('promoted');
    const started = Date.now();
    await expect(target().publishCurrent(step)).rejects.toThrow(
      /promoted not delivered after 4 attempts \(HTTP 500\)/,
    );
    expect(Date.now() - started).toBeGreaterThan(600);
    expect([...receiver.deliveries.values()]).toEqual([4]);
    receiver.failFor.clear();
    await target().publishCurrent(step);
    expect(receiver.events.map((e) => e.data.event)).toEqual(['promoted']);
  });

  it('a wrong key is refused by the receiver: a permanent error, not retried', async () => {
    const wrong = new WebhookTarget(
      webhookTargetSchema.parse({ type: 'webhook', url: receiver.url, signingSecretEnv: 'HOOK_KEY' }),
      { HOOK_KEY: 'not-the-key' },
    );
    await expect(wrong.publishPending(step)).rejects.toThrow(/refused with HTTP 401/);
    expect(receiver.badSignatures).toBe(1);
  });

  it('only the configured events are sent; a missing key env var is a clear config error', async () => {
    await target({ events: ['revoked'] }).publishPending(step);
    expect(receiver.events).toHaveLength(0);
    expect(
      () =>
        new WebhookTarget(
          webhookTargetSchema.parse({ type: 'webhook', url: receiver.url, signingSecretEnv: 'NOPE' }),
          {},
        ),
    ).toThrow(/environment variable NOPE is not set/);
  });
});
