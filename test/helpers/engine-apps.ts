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

export function mysqlApp(): EngineApp<MysqlNamespace> {
  let ns: MysqlNamespace;
  return {
    engine: 'mysql',
    host: services.mysql.host,
    port: services.mysql.port,
    admin: { username: services.mysql.user, password: services.mysql.password },
    async setup(password) {
      ns = await freshMysql();
      const login = await ns.createLogin('app', password);
      await ns.admin.query(
        `CREATE TABLE ${ns.database}.orders (id int auto_increment primary key, item text)`,
      );
      await ns.admin.query(`CREATE TABLE ${ns.database}.secrets (v text)`);
      await ns.admin.query(`GRANT SELECT, INSERT ON ${ns.database}.orders TO ?@'%'`, [login]);
      return { login, database: ns.database };
    },
    ns: () => ns,
    cleanup: () => ns?.cleanup(),
  };
}

export function redisApp(): EngineApp<RedisNamespace> {
  let ns: RedisNamespace;
  return {
    engine: 'redis',
    host: services.redis.host,
    port: services.redis.port,
    admin: { username: services.redis.user, password: services.redis.password },
    async setup(password) {
      ns = await freshRedis();
      const login = await ns.createUser(
        'app',
        'on',
        `>${password}`,
        `~${ns.prefix}app:*`,
        '+@read',
        '+set',
        '+ping',
      );
      return { login };
    },
    ns: () => ns,
    cleanup: () => ns?.cleanup(),
  };
}

export function mongoApp(): EngineApp<MongoNamespace> {
  let ns: MongoNamespace;
  return {
    engine: 'mongodb',
    host: services.mongo.host,
    port: services.mongo.port,
    admin: { username: services.mongo.user, password: services.mongo.password },
    adminDatabase: 'admin',
    async setup(password) {
      ns = await freshMongo();
      // FerretDB 1.24 rejects roles in createUser; on real MongoDB the roles would be cloned too.
      const login = await ns.createUser('app', password);
      return { login, database: ns.database };
    },
    ns: () => ns,
    cleanup: () => ns?.cleanup(),
  };
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
