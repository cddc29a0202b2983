/**
 * Database TLS (issue 16, item 4) on the real servers (scripts/tls.sh): every
 * engine's admin/verification connections and every rotating consumer client
 * use verified TLS by default (verify-full: CA and host name); a wrong CA or
 * a wrong host name is refused; plain text only with an explicit opt-out,
 * which the dry-run plan and `status` show as a warning.
 */
import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { EXIT, main, type DryRunReport } from '../../src/client';
import { RotatingMongoClient } from '../../src/consumer/mongo-client';
import { RotatingMysqlPool } from '../../src/consumer/mysql-pool';
import { RotatingPgPool } from '../../src/consumer/pg-pool';
import { RotatingRedis } from '../../src/consumer/redis-client';
import { StaticSource } from '../../src/consumer/source-base';
import { createEngine } from '../../src/engines';
import { resolveTls, type TlsSettings } from '../../src/engines/tls';
import type { EngineKind } from '../../src/shared/types';
import { freshPg, type PgNamespace } from '../helpers/pg';
import { addPgAdmin, addPgApp } from '../helpers/pg-rig';
import { createRotationRig, type RotationRig } from '../helpers/rotation';
import { services } from '../helpers/services';
import { devServerEnv } from '../helpers/temporal';

interface Target {
  engine: EngineKind;
  host: string;
  /** TLS port. */
  port: number;
  /** Plain port (still open for other engineers until TLS is required). */
  plainPort: number;
  admin: { username: string; password: string };
  consumer(tls: TlsSettings | undefined, host?: string): Promise<{ close(): Promise<void> }>;
}

type Server = (typeof services)['postgres'];

/** What every rotating client in these tests shares: the admin login as a fixed credential, no registry, the TLS settings under test. */
function consumerBase(svc: Server, tls: TlsSettings | undefined) {
  return {
    source: new StaticSource({ version: 1, username: svc.user, password: svc.password }),
    registry: false as const,
    ...(tls ? { tls } : {}),
  };
}

function target(engine: EngineKind, svc: Server, plainPort: number, consumer: Target['consumer']): Target {
  return {
    engine,
    host: svc.host,
    port: svc.port,
    plainPort,
    admin: { username: svc.user, password: svc.password },
    consumer,
  };
}

async function pgConsumer(tls: TlsSettings | undefined, host = services.postgres.host) {
  const p = await RotatingPgPool.create({
    ...consumerBase(services.postgres, tls),
    pool: { host, port: services.postgres.port, database: 'postgres', max: 1 },
  });
  const { rows } = await p.query<{ ssl: boolean }>(
    'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
  );
  expect(rows[0]!.ssl).toBe(true);
  return { close: () => p.end() };
}

async function mysqlConsumer(tls: TlsSettings | undefined, host = services.mysql.host) {
  const p = await RotatingMysqlPool.create({
    ...consumerBase(services.mysql, tls),
    pool: { host, port: services.mysql.port, connectionLimit: 1 },
  });
  const [rows] = await p.query("SHOW SESSION STATUS LIKE 'Ssl_version'");
  expect((rows as Array<{ Value: string }>)[0]!.Value).toMatch(/^TLS/);
  return { close: () => p.end() };
}

async function redisConsumer(tls: TlsSettings | undefined, host = services.redis.host) {
  const r = await RotatingRedis.create({
    ...consumerBase(services.redis, tls),
    redis: { host, port: services.redis.port, retryStrategy: () => null },
  });
  return { close: () => r.close() };
}

async function mongoConsumer(tls: TlsSettings | undefined, host = services.mongo.host) {
  const c = await RotatingMongoClient.create({
    ...consumerBase(services.mongo, tls),
    url: `mongodb://${host}:${services.mongo.port}/`,
    client: { serverSelectionTimeoutMS: 3000 },
  });
  return { close: () => c.close() };
}

const targets: Target[] = [
  target('postgres', services.postgres, services.postgres.port, pgConsumer),
  target('mysql', services.mysql, services.mysql.port, mysqlConsumer),
  target('redis', services.redis, Number(process.env.ROTATOR_REDIS_PORT ?? 6379), redisConsumer),
  target('mongodb', services.mongo, Number(process.env.ROTATOR_MONGO_PORT ?? 27017), mongoConsumer),
];

// ioredis reports the TLS error as an event and rejects with "Connection is closed".
const REFUSED =
  /certificate|self[- ]signed|Hostname\/IP does not match|altnames|unable to verify|SSL|TLS|socket disconnected|ECONNRESET|Server selection timed out|Connection is closed|cannot connect/i;

/** A name of this machine that resolves to 127.0.0.1 but that the services' certificate does not carry. */
const ALIAS = hostname();
beforeAll(async () => {
  const { address } = await lookup(ALIAS, { family: 4 });
  expect(address, `${ALIAS} must resolve to 127.0.0.1 for the wrong-host-name tests`).toBe('127.0.0.1');
});

async function describeWith(t: Target, settings: TlsSettings | undefined, port = t.port, host = t.host) {
  const engine = createEngine(t.engine, {
    host,
    port,
    database: t.engine === 'mongodb' ? 'admin' : t.engine === 'postgres' ? 'postgres' : undefined,
    admin: t.admin,
    connectTimeoutMs: 4000,
    tls: resolveTls(settings, host),
  });
  try {
    return await engine.describe();
  } finally {
    await engine.close();
  }
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const r = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(r, 'expected the connection to be refused').toBeInstanceOf(Error);
  return r!.message;
}

for (const t of targets) {
  describe(`${t.engine}: verified TLS by default`, () => {
    it('admin connections: default (local CA) works; a wrong CA and a wrong host name are refused', async () => {
      expect((await describeWith(t, undefined)).engine).toBe(t.engine);
      expect(await refusal(describeWith(t, { caFile: services.tls.otherCaFile }))).toMatch(REFUSED);
      // the same server under a name its certificate does not carry
      expect(await refusal(describeWith(t, undefined, t.port, ALIAS))).toMatch(REFUSED);
      if (t.engine === 'mysql') {
        expect(await refusal(describeWith(t, { serverName: 'db.example.com' }))).toMatch(
          /tls.serverName "db.example.com" must be the host connected to/,
        );
      } else {
        expect(await refusal(describeWith(t, { serverName: 'db.example.com' }))).toMatch(REFUSED);
      }
    }, 60_000);

    it('explicit opt-out connects in plain text to the plain endpoint', async () => {
      expect((await describeWith(t, { mode: 'disabled' }, t.plainPort)).engine).toBe(t.engine);
    }, 60_000);

    it('consumer library: TLS by default; a wrong CA or host name is refused', async () => {
      const ok = await t.consumer(undefined);
      await ok.close();
      expect(await refusal(t.consumer({ caFile: services.tls.otherCaFile }))).toMatch(REFUSED);
      expect(await refusal(t.consumer(undefined, ALIAS))).toMatch(REFUSED);
    }, 60_000);
  });
}

describe('an explicit opt-out is a warning in the dry-run plan and in status', () => {
  let env: TestWorkflowEnvironment;
  let rig: RotationRig;
  let pg: PgNamespace;
  beforeAll(async () => {
    env = await devServerEnv();
    rig = await createRotationRig(env);
    pg = await freshPg();
  });
  afterAll(async () => {
    await rig?.close();
    await pg?.cleanup();
    await env?.teardown();
  });

  async function cli(...args: string[]) {
    const out: string[] = [];
    const saved = { ...process.env };
    Object.assign(process.env, rig.env);
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    const error = vi
      .spyOn(console, 'error')
      .mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    try {
      const code = await main(['node', 'db-rotator', ...args]);
      return { code, out: out.join('\n') };
    } finally {
      process.exitCode = undefined;
      process.env = saved;
      log.mockRestore();
      error.mockRestore();
    }
  }

  it('plan notes and status warnings name it', async () => {
    const adminId = await addPgAdmin(rig, pg);
    const app = await addPgApp(rig, pg, adminId, 'app');
    const def = await rig.store.getDefinition(app.id);
    await rig.store.putDefinition({ ...def, tls: { mode: 'disabled' } }, 'test');
    const plan = await cli('rotate', app.id, '--dry-run', '--json');
    expect(plan.code).toBe(EXIT.ok);
    expect((JSON.parse(plan.out) as DryRunReport).notes.join('\n')).toMatch(
      /TLS is disabled for this credential/,
    );
    const result = await rig.rotate({ credentialId: app.id, graceMs: 0 });
    expect(result.outcome).toBe('rotated');
    const status = await cli('status', app.id);
    expect(status.out).toMatch(/warning +TLS is disabled for this credential/);
  }, 120_000);
});
