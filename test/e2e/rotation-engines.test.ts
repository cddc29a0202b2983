import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { EngineKind, ResolvedStrategy } from '../../src/shared/types';
import { statusQuery } from '../../src/shared/messages';
import { eventually } from '../helpers/pg-rig';
import { createRotationRig, uniqueCredentialId, type RotationRig } from '../helpers/rotation';
import { services } from '../helpers/services';
import { devServerEnv } from '../helpers/temporal';
import { freshRedis, redisConnect, type RedisNamespace } from '../helpers/redis';
import { freshMysql, mysqlConnect, type MysqlNamespace } from '../helpers/mysql';
import { freshMongo, mongoConnect, type MongoNamespace } from '../helpers/mongo';

/**
 * The same workflow and activities on every engine and strategy: only the
 * fixture (how to make a login, log in and do real work) differs.
 */
interface EngineFixture {
  engine: EngineKind;
  strategies: ResolvedStrategy[];
  host: string;
  port: number;
  admin: { username: string; password: string };
  /** Creates the application login with some privileges; returns its name and database. */
  setup(password: string): Promise<{ login: string; database?: string }>;
  /** Logs in and does the application's real work (read + write); throws on failure. */
  work(user: string, password: string): Promise<void>;
  /** Something the login must NOT be allowed to do (privileges are cloned, not widened). */
  forbidden(user: string, password: string): Promise<void>;
  cleanup(): Promise<void>;
}

function redisFixture(): EngineFixture {
  let ns: RedisNamespace;
  return {
    engine: 'redis',
    strategies: ['dual-password', 'dual-user', 'single'],
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
    async work(user, password) {
      const c = await redisConnect(user, password);
      try {
        await c.set(`${ns.prefix}app:k`, 'v');
        expect(await c.get(`${ns.prefix}app:k`)).toBe('v');
      } finally {
        c.disconnect();
      }
    },
    async forbidden(user, password) {
      const c = await redisConnect(user, password);
      try {
        await expect(c.set(`${ns.prefix}other:k`, 'v')).rejects.toThrow(/NOPERM/);
        await expect(c.call('FLUSHALL')).rejects.toThrow(/NOPERM/);
      } finally {
        c.disconnect();
      }
    },
    cleanup: () => ns?.cleanup(),
  };
}

function mongoFixture(): EngineFixture {
  let ns: MongoNamespace;
  return {
    engine: 'mongodb',
    strategies: ['dual-user', 'single'],
    host: services.mongo.host,
    port: services.mongo.port,
    admin: { username: services.mongo.user, password: services.mongo.password },
    async setup(password) {
      ns = await freshMongo();
      // FerretDB 1.24 rejects roles in createUser; on real MongoDB the roles would be cloned too.
      const login = await ns.createUser('app', password);
      return { login, database: ns.database };
    },
    async work(user, password) {
      const c = await mongoConnect(user, password, ns.database);
      try {
        await c.db(ns.database).collection('orders').insertOne({ item: 'x' });
        expect(await c.db(ns.database).collection('orders').countDocuments()).toBeGreaterThan(0);
      } finally {
        await c.close();
      }
    },
    async forbidden() {
      // FerretDB does not enforce roles (see docs/engine-notes-mongodb.md); nothing to assert here.
    },
    cleanup: () => ns?.cleanup(),
  };
}

function mysqlFixture(): EngineFixture {
  let ns: MysqlNamespace;
  return {
    engine: 'mysql',
    strategies: ['dual-password', 'dual-user', 'single'],
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
    async work(user, password) {
      const c = await mysqlConnect(user, password, ns.database);
      try {
        await c.query(`INSERT INTO orders (item) VALUES ('x')`);
        const [rows] = await c.query(`SELECT count(*) AS n FROM orders`);
        expect((rows as Array<{ n: number }>)[0]!.n).toBeGreaterThan(0);
      } finally {
        await c.end();
      }
    },
    async forbidden(user, password) {
      const c = await mysqlConnect(user, password, ns.database);
      try {
        await expect(c.query(`SELECT * FROM secrets`)).rejects.toThrow(/denied/);
      } finally {
        await c.end();
      }
    },
    cleanup: () => ns?.cleanup(),
  };
}

async function canLogin(f: EngineFixture, user: string, password: string): Promise<boolean> {
  try {
    await f.work(user, password);
    return true;
  } catch {
    return false;
  }
}

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await devServerEnv();
});
afterAll(async () => {
  await env?.teardown();
});

for (const makeFixture of [mysqlFixture, redisFixture, mongoFixture]) {
  const probe = makeFixture();
  for (const strategy of probe.strategies) {
    describe(`${probe.engine} / ${strategy}: full rotation through the workflow`, () => {
      let f: EngineFixture;
      let rig: RotationRig;
      afterEach(async () => {
        await rig?.close();
        await f?.cleanup();
      });

      async function prepare() {
        f = makeFixture();
        rig = await createRotationRig(env);
        const initial = `Initial-${strategy}-Pw-123`;
        const { login, database } = await f.setup(initial);
        const adminId = uniqueCredentialId(`${f.engine}-admin`);
        const id = uniqueCredentialId(`${f.engine}-app`);
        const where = { engine: f.engine, host: f.host, port: f.port, database };
        await rig.addCredential(
          { id: adminId, ...where, database: f.engine === 'mongodb' ? 'admin' : database },
          f.admin,
        );
        await rig.addCredential(
          { id, ...where, adminCredentialId: adminId, baseUsername: login, strategy },
          { username: login, password: initial },
        );
        return { id, login, initial };
      }

      it('both credentials work during grace, only the new one after revoke; three rotations in a row', async () => {
        const { id, login, initial } = await prepare();
        const handle = await rig.start({ credentialId: id, graceMs: 60_000, drainTimeoutMs: 0 });
        await eventually(async () => (await handle.query(statusQuery)).phase === 'grace');
        const status = await handle.query(statusQuery);
        expect(status.plan?.strategy).toBe(strategy);
        const next = await rig.store.getSecret(id, 'CURRENT');
        expect(next.version).toBe(2);
        expect(next.username).toBe(strategy === 'dual-user' ? `${login}_b` : login);
        await f.work(next.username, next.password);
        await f.forbidden(next.username, next.password);
        // single changes the password in place: the old one stops working at apply.
        expect(await canLogin(f, login, initial)).toBe(strategy !== 'single');

        await handle.executeUpdate('finishGrace', { args: [{}] });
        expect((await handle.result()).outcome).toBe('rotated');
        expect(await canLogin(f, login, initial)).toBe(false);
        await f.work(next.username, next.password);

        for (let i = 0; i < 2; i++) {
          const r = await rig.rotate({ credentialId: id, graceMs: 0, drainTimeoutMs: 0 });
          expect(r.outcome).toBe('rotated');
        }
        const last = await rig.store.getSecret(id, 'CURRENT');
        expect(last.version).toBe(4);
        await f.work(last.username, last.password);
        expect(await canLogin(f, next.username, next.password)).toBe(false);
      });

      it('abort before promote leaves the server and the store as they were', async () => {
        const { id, login, initial } = await prepare();
        const versionsBefore = JSON.stringify(await rig.store.listVersions(id));
        const handle = await rig.start({ credentialId: id, graceMs: 60_000 });
        await handle.executeUpdate('abort', { args: [{ reason: 'test' }] });
        const r = await handle.result();
        expect(['aborted', 'rolled-back']).toContain(r.outcome);
        expect(await canLogin(f, login, initial)).toBe(true);
        if (strategy === 'dual-user') expect(await canLogin(f, `${login}_b`, 'x')).toBe(false);
        const after = JSON.parse(JSON.stringify(await rig.store.listVersions(id))) as Array<{
          state: string;
        }>;
        expect(after.filter((v) => v.state !== 'revoked')).toEqual(
          (JSON.parse(versionsBefore) as Array<{ state: string }>).filter((v) => v.state !== 'revoked'),
        );
      });
    });
  }
}
