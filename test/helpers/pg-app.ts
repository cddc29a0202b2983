import { escapeIdentifier } from 'pg';
import type { PgNamespace } from './pg';
import { addPgAdmin } from './pg-rig';
import { uniqueCredentialId, type CredentialToAdd, type RotationRig } from './rotation';
import { services } from './services';

export const APP_INITIAL_PASSWORD = 'initial-Pw-1';

/**
 * A new login of `pg` (may connect to its database) registered as a credential managed by a new
 * admin credential: the set-up of the reviewer's whole-system tests. `extra` adds to (or
 * overrides) the app's definition; `admin` passes addPgAdmin's allowedServers and login.
 */
export async function addPgAppWithAdmin(
  rig: RotationRig,
  pg: PgNamespace,
  idPrefix: string,
  extra: Partial<CredentialToAdd> = {},
  admin: {
    allowedServers?: Array<{ host: string; port: number }>;
    login?: { username: string; password: string };
  } = {},
): Promise<{ id: string; login: string; adminId: string }> {
  const login = await pg.createLogin('app', APP_INITIAL_PASSWORD);
  await pg.admin.query(
    `GRANT CONNECT ON DATABASE ${escapeIdentifier(pg.database)} TO ${escapeIdentifier(login)}`,
  );
  const adminId = await addPgAdmin(rig, pg, admin.allowedServers, admin.login);
  const id = uniqueCredentialId(idPrefix);
  await rig.addCredential(
    {
      id,
      engine: 'postgres',
      host: services.postgres.host,
      port: services.postgres.port,
      database: pg.database,
      adminCredentialId: adminId,
      baseUsername: login,
      ...extra,
    },
    { username: login, password: APP_INITIAL_PASSWORD },
  );
  return { id, login, adminId };
}
