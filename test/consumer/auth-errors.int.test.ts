import { mongoTlsOptions } from '../../src/engines/tls';
import { describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';
import { createConnection } from 'mysql2/promise';
import { Client, escapeIdentifier } from 'pg';
import { errorCode, isAuthError } from '../../src/consumer/auth-errors';
import { RotatingRedis } from '../../src/consumer/redis-client';
import { StaticSource } from '../../src/consumer/source-base';
import { pgConnect } from '../helpers/pg';
import { redisClient } from '../helpers/redis';
import { services, testTls, uniqueSuffix } from '../helpers/services';

// Real failing logins against the local servers: the classifier must match
// what the drivers really throw, not what we think they throw.

async function failure(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('auth error classification with real servers', () => {
  it('PostgreSQL: wrong password and unknown login are 28P01, NOLOGIN is 28000; syntax and refused connections are not auth', async () => {
    const pg =
      (user: string, password: string, port = services.postgres.port) =>
      async () => {
        const c = new Client({
          host: services.postgres.host,
          port,
          user,
          password,
          database: 'postgres',
          ssl: testTls(services.postgres.host),
        });
        try {
          await c.connect();
        } finally {
          await c.end().catch(() => undefined);
        }
      };
    const wrong = await failure(pg(services.postgres.user, 'not-the-password'));
    const unknown = await failure(pg(`nobody_${uniqueSuffix()}`, 'x'));
    expect(errorCode(wrong)).toBe('28P01');
    expect(errorCode(unknown)).toBe('28P01');

    const root = await pgConnect('postgres');
    const role = `t_${uniqueSuffix()}_nologin`;
    try {
      await root.query(`CREATE ROLE ${escapeIdentifier(role)} NOLOGIN PASSWORD 'pw-123456'`);
      const nologin = await failure(pg(role, 'pw-123456'));
      expect(errorCode(nologin)).toBe('28000');
      expect(isAuthError('postgres', nologin)).toBe(true);
      const syntax = await failure(() => root.query('SELEC 1'));
      expect(isAuthError('postgres', syntax)).toBe(false);
    } finally {
      await root.query(`DROP ROLE IF EXISTS ${escapeIdentifier(role)}`);
      await root.end();
    }
    const refused = await failure(pg(services.postgres.user, 'x', 1));
    for (const e of [wrong, unknown]) expect(isAuthError('postgres', e)).toBe(true);
    expect(isAuthError('postgres', refused)).toBe(false);
    // Per engine: a PG auth error is not a MySQL one.
    expect(isAuthError('mysql', wrong)).toBe(false);
  });

  it('MariaDB: wrong password is errno 1045; a syntax error is not auth', async () => {
    const conn = (password: string) => () =>
      createConnection({
        host: services.mysql.host,
        port: services.mysql.port,
        user: services.mysql.user,
        password,
        ssl: testTls(services.mysql.host) as never,
      });
    const wrong = await failure(conn('not-the-password'));
    expect(errorCode(wrong)).toBe('ER_ACCESS_DENIED_ERROR');
    expect((wrong as { errno?: number }).errno).toBe(1045);
    expect(isAuthError('mysql', wrong)).toBe(true);
    const ok = await conn(services.mysql.password)();
    try {
      const syntax = await failure(() => ok.query('SELEC 1'));
      expect(isAuthError('mysql', syntax)).toBe(false);
    } finally {
      await ok.end();
    }
  });

  it('Redis: WRONGPASS on a bad AUTH, NOAUTH before AUTH; an unknown command is not auth', async () => {
    const c = redisClient();
    try {
      await c.connect();
      const noauth = await failure(() => c.call('GET', 'k'));
      expect(errorCode(noauth)).toBe('NOAUTH');
      expect(isAuthError('redis', noauth)).toBe(true);
      const wrong = await failure(() => c.call('AUTH', services.redis.user, 'not-the-password'));
      expect(errorCode(wrong)).toBe('WRONGPASS');
      expect(isAuthError('redis', wrong)).toBe(true);
      await c.call('AUTH', services.redis.user, services.redis.password);
      const unknown = await failure(() => c.call('NO-SUCH-COMMAND'));
      expect(isAuthError('redis', unknown)).toBe(false);
    } finally {
      c.disconnect();
    }
  });

  it('Redis: RotatingRedis surfaces the WRONGPASS reply of a refused credential (ioredis only emits it as an event)', async () => {
    const source = new StaticSource({
      version: 1,
      username: services.redis.user,
      password: 'not-the-password',
    });
    const err = await failure(() =>
      RotatingRedis.create({
        source,
        registry: false,
        redis: { host: services.redis.host, port: services.redis.port, retryStrategy: () => null },
      }),
    );
    expect(isAuthError('redis', err)).toBe(true);
  });

  it('MongoDB wire protocol (FerretDB): a bad password is code 18; an unknown command is not auth', async () => {
    const url = `mongodb://${services.mongo.host}:${services.mongo.port}/`;
    const bad = new MongoClient(url, {
      auth: { username: services.mongo.user, password: 'not-the-password' },
      authSource: 'admin',
      serverSelectionTimeoutMS: 5000,
      ...mongoTlsOptions(testTls(services.mongo.host)),
    });
    const wrong = await failure(async () => {
      await bad.connect();
      await bad.db('admin').command({ ping: 1 });
    });
    await bad.close().catch(() => undefined);
    expect(errorCode(wrong)).toBe('18');
    expect(isAuthError('mongodb', wrong)).toBe(true);

    const good = new MongoClient(url, {
      auth: { username: services.mongo.user, password: services.mongo.password },
      authSource: 'admin',
      serverSelectionTimeoutMS: 5000,
      ...mongoTlsOptions(testTls(services.mongo.host)),
    });
    try {
      await good.connect();
      const other = await failure(() => good.db('admin').command({ noSuchCommand: 1 }));
      expect(isAuthError('mongodb', other)).toBe(false);
    } finally {
      await good.close();
    }
  });

  it('finds an auth error wrapped by a driver (cause / AggregateError)', () => {
    const inner = Object.assign(new Error('Authentication failed.'), { code: 18 });
    expect(isAuthError('mongodb', Object.assign(new Error('server selection'), { cause: inner }))).toBe(true);
    expect(
      isAuthError('postgres', new AggregateError([Object.assign(new Error('x'), { code: '28P01' })])),
    ).toBe(true);
    expect(isAuthError('redis', new Error('ERR unknown command'))).toBe(false);
  });
});
