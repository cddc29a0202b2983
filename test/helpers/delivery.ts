import type { DeliveredCredential, DeliveryStep } from '../../src/targets/target';

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
