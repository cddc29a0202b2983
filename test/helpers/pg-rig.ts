import { escapeIdentifier } from 'pg';
import type { z } from 'zod';
import type { targetSpecSchema } from '../../src/targets/schema';
import type { CredentialDefinition } from '../../src/store/types';
import { pgConnect, type PgNamespace } from './pg';
import { uniqueCredentialId, type RotationRig } from './rotation';
import { services } from './services';

/** Where `pg`'s database is, as a credential definition names it. */
export function pgServer(pg: PgNamespace) {
  return {
    engine: 'postgres' as const,
    host: services.postgres.host,
    port: services.postgres.port,
    database: pg.database,
  };
}

/**
 * Registers an existing login of `pg` as a dual-user credential with its own new admin credential
 * (the set-up of the delivery and consumer tests); returns the login's credential id.
 */
export async function addDualUserApp(
  rig: RotationRig,
  pg: PgNamespace,
  app: {
    login: string;
    password: string;
    idPrefix: string;
    targets?: Array<z.input<typeof targetSpecSchema>>;
  },
): Promise<string> {
  const adminCredentialId = await addPgAdmin(rig, pg);
  const id = uniqueCredentialId(app.idPrefix);
  await rig.addCredential(
    {
      id,
      ...pgServer(pg),
      adminCredentialId,
      strategy: 'dual-user',
      // parseCredentialDefinition (in addCredential) fills in the targets' defaults.
      ...(app.targets ? { targets: app.targets as never } : {}),
    },
    { username: app.login, password: app.password },
  );
  return id;
}

/**
 * Registers an admin of `pg` in the rig's store (the server's own admin unless `login` names
 * another, e.g. a dedicated superuser a test rotates); returns its credential id.
 */
export async function addPgAdmin(
  rig: RotationRig,
  pg: PgNamespace,
  /** Other host:port of the same server the admin may be used against (a proxy in front of it). */
  allowedServers?: Array<{ host: string; port: number }>,
  login: { username: string; password: string } = {
    username: services.postgres.user,
    password: services.postgres.password,
  },
): Promise<string> {
  const id = uniqueCredentialId('pg-admin');
  await rig.addCredential({ id, ...pgServer(pg), ...(allowedServers ? { allowedServers } : {}) }, login);
  return id;
}

/**
 * A login with a small set of grants in `pg`, registered as a credential; returns its id and login.
 * `definition` overrides parts of the credential's definition (another host:port, verify checks).
 */
export async function addPgApp(
  rig: RotationRig,
  pg: PgNamespace,
  adminId: string,
  name: string,
  opts: {
    labels?: Record<string, string>;
    definition?: Omit<Partial<CredentialDefinition>, 'id' | 'engine' | 'policy'>;
  } = {},
): Promise<{ id: string; login: string; password: string }> {
  const password = `init-${name}-Pw1`;
  const login = await pg.createLogin(name, password);
  await pg.admin.query(`CREATE TABLE IF NOT EXISTS public.items (id int)`);
  await pg.admin.query(`GRANT SELECT, INSERT ON public.items TO ${escapeIdentifier(login)}`);
  const id = uniqueCredentialId(`pg-${name}`);
  await rig.addCredential(
    {
      id,
      ...pgServer(pg),
      adminCredentialId: adminId,
      baseUsername: login,
      labels: opts.labels ?? {},
      ...opts.definition,
    },
    { username: login, password },
  );
  return { id, login, password };
}

/** Can `user` log in to `database` with `password` and run a query? */
export async function pgLogsIn(database: string, user: string, password: string): Promise<boolean> {
  let c: Awaited<ReturnType<typeof pgConnect>> | undefined;
  try {
    c = await pgConnect(database, user, password);
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c?.end().catch(() => undefined);
  }
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
