import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uniqueSuffix } from '../helpers/services';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver';
import { addDualUserApp } from '../helpers/pg-rig';
import { withPgRig } from '../helpers/with-pg-rig';
import { expectReplays } from '../helpers/rotation';
import { withMotoEnv } from '../helpers/delivery';
import { withTempDir } from '../helpers/temp-dir';

const key = randomBytes(32);
withMotoEnv({ ROTATOR_TEST_HOOK_KEY: `whsec_${key.toString('base64')}` });

describe('rotation with file, AWS Secrets Manager and webhook targets (dev server, PostgreSQL, moto)', () => {
  const t = withPgRig();
  const root = withTempDir('delivery-targets-');
  let receiver: Receiver;
  let credentialId: string;
  let app: string;
  let secretId: string;
  const sm = new SecretsManagerClient({});

  beforeEach(async () => {
    receiver = await startReceiver(key);
    secretId = `rotator-e2e/${uniqueSuffix()}`;
    app = await t.pg.createLogin('app', 'initial-Pw-1');
    credentialId = await addDualUserApp(t.rig, t.pg, {
      login: app,
      password: 'initial-Pw-1',
      idPrefix: 'pg-app',
      targets: [
        { type: 'file', dir: join(root.path, 'app') },
        { type: 'aws-secrets-manager', secretId },
        { type: 'webhook', url: receiver.url, signingSecretEnv: 'ROTATOR_TEST_HOOK_KEY' },
      ],
    });
  });

  afterEach(async () => {
    await receiver?.close();
  });

  const awsCurrent = async () => {
    const r = await sm.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }));
    return JSON.parse(r.SecretString!) as { username: string; password: string; rotatorVersion: number };
  };
  const awsLabels = async () =>
    Object.values((await sm.send(new DescribeSecretCommand({ SecretId: secretId }))).VersionIdsToStages ?? {})
      .flat()
      .sort();

  it('a rotation publishes everywhere and announces pending → promoted → revoked, signed and secret-free', async () => {
    const r = await t.rig.rotate({ credentialId, graceMs: 500, drainTimeoutMs: 0 });
    expect(r.outcome).toBe('rotated');
    const cur = await t.rig.store.getSecret(credentialId, 'CURRENT');
    expect(JSON.parse(readFileSync(join(root.path, 'app', 'credential.json'), 'utf8'))).toMatchObject({
      version: 2,
      password: cur.password,
    });
    expect(await awsCurrent()).toMatchObject({
      rotatorVersion: 2,
      username: cur.username,
      password: cur.password,
    });
    expect(await awsLabels()).toEqual(['AWSCURRENT']); // AWSPREVIOUS removed at revoke
    expect(receiver.badSignatures).toBe(0);
    expect(receiver.events.map((e) => e.data.event)).toEqual(['pending', 'promoted', 'revoked']);
    for (const body of receiver.rawBodies) {
      expect(body).not.toContain(cur.password);
      expect(body).not.toContain('initial-Pw-1');
    }
    // The recorded history replays on the current workflow code (the delivery calls are deterministic).
    await expectReplays(t.rig, `rotate/${credentialId}`);
  });

  it('a target failing at promote compensates: every target shows the old version again, then "failed" is announced', async () => {
    receiver.failFor.add('promoted');
    const r = await t.rig.rotate({ credentialId, graceMs: 500, drainTimeoutMs: 0 });
    expect(r.outcome).toBe('failed');
    expect(r.error).toMatch(/promoted not delivered/);
    expect(await t.rig.store.getSecret(credentialId, 'CURRENT')).toMatchObject({ version: 1, username: app });
    expect(JSON.parse(readFileSync(join(root.path, 'app', 'credential.json'), 'utf8'))).toMatchObject({
      version: 1,
      username: app,
      password: 'initial-Pw-1',
    });
    expect(await awsCurrent()).toMatchObject({ rotatorVersion: 1, password: 'initial-Pw-1' });
    expect(await awsLabels()).toEqual(['AWSCURRENT']);
    const b = await t.pg.admin.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [`${app}_b`]);
    expect(b.rowCount).toBe(0);
    expect(receiver.events.map((e) => e.data.event)).toEqual(['pending', 'rolled-back', 'failed']);
    expect(receiver.events[2]!.data.detail).toMatch(/promoted not delivered/);
    // The recorded history replays on the current workflow code (the delivery calls are deterministic).
    await expectReplays(t.rig, `rotate/${credentialId}`);
  });
});
