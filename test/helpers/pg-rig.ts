import { escapeIdentifier } from 'pg';
import type { PgNamespace } from './pg';
import { uniqueCredentialId, type RotationRig } from './rotation';
import { services } from './services';

/** Registers the PostgreSQL admin of `pg` in the rig's store; returns its credential id. */
export async function addPgAdmin(
  rig: RotationRig,
  pg: PgNamespace,
  /** Other host:port of the same server the admin may be used against (a proxy in front of it). */
  allowedServers?: Array<{ host: string; port: number }>,
): Promise<string> {
  const id = uniqueCredentialId('pg-admin');
  await rig.addCredential(
    {
      id,
      engine: 'postgres',
      host: services.postgres.host,
      port: services.postgres.port,
      database: pg.database,
      ...(allowedServers ? { allowedServers } : {}),
    },
    { username: services.postgres.user, password: services.postgres.password },
  );
  return id;
}

/** A login with a small set of grants in `pg`, registered as a credential; returns its id and login. */
export async function addPgApp(
  rig: RotationRig,
  pg: PgNamespace,
  adminId: string,
  name: string,
  opts: { labels?: Record<string, string> } = {},
): Promise<{ id: string; login: string; password: string }> {
  const password = `init-${name}-Pw1`;
  const login = await pg.createLogin(name, password);
  await pg.admin.query(`CREATE TABLE IF NOT EXISTS public.items (id int)`);
  await pg.admin.query(`GRANT SELECT, INSERT ON public.items TO ${escapeIdentifier(login)}`);
  const id = uniqueCredentialId(`pg-${name}`);
  await rig.addCredential(
    {
      id,
      engine: 'postgres',
      host: services.postgres.host,
      port: services.postgres.port,
      database: pg.database,
      adminCredentialId: adminId,
      baseUsername: login,
      labels: opts.labels ?? {},
    },
    { username: login, password },
  );
  return { id, login, password };
}

/** Polls a condition (for phases reached on the dev server in real time). */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
