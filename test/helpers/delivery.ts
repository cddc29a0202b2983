import { afterAll, beforeAll } from 'vitest';
import type { DeliveredCredential, DeliveryStep } from '../../src/targets/target';
import { services } from './services';

/** Version `version` of a PostgreSQL credential (orders on db.internal) as targets receive it. */
export function delivered(
  version: number,
  password: string,
  username = `app_v${version}`,
): DeliveredCredential {
  return {
    version,
    engine: 'postgres',
    host: 'db.internal',
    port: 5432,
    database: 'orders',
    username,
    password,
    createdAt: `2026-12-0${version}T00:00:00.000Z`,
  };
}

/** The delivery step of credential orders/app from `from` to `to` (or to the next version) of a dual-user rotation. */
export function deliveryStep(from: DeliveredCredential, to?: DeliveredCredential): DeliveryStep {
  return {
    credentialId: 'orders/app',
    strategy: 'dual-user',
    fromVersion: from.version,
    toVersion: to?.version ?? from.version + 1,
    fromUsername: from.username,
    toUsername: to?.username ?? 'app_next',
    from,
    to,
  };
}

/**
 * Points the AWS SDK's standard chain (region, endpoint, credentials) at moto, which takes any
 * key, for the tests of the enclosing file or describe block, with `extra` variables; the
 * environment is restored after them.
 */
export function withMotoEnv(extra: Record<string, string> = {}): void {
  const saved = { ...process.env };
  beforeAll(() => {
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: services.motoEndpoint,
      ...extra,
    });
  });
  afterAll(() => {
    process.env = saved;
  });
}
