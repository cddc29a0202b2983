/**
 * Operator verification checks (issue 16, item 6) on the real servers: one
 * reading statement each, in its own read-only transaction; transaction
 * control, SET and DDL are refused before anything is sent, and a second
 * statement smuggled after a SELECT never runs.
 */
import { escapeIdentifier as id } from 'pg';
import { escapeId } from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, TransientError, VerificationError } from '../../src/errors';
import { createEngine } from '../../src/engines';
import type { Engine } from '../../src/engines/types';
import { parseCredentialDefinition } from '../../src/store/schema';
import { freshMysql } from '../helpers/mysql';
import { freshPg } from '../helpers/pg';
import { adminConnection } from '../helpers/engines';
import { TcpProxy } from '../helpers/tcp-proxy';
import { services } from '../helpers/services';

async function outcome(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'ok',
    (e: unknown) => e,
  );
}

type Login = { username: string; password: string };

/** Before each test: a fresh namespace, an admin engine and the app login `setup` makes in it; undone after. */
function eachTest<N extends { cleanup(): Promise<void> }>(
  fresh: () => Promise<N>,
  engineFor: (ns: N) => Engine,
  setup: (ns: N) => Promise<Login>,
) {
  const fx = {} as { ns: N; engine: Engine; app: Login };
  beforeEach(async () => {
    fx.ns = await fresh();
    fx.engine = engineFor(fx.ns);
    fx.app = await setup(fx.ns);
  });
  afterEach(async () => {
    await fx.engine?.close();
    await fx.ns?.cleanup();
  });
  return fx;
}

describe('PostgreSQL verification checks', () => {
  const fx = eachTest(
    () => freshPg(),
    (pg) => createEngine('postgres', adminConnection('postgres', { database: pg.database })),
    async (pg) => {
      const password = 'app-password-Ab1';
      const login = await pg.createLogin('app', password);
      await pg.admin.query(`CREATE TABLE public.t (x int)`);
      await pg.admin.query(`INSERT INTO public.t VALUES (1)`);
      await pg.admin.query(`ALTER TABLE public.t OWNER TO ${id(login)}`);
      return { username: login, password };
    },
  );

  const rows = async () => (await fx.ns.admin.query(`SELECT count(*)::int AS n FROM public.t`)).rows[0].n;

  it('runs reading checks, each in its own read-only transaction', async () => {
    await fx.engine.verifyLogin(fx.app, {
      checks: ['SELECT count(*) FROM public.t', 'SHOW transaction_read_only'],
    });
    const e = await outcome(
      fx.engine.verifyLogin(fx.app, {
        checks: ['WITH d AS (DELETE FROM public.t RETURNING *) SELECT * FROM d'],
      }),
    );
    expect(e).toBeInstanceOf(VerificationError);
    expect((e as Error).message).toMatch(/read-only transaction.*SQLSTATE 25006/);
    expect(await rows()).toBe(1);
  });

  for (const check of [
    'COMMIT; DROP TABLE public.t',
    'ROLLBACK',
    'BEGIN',
    'SET transaction_read_only = off',
    'DROP TABLE public.t',
    'TRUNCATE public.t',
    'DELETE FROM public.t',
    '/* x */ DROP TABLE public.t',
  ]) {
    it(`refuses "${check}" before sending it`, async () => {
      const e = await outcome(fx.engine.verifyLogin(fx.app, { checks: [check] }));
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message).toMatch(/verification check 1 must be one reading statement/);
      expect(await rows()).toBe(1);
    });
  }

  it('a second statement after a SELECT never runs', async () => {
    const e = await outcome(fx.engine.verifyLogin(fx.app, { checks: ['SELECT 1; DROP TABLE public.t'] }));
    expect(e).toBeInstanceOf(VerificationError);
    expect((e as Error).message).toMatch(/cannot insert multiple commands/);
    expect(await rows()).toBe(1);
  });

  it('a definition with such a check is refused when it is stored', () => {
    expect(() =>
      parseCredentialDefinition({
        id: 'a/b',
        engine: 'postgres',
        host: 'h',
        port: 5432,
        baseUsername: 'u',
        verifyChecks: ['SELECT 1', 'COMMIT'],
      }),
    ).toThrow(/verifyChecks\[1\]: must be one reading statement/);
  });
});

describe('MySQL/MariaDB verification checks', () => {
  const fx = eachTest(
    () => freshMysql(),
    () => createEngine('mysql', adminConnection('mysql')),
    async (my) => {
      const password = 'app-password-Ab1';
      const login = await my.createLogin('app', password);
      await my.admin.query(`CREATE TABLE ${escapeId(my.database)}.t (x int)`);
      await my.admin.query(`INSERT INTO ${escapeId(my.database)}.t VALUES (1)`);
      await my.admin.query(`GRANT ALL ON ${escapeId(my.database)}.* TO ${my.admin.escape(login)}@'%'`);
      return { username: login, password };
    },
  );

  const rows = async () => {
    const [r] = await fx.ns.admin.query(`SELECT count(*) AS n FROM ${escapeId(fx.ns.database)}.t`);
    return Number((r as Array<{ n: number }>)[0]!.n);
  };

  it('DDL (which MySQL would commit implicitly) and transaction control are refused; nothing changes', async () => {
    const t = `${escapeId(fx.ns.database)}.t`;
    for (const check of [`DROP TABLE ${t}`, `CREATE TABLE ${t}2 (x int)`, 'COMMIT', `SET autocommit = 1`]) {
      const e = await outcome(fx.engine.verifyLogin(fx.app, { checks: [check] }));
      expect(e).toBeInstanceOf(ConfigError);
    }
    const e = await outcome(fx.engine.verifyLogin(fx.app, { checks: [`SELECT 1; DROP TABLE ${t}`] }));
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toMatch(/single statement/);
    await fx.engine.verifyLogin(fx.app, { checks: [`SELECT count(*) FROM ${t}`, `SELECT x FROM ${t}`] });
    expect(await rows()).toBe(1);
  });
});

/**
 * A connection lost while a check runs says nothing about the new password:
 * the error is transient (verify tries again), never VerificationError (which
 * would compensate a good rotation at once). The check sleeps; once the server
 * shows it running as the login, the proxy in front of the server cuts it.
 */
describe('a connection cut during a check', () => {
  const password = 'app-password-Ab1';
  /** A login, an engine that reaches the server through `port`, and whether the login's check runs. */
  interface Case {
    engine: Engine;
    username: string;
    checkRunning(): Promise<boolean>;
    cleanup(): Promise<void>;
  }
  const cases: Array<{
    name: string;
    check: string;
    target: { host: string; port: number };
    setup(port: number): Promise<Case>;
  }> = [
    {
      name: 'PostgreSQL',
      check: 'SELECT pg_sleep(5)',
      target: services.postgres,
      async setup(port) {
        const pg = await freshPg();
        const username = await pg.createLogin('app', password);
        return {
          engine: createEngine('postgres', adminConnection('postgres', { database: pg.database, port })),
          username,
          checkRunning: async () =>
            (
              await pg.admin.query(
                `SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND query LIKE 'SELECT pg_sleep%'`,
                [username],
              )
            ).rowCount === 1,
          cleanup: () => pg.cleanup(),
        };
      },
    },
    {
      name: 'MySQL/MariaDB',
      check: 'SELECT SLEEP(5)',
      target: services.mysql,
      async setup(port) {
        const my = await freshMysql();
        const username = await my.createLogin('app', password);
        return {
          engine: createEngine('mysql', adminConnection('mysql', { port })),
          username,
          checkRunning: async () => {
            const [r] = await my.admin.query(
              `SELECT 1 FROM information_schema.processlist WHERE user = ? AND info LIKE 'SELECT SLEEP%'`,
              [username],
            );
            return (r as unknown[]).length === 1;
          },
          cleanup: () => my.cleanup(),
        };
      },
    },
  ];

  it.each(cases)(
    '$name: TransientError, not VerificationError',
    async ({ check, target, setup }) => {
      const proxy = await TcpProxy.start(target.host, target.port);
      const c = await setup(proxy.port);
      try {
        const app = { username: c.username, password };
        const verifying = outcome(c.engine.verifyLogin(app, { checks: [check] }));
        await vi.waitFor(async () => expect(await c.checkRunning()).toBe(true), {
          timeout: 10_000,
          interval: 50,
        });
        proxy.refuse();
        const e = await verifying;
        expect(e).toBeInstanceOf(TransientError);
        expect((e as Error).message).toMatch(/^check 1 as /);
        expect((e as Error).message).not.toContain(password);
        // The same check answered by the server passes: the cut alone made the error.
        proxy.pass();
        expect(await outcome(c.engine.verifyLogin(app, { checks: [check.replace('5', '0')] }))).toBe('ok');
      } finally {
        await c.engine.close();
        await proxy.close();
        await c.cleanup();
      }
    },
    30_000,
  );
});
