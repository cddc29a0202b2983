/**
 * No error that leaves the consumer library carries a password (issue 16,
 * item 2), for all four drivers on the real servers and on every path:
 *
 * - create: the first credential is refused;
 * - swap: a new version is refused (the application keeps the old client;
 *   only the log hears about it);
 * - reconnect: the server stops accepting the client's password and ends its
 *   sessions; the operations that follow fail on a new connection's login;
 * - queued call: an operation issued while that reconnect is under way
 *   (ioredis queues it and rejects it with the AUTH error, whose
 *   `command.args` hold the username and password).
 *
 * Every error is serialized the ways applications log it: util.inspect
 * (showHidden, deep), JSON.stringify, pino's err serializer and
 * console.error. The password must appear in none of them.
 */
import { Console } from 'node:console';
import { PassThrough } from 'node:stream';
import { inspect } from 'node:util';
import { escape } from 'mysql2/promise';
import { escapeIdentifier, escapeLiteral } from 'pg';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { isAuthError } from '../../src/consumer/auth-errors';
import { RotatingMongoClient } from '../../src/consumer/mongo-client';
import { RotatingMysqlPool } from '../../src/consumer/mysql-pool';
import { RotatingPgPool } from '../../src/consumer/pg-pool';
import { RotatingRedis } from '../../src/consumer/redis-client';
import type {
  ConsumerCredential,
  ConsumerEngine,
  CredentialListener,
  CredentialSource,
} from '../../src/consumer/types';
import { createLogger } from '../../src/logger';
import { freshMongo } from '../helpers/mongo';
import { freshMysql } from '../helpers/mysql';
import { freshPg } from '../helpers/pg';
import { freshRedis } from '../helpers/redis';
import { services } from '../helpers/services';

class ManualSource implements CredentialSource {
  private readonly listeners = new Set<CredentialListener>();
  constructor(private cred: ConsumerCredential) {}
  current = async () => this.cred;
  refresh = async () => this.cred;
  subscribe(l: CredentialListener) {
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }
  publish(cred: ConsumerCredential) {
    this.cred = cred;
    for (const l of this.listeners) l(cred);
  }
  close = async () => undefined;
}

/** Every way an application prints an error. */
function serializations(err: unknown): Record<string, string> {
  const buf: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (d: Buffer) => buf.push(d.toString()));
  new Console({ stdout: stream, stderr: stream }).error(err);
  const pinoLines: string[] = [];
  pino({}, { write: (l: string) => void pinoLines.push(l) }).error({ err }, 'failed');
  return {
    inspect: inspect(err, { depth: 20, showHidden: true }),
    json: JSON.stringify(err) ?? '',
    pinoSerializer: JSON.stringify(pino.stdSerializers.err(err as Error)),
    pinoLog: pinoLines.join(''),
    consoleError: buf.join(''),
  };
}

function expectNoSecret(err: unknown, secrets: string[]): void {
  for (const [how, text] of Object.entries(serializations(err))) {
    for (const s of secrets) expect(text, `${how} of ${String((err as Error)?.message)}`).not.toContain(s);
  }
}

interface Client {
  call(): Promise<unknown>;
  version: number;
  close(): Promise<void>;
}

/** The harness's view of a rotating client: `call` is one operation of the application. */
function clientOf(
  rotating: { readonly version: number },
  { call, close }: { call: () => Promise<unknown>; close: () => Promise<void> },
): Client {
  return {
    call,
    get version() {
      return rotating.version;
    },
    close,
  };
}

interface Fixture {
  engine: ConsumerEngine;
  /** A login that works, with its password. */
  setup(password: string): Promise<string>;
  open(source: CredentialSource, logger: pino.Logger): Promise<Client>;
  /** The server stops accepting the login's password and ends its sessions. */
  changePassword(login: string, newPassword: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** What every rotating client here is created with besides its driver options. */
interface Base {
  source: CredentialSource;
  logger: pino.Logger;
  registry: false;
}

/** A Fixture on a fresh namespace `N`: the parts that differ per engine, each given the namespace. */
function fixture<N extends { cleanup(): Promise<void> }>(
  engine: ConsumerEngine,
  parts: {
    open(ns: N, base: Base): Promise<Client>;
    changePassword(ns: N, login: string, newPassword: string): Promise<void>;
    /** A fresh namespace, and a working login in it. */
    fresh(): Promise<N>;
    login(ns: N, password: string): Promise<string>;
  },
): () => Fixture {
  return () => {
    let ns: N | undefined;
    return {
      engine,
      async setup(password) {
        ns = await parts.fresh();
        return parts.login(ns, password);
      },
      open: (source, logger) => parts.open(ns!, { source, logger, registry: false }),
      changePassword: (login, pw) => parts.changePassword(ns!, login, pw),
      cleanup: async () => ns?.cleanup(),
    };
  };
}

const fixtures: Array<() => Fixture> = [
  fixture('postgres', {
    async open(ns, base) {
      const p = await RotatingPgPool.create({
        ...base,
        pool: { host: services.postgres.host, port: services.postgres.port, database: ns.database, max: 2 },
      });
      return clientOf(p, { call: () => p.query('SELECT 1'), close: () => p.end() });
    },
    async changePassword(ns, login, pw) {
      await ns.admin.query(`ALTER ROLE ${escapeIdentifier(login)} PASSWORD ${escapeLiteral(pw)}`);
      await ns.admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [
        login,
      ]);
    },
    fresh: freshPg,
    login: (ns, pw) => ns.createLogin('app', pw),
  }),
  fixture('mysql', {
    async open(_ns, base) {
      const pool = { connectionLimit: 2, maxIdle: 0, idleTimeout: 50 };
      const p = await RotatingMysqlPool.create({
        ...base,
        pool: { host: services.mysql.host, port: services.mysql.port, ...pool },
      });
      return clientOf(p, { call: () => p.query('SELECT 1'), close: () => p.end() });
    },
    async changePassword(ns, login, pw) {
      await ns.admin.query(`ALTER USER ${escape(login)}@'%' IDENTIFIED BY ${escape(pw)}`);
      const [rows] = await ns.admin.query(
        'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?',
        [login],
      );
      for (const r of rows as Array<{ id: number }>)
        await ns.admin.query(`KILL ${Number(r.id)}`).catch(() => undefined);
    },
    fresh: freshMysql,
    login: (ns, pw) => ns.createLogin('app', pw),
  }),
  fixture('redis', {
    async open(_ns, base) {
      const retry = { maxRetriesPerRequest: 1, retryStrategy: (times: number) => (times > 3 ? null : 50) };
      const r = await RotatingRedis.create({
        ...base,
        redis: { host: services.redis.host, port: services.redis.port, ...retry },
      });
      return clientOf(r, { call: () => r.call('PING'), close: () => r.close() });
    },
    async changePassword(ns, login, pw) {
      await ns.admin.call('ACL', 'SETUSER', login, 'resetpass', `>${pw}`);
      await ns.admin.call('CLIENT', 'KILL', 'USER', login);
    },
    fresh: freshRedis,
    login: (ns, pw) => ns.createUser('app', 'on', `>${pw}`, '+ping', '+acl|whoami'),
  }),
  fixture('mongodb', {
    async open(ns, base) {
      const c = await RotatingMongoClient.create({
        ...base,
        url: `mongodb://${services.mongo.host}:${services.mongo.port}/`,
        authSource: ns.database,
        client: { serverSelectionTimeoutMS: 2000, maxPoolSize: 1, maxIdleTimeMS: 50 },
      });
      const ping = () => c.run((m) => m.db(ns.database).command({ ping: 1 }));
      return clientOf(c, { call: ping, close: () => c.close() });
    },
    async changePassword(ns, login, pw) {
      await ns.admin.db(ns.database).command({ updateUser: login, pwd: pw });
    },
    fresh: freshMongo,
    login: (ns, pw) => ns.createUser('app', pw),
  }),
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const make of fixtures) {
  const fx = make();
  describe(`${fx.engine}: errors handed to the application carry no password`, () => {
    const logs: string[] = [];
    const logger = createLogger('debug', { write: (l: string) => void logs.push(l) });
    let client: Client | undefined;

    afterEach(async () => {
      await client?.close().catch(() => undefined);
      client = undefined;
      await fx.cleanup();
      logs.length = 0;
    });

    it('create, swap, reconnect and queued call', async () => {
      const good = `Good-${fx.engine}-Pw-0a1b2c3d4e`;
      const wrong = `Wrong-${fx.engine}-Pw-9z8y7x6w5v`;
      const next = `Next-${fx.engine}-Pw-5f6e7d8c9b`;
      const login = await fx.setup(good);
      const secrets = [good, wrong, next];

      // create: the first credential is refused
      const created = await fx
        .open(new ManualSource({ version: 1, username: login, password: wrong }), logger)
        .catch((e: unknown) => e);
      expect(created).toBeInstanceOf(Error);
      expect(isAuthError(fx.engine, created), String(created)).toBe(true);
      expectNoSecret(created, secrets);

      // swap: a refused new version stays out of the application; the log has no secret either
      const source = new ManualSource({ version: 1, username: login, password: good });
      client = await fx.open(source, logger);
      source.publish({ version: 2, username: login, password: wrong });
      await sleep(1500);
      expect(client.version).toBe(1);
      await client.call();
      expect(logs.join('')).toMatch(/new client failed its check/);
      expect(logs.join('')).not.toContain(wrong);

      // reconnect + queued calls: the password stops working server-side, sessions end
      await fx.changePassword(login, next);
      await sleep(200);
      const errors: unknown[] = [];
      for (let i = 0; i < 8 && !errors.some((e) => isAuthError(fx.engine, e)); i++) {
        const results = await Promise.allSettled([client.call(), client.call(), client.call()]);
        for (const r of results) if (r.status === 'rejected') errors.push(r.reason);
        await sleep(150);
      }
      expect(
        errors.some((e) => isAuthError(fx.engine, e)),
        errors.map(String).join('; '),
      ).toBe(true);
      for (const e of errors) expectNoSecret(e, secrets);
      expect(logs.join('')).not.toMatch(new RegExp(secrets.join('|')));
    }, 60_000);
  });
}
