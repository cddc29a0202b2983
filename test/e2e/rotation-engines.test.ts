import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ResolvedStrategy } from '../../src/shared/types';
import { statusQuery } from '../../src/shared/messages';
import { eventually } from '../helpers/pg-rig';
import { createRotationRig, type RotationRig } from '../helpers/rotation';
import type { EngineApp } from '../helpers/engine-apps';
import { devServerEnv } from '../helpers/temporal';
import { redisConnect } from '../helpers/redis';
import { mysqlConnect, type MysqlNamespace } from '../helpers/mysql';
import type { Redis } from 'ioredis';
import type { Connection } from 'mysql2/promise';
import { mongoConnect } from '../helpers/mongo';
import { addEngineApp, mysqlApp, redisApp, mongoApp } from '../helpers/engine-apps';

/**
 * The same workflow and activities on every engine and strategy: only the
 * fixture (how to make a login, log in and do real work) differs.
 */
interface EngineFixture extends EngineApp<unknown> {
  strategies: ResolvedStrategy[];
  /** Logs in and does the application's real work (read + write); throws on failure. */
  work(user: string, password: string): Promise<void>;
  /** Something the login must NOT be allowed to do (privileges are cloned, not widened). */
  forbidden(user: string, password: string): Promise<void>;
}

/** An engine app with what its login does; `ns` is the namespace the app set up. */
function fixture<N>(
  app: EngineApp<N>,
  strategies: ResolvedStrategy[],
  work: (ns: N, user: string, password: string) => Promise<void>,
  forbidden: (ns: N, user: string, password: string) => Promise<void>,
): EngineFixture {
  return {
    ...app,
    strategies,
    work: (user, password) => work(app.ns(), user, password),
    forbidden: (user, password) => forbidden(app.ns(), user, password),
  };
}

function redisFixture(): EngineFixture {
  const withLogin = async (user: string, password: string, use: (c: Redis) => Promise<void>) => {
    const c = await redisConnect(user, password);
    try {
      await use(c);
    } finally {
      c.disconnect();
    }
  };
  return fixture(
    redisApp(),
    ['dual-password', 'dual-user', 'single'],
    (ns, user, password) =>
      withLogin(user, password, async (c) => {
        await c.set(`${ns.prefix}app:k`, 'v');
        expect(await c.get(`${ns.prefix}app:k`)).toBe('v');
      }),
    (ns, user, password) =>
      withLogin(user, password, async (c) => {
        await expect(c.set(`${ns.prefix}other:k`, 'v')).rejects.toThrow(/NOPERM/);
        await expect(c.call('FLUSHALL')).rejects.toThrow(/NOPERM/);
      }),
  );
}

function mongoFixture(): EngineFixture {
  return fixture(
    mongoApp(),
    ['dual-user', 'single'],
    async (ns, user, password) => {
      const c = await mongoConnect(user, password, ns.database);
      try {
        await c.db(ns.database).collection('orders').insertOne({ item: 'x' });
        expect(await c.db(ns.database).collection('orders').countDocuments()).toBeGreaterThan(0);
      } finally {
        await c.close();
      }
    },
    // FerretDB does not enforce roles (see docs/engine-notes-mongodb.md); nothing to assert here.
    async () => undefined,
  );
}

function mysqlFixture(): EngineFixture {
  const withLogin = async (
    ns: MysqlNamespace,
    user: string,
    password: string,
    use: (c: Connection) => Promise<void>,
  ) => {
    const c = await mysqlConnect(user, password, ns.database);
    try {
      await use(c);
    } finally {
      await c.end();
    }
  };
  return fixture(
    mysqlApp(),
    ['dual-password', 'dual-user', 'single'],
    (ns, user, password) =>
      withLogin(ns, user, password, async (c) => {
        await c.query(`INSERT INTO orders (item) VALUES ('x')`);
        const [rows] = await c.query(`SELECT count(*) AS n FROM orders`);
        expect((rows as Array<{ n: number }>)[0]!.n).toBeGreaterThan(0);
      }),
    (ns, user, password) =>
      withLogin(ns, user, password, async (c) => {
        await expect(c.query(`SELECT * FROM secrets`)).rejects.toThrow(/denied/);
      }),
  );
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
        const { id, login } = await addEngineApp(rig, f, strategy, initial);
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
