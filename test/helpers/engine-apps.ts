import type { EngineKind, ResolvedStrategy } from '../../src/shared/types';
import { freshMongo, type MongoNamespace } from './mongo';
import { freshMysql, type MysqlNamespace } from './mysql';
import { freshRedis, type RedisNamespace } from './redis';
import { uniqueCredentialId, type RotationRig } from './rotation';
import { services } from './services';

/**
 * An application login on one of the other engines' real servers, for whole-system
 * tests that run the same rotation on every engine (PostgreSQL has its own, richer
 * fixtures in pg-rig.ts).
 */
export interface EngineApp<N> {
  engine: EngineKind;
  host: string;
  port: number;
  admin: { username: string; password: string };
  /** The database the admin credential names, when not the application's (MongoDB: admin). */
  adminDatabase?: string;
  /**
   * Creates a fresh namespace and the application login in it, with privileges on its own
   * table or keys only (MariaDB: orders, not secrets); returns its name and database.
   */
  setup(password: string): Promise<{ login: string; database?: string }>;
  /** The namespace `setup` created. */
  ns(): N;
  cleanup(): Promise<void>;
}

/** An EngineApp on a shared service whose `create` makes the namespace and the login in it. */
function engineApp<N extends { cleanup(): Promise<void> }>(
  engine: EngineKind,
  service: 'mysql' | 'redis' | 'mongo',
  create: (password: string) => Promise<{ ns: N; login: string; database?: string }>,
  adminDatabase?: string,
): EngineApp<N> {
  let ns: N | undefined;
  const s = services[service];
  return {
    engine,
    host: s.host,
    port: s.port,
    admin: { username: s.user, password: s.password },
    ...(adminDatabase ? { adminDatabase } : {}),
    async setup(password) {
      const made = await create(password);
      ns = made.ns;
      return { login: made.login, ...(made.database ? { database: made.database } : {}) };
    },
    ns: () => ns!,
    cleanup: async () => ns?.cleanup(),
  };
}

export function mysqlApp(): EngineApp<MysqlNamespace> {
  return engineApp('mysql', 'mysql', async (password) => {
    const ns = await freshMysql();
    const login = await ns.createLogin('app', password);
    await ns.admin.query(`CREATE TABLE ${ns.database}.orders (id int auto_increment primary key, item text)`);
    await ns.admin.query(`CREATE TABLE ${ns.database}.secrets (v text)`);
    await ns.admin.query(`GRANT SELECT, INSERT ON ${ns.database}.orders TO ?@'%'`, [login]);
    return { ns, login, database: ns.database };
  });
}

export function redisApp(): EngineApp<RedisNamespace> {
  return engineApp('redis', 'redis', async (password) => {
    const ns = await freshRedis();
    const acl = ['on', `>${password}`, `~${ns.prefix}app:*`, '+@read', '+set', '+ping'];
    return { ns, login: await ns.createUser('app', ...acl) };
  });
}

export function mongoApp(): EngineApp<MongoNamespace> {
  return engineApp(
    'mongodb',
    'mongo',
    async (password) => {
      const ns = await freshMongo();
      // FerretDB 1.24 rejects roles in createUser; on real MongoDB the roles would be cloned too.
      return { ns, login: await ns.createUser('app', password), database: ns.database };
    },
    'admin',
  );
}

/**
 * Sets up `app` and registers its admin and its login (rotated with `strategy`) in the rig's
 * store; returns the login's credential id and name.
 */
export async function addEngineApp(
  rig: RotationRig,
  app: EngineApp<unknown>,
  strategy: ResolvedStrategy,
  password: string,
): Promise<{ id: string; login: string }> {
  const { login, database } = await app.setup(password);
  const adminId = uniqueCredentialId(`${app.engine}-admin`);
  const id = uniqueCredentialId(`${app.engine}-app`);
  const where = { engine: app.engine, host: app.host, port: app.port, database };
  await rig.addCredential({ id: adminId, ...where, database: app.adminDatabase ?? database }, app.admin);
  await rig.addCredential(
    { id, ...where, adminCredentialId: adminId, baseUsername: login, strategy },
    { username: login, password },
  );
  return { id, login };
}
