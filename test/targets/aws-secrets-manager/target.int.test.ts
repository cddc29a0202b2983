import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { beforeAll, describe, expect, it } from 'vitest';
import { AwsSecretsManagerTarget, versionToken } from '../../../src/targets/aws-secrets-manager';
import { awsSecretsManagerTargetSchema } from '../../../src/targets/schema';
import { delivered, deliveryStep, withMotoEnv } from '../../helpers/delivery';
import { services, uniqueSuffix } from '../../helpers/services';

// The SDK's standard chain: region, endpoint and credentials from the environment.
withMotoEnv();
beforeAll(async () => {
  const r = await fetch(`${services.motoEndpoint}/moto-api/`).catch((err: unknown) => {
    throw new Error(
      `moto not reachable at ${services.motoEndpoint} (run: bash scripts/services.sh up): ${String(err)}`,
    );
  });
  expect(r.ok).toBe(true);
});

const v = delivered;
const step = deliveryStep;

/** A target on a secret of its own (created on first publish), and the first version to publish. */
function newTarget() {
  const secretId = `rotator-test/${uniqueSuffix()}`;
  const t = new AwsSecretsManagerTarget(
    awsSecretsManagerTargetSchema.parse({ type: 'aws-secrets-manager', secretId }),
  );
  return { secretId, t, v1: v(1, 'pw-1') };
}

describe('aws-secrets-manager target (moto server)', () => {
  const sm = () => new SecretsManagerClient({});
  const labels = async (secretId: string) =>
    (await sm().send(new DescribeSecretCommand({ SecretId: secretId }))).VersionIdsToStages ?? {};
  const read = async (secretId: string, stage: string) => {
    const r = await sm().send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
    return { id: r.VersionId, secret: JSON.parse(r.SecretString!) as Record<string, unknown> };
  };

  it('moves the staging labels like AWS rotation: AWSPENDING → AWSCURRENT, old → AWSPREVIOUS, removed at revoke', async () => {
    const { secretId, t, v1 } = newTarget();
    const v2 = v(2, 'pw-2');
    const s = step(v1, v2);
    const id1 = versionToken('orders/app', v1);
    const id2 = versionToken('orders/app', v2);

    await t.publishPending(s); // creates the secret with v1 as AWSCURRENT
    await t.publishPending(s); // idempotent
    await t.verify(s, 'pending');
    expect(await labels(secretId)).toEqual({ [id1]: ['AWSCURRENT'], [id2]: ['AWSPENDING'] });
    expect((await read(secretId, 'AWSCURRENT')).secret).toEqual({
      engine: 'postgres',
      host: 'db.internal',
      port: 5432,
      username: 'app_v1',
      password: 'pw-1',
      dbname: 'orders',
      rotatorVersion: 1,
    });

    await t.publishCurrent(s);
    await t.publishCurrent(s);
    await t.verify(s, 'current');
    expect(await labels(secretId)).toEqual({ [id1]: ['AWSPREVIOUS'], [id2]: ['AWSCURRENT'] });
    expect(await read(secretId, 'AWSCURRENT')).toMatchObject({
      id: id2,
      secret: { username: 'app_v2', password: 'pw-2' },
    });

    await t.removeOld(s);
    await t.removeOld(s);
    await t.verify(s, 'old-removed');
    expect((await labels(secretId))[id1] ?? []).toEqual([]);
    expect((await labels(secretId))[id2]).toEqual(['AWSCURRENT']);
    await t.close();
  });

  it('rollback moves AWSCURRENT back and leaves the withdrawn version without labels', async () => {
    const { secretId, t, v1 } = newTarget();
    const v2 = v(2, 'pw-2');
    await t.publishPending(step(v1, v2));
    await t.publishCurrent(step(v1, v2));
    // The pending version is discarded by then: restore knows only its number.
    await t.restore(step(v1));
    await t.restore(step(v1));
    await t.verify(step(v1), 'restored');
    expect(await labels(secretId)).toEqual({
      [versionToken('orders/app', v1)]: ['AWSCURRENT'],
      [versionToken('orders/app', v2)]: [],
    });
    await expect(t.verify(step(v1, v2), 'current')).rejects.toThrow(/AWSCURRENT is not version 2/);
    await t.close();
  });

  it('compensation before promote drops AWSPENDING; a reused version number is a new AWS version', async () => {
    const { secretId, t, v1 } = newTarget();
    await t.publishPending(step(v1, v(2, 'first-try')));
    await t.restore(step(v1));
    expect(
      Object.values(await labels(secretId))
        .flat()
        .sort(),
    ).toEqual(['AWSCURRENT']);
    const retry = { ...v(2, 'second-try'), createdAt: '2026-12-05T00:00:00.000Z' };
    await t.publishPending(step(v1, retry));
    await t.verify(step(v1, retry), 'pending');
    expect((await read(secretId, 'AWSPENDING')).secret.password).toBe('second-try');
    await t.close();
  });

  it('refuses to create a missing secret when createIfMissing is false', async () => {
    const t = new AwsSecretsManagerTarget(
      awsSecretsManagerTargetSchema.parse({
        type: 'aws-secrets-manager',
        secretId: `nope/${uniqueSuffix()}`,
        createIfMissing: false,
      }),
    );
    await expect(t.publishPending(step(v(1, 'a'), v(2, 'b')))).rejects.toThrow(/does not exist/);
    await t.close();
  });
});
