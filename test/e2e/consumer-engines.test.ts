import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { errorCode } from '../../src/consumer/auth-errors';
import { HeartbeatReporter } from '../../src/consumer/heartbeat';
import { RotatingMongoClient } from '../../src/consumer/mongo-client';
import { RotatingMysqlPool } from '../../src/consumer/mysql-pool';
import { RotatingRedis } from '../../src/consumer/redis-client';
import type { SwapEvent } from '../../src/consumer/rotating';
import { StoreSource } from '../../src/consumer/store-source';
import type { CredentialSource } from '../../src/consumer/types';
import { statusQuery } from '../../src/shared/messages';
import type { ResolvedStrategy, RotationResult } from '../../src/shared/types';
import { createRotationRig, type RotationRig } from '../helpers/rotation';
import { services, uniqueSuffix } from '../helpers/services';
import type { EngineApp } from '../helpers/engine-apps';
import { devServerEnv } from '../helpers/temporal';
import { addEngineApp, mysqlApp, redisApp, mongoApp } from '../helpers/engine-apps';

// The rotating clients of the other engines through real rotations of the
// workflow: two application instances per run, each with its own client,
// store poll phase and heartbeats, two clients each working continuously
// (and, for MariaDB, connections held across the swap). Zero failures.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the harness needs of one instance's rotating client. */
interface Instance {
  version: number;
  onSwap(l: (e: SwapEvent) => void): () => void;
  /** One unit of the application's work (may hold a connection for a while when `hold`). */
  work(hold: boolean): Promise<void>;
  close(): Promise<void>;
}

interface Fixture extends EngineApp<unknown> {
  open(source: CredentialSource, name: string): Promise<Instance>;
}

/** A rotating client as the harness sees it: its version and swaps come from the client itself. */
function instance(
  client: { readonly version: number; onSwap(l: (e: SwapEvent) => void): () => void },
  work: Instance['work'],
  close: () => Promise<void>,
): Instance {
  return {
    get version() {
      return client.version;
    },
    onSwap: (l) => client.onSwap(l),
    work,
    close,
  };
}

/** An engine app whose instances `open` makes; `ns` is the namespace the app set up. */
function withClients<N>(app: EngineApp<N>, open: (ns: N, base: Base) => Promise<Instance>): Fixture {
  return { ...app, open: (source, name) => open(app.ns(), { source, name, registry: false }) };
}

interface Base {
  source: CredentialSource;
  name: string;
  registry: false;
}

function mysqlFixture(): Fixture {
  return withClients(mysqlApp(), async (ns, base) => {
    const pool = await RotatingMysqlPool.create({
      ...base,
      pool: {
        host: services.mysql.host,
        port: services.mysql.port,
        database: ns.database,
        connectionLimit: 4,
      },
    });
    const work = async (hold: boolean) => {
      if (!hold) {
        await pool.query('SELECT count(*) AS n FROM orders');
        return;
      }
      const conn = await pool.getConnection();
      try {
        for (let i = 0; i < 3; i++) {
          await conn.query(`INSERT INTO orders (item) VALUES ('held')`);
          await sleep(100);
        }
      } finally {
        conn.release();
      }
    };
    return instance(pool, work, () => pool.end());
  });
}

function redisFixture(): Fixture {
  return withClients(redisApp(), async (ns, base) => {
    const r = await RotatingRedis.create({
      ...base,
      redis: { host: services.redis.host, port: services.redis.port },
    });
    const key = `${ns.prefix}app:${base.name}`;
    const work = async (hold: boolean) => {
      if (hold) {
        // Several commands on one connection, like a pipeline an application keeps going.
        await r.run(async (redis) => {
          await redis.set(key, 'a');
          await sleep(100);
          await redis.get(key);
        });
        return;
      }
      await r.call('SET', key, String(Date.now()));
      await r.call('GET', key);
    };
    return instance(r, work, () => r.close());
  });
}

function mongoFixture(): Fixture {
  return withClients(mongoApp(), async (ns, base) => {
    const m = await RotatingMongoClient.create({
      ...base,
      url: `mongodb://${services.mongo.host}:${services.mongo.port}/`,
      authSource: ns.database,
      client: { maxPoolSize: 4, serverSelectionTimeoutMS: 5000 },
    });
    const work = async (hold: boolean) => {
      await m.run(async (client) => {
        const orders = client.db(ns.database).collection('orders');
        await orders.insertOne({ by: base.name });
        if (hold) await sleep(100);
        await orders.countDocuments();
      });
    };
    return instance(m, work, () => m.close());
  });
}

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await devServerEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const cases: Array<[() => Fixture, ResolvedStrategy]> = [
  [mysqlFixture, 'dual-password'],
  [mysqlFixture, 'dual-user'],
  [redisFixture, 'dual-password'],
  [redisFixture, 'dual-user'],
  [mongoFixture, 'dual-user'],
];

for (const [makeFixture, strategy] of cases) {
  describe(`${makeFixture().engine} / ${strategy}: rotating clients through a real rotation`, () => {
    let f: Fixture;
    let rig: RotationRig;
    afterEach(async () => {
      await rig?.close();
      await f?.cleanup();
    });

    it('2 instances x 2 clients work continuously through the rotation with zero failures', async () => {
      f = makeFixture();
      rig = await createRotationRig(env);
      const initial = `Initial-${strategy}-Pw-123`;
      const { id } = await addEngineApp(rig, f, strategy, initial);

      const prefix = `c-${uniqueSuffix()}`;
      const instances = await Promise.all(
        [0, 1].map(async (i) => {
          const source = new StoreSource({
            store: rig.store,
            credentialId: id,
            ttlMs: 1_000,
            initialDelayMs: 300 + i * 500,
          });
          const client = await f.open(source, `${prefix}-${i}`);
          const versions = [client.version];
          client.onSwap((e) => versions.push(e.version));
          const reporter = new HeartbeatReporter({
            client: rig.client,
            credentialId: id,
            consumerId: `${prefix}-${i}`,
            periodMs: 300,
          }).attach(client);
          return { source, client, versions, reporter };
        }),
      );
      let stopping = false;
      let ops = 0;
      const failures: string[] = [];
      const loops = instances.flatMap((inst) =>
        [0, 1].map(async (c) => {
          for (let n = c; !stopping; n++) {
            try {
              await inst.client.work(n % 10 === 0);
              ops++;
            } catch (err) {
              failures.push(`${errorCode(err)}: ${(err as Error).message}`);
            }
            await sleep(20);
          }
        }),
      );

      await sleep(1_000);
      const handle = await rig.start({
        credentialId: id,
        graceMs: 2_000,
        drainTimeoutMs: 2_000,
        migrationTimeoutMs: 30_000,
      });
      const result = (await handle.result()) as RotationResult;
      await sleep(1_500);
      stopping = true;
      await Promise.all(loops);
      const status = await handle.query(statusQuery);
      for (const inst of instances) {
        await inst.reporter.stop();
        await inst.client.close();
        await inst.source.close();
      }

      expect(result).toMatchObject({ outcome: 'rotated', strategy });
      expect(failures.slice(0, 5)).toEqual([]);
      expect(ops).toBeGreaterThan(100);
      for (const inst of instances) expect(inst.versions).toEqual([1, 2]);
      expect(status.consumers.map((c) => c.version)).toEqual([2, 2]);
      expect(status.consumersBehind).toEqual([]);
    });
  });
}
