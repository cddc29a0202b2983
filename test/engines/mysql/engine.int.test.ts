import { escape, escapeId } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMysqlEngine, type MysqlEngine } from '../../../src/engines/mysql';
import { nativePasswordHash } from '../../../src/engines/mysql/auth';
import {
  AdminPrivilegeError,
  ConfigError,
  TransientError,
  UnsafeIdentifierError,
  UnsupportedStrategyError,
  VerificationError,
} from '../../../src/errors';
import { freshMysql, waitForMysql, type MysqlNamespace } from '../../helpers/mysql';
import { services } from '../../helpers/services';
import { adminConnection } from '../../helpers/engines';
import { Timings } from '../../helpers/timings';
import { addPassword, keepOnlyPassword, preflight, setPassword } from '../../helpers/engine-calls';

const timings = new Timings();
const timed = <T>(name: string, fn: () => Promise<T>) => timings.timed(name, fn);

function engineFor(
  ns: MysqlNamespace,
  admin = { username: services.mysql.user, password: services.mysql.password },
): MysqlEngine {
  return createMysqlEngine(adminConnection('mysql', { database: ns.database, admin }));
}

/** SHOW CREATE USER without the IDENTIFIED clause: the attributes a password change must keep. */
async function attributes(ns: MysqlNamespace, user: string, host = '%'): Promise<string> {
  const [rows] = await ns.admin.query({
    sql: 'SHOW CREATE USER ?@?',
    values: [user, host],
    rowsAsArray: true,
  });
  return (rows as string[][])
    .map((r) => r[0]!)
    .join('\n')
    .replace(
      / IDENTIFIED (BY PASSWORD '[^']*'|VIA .*?USING '[^']*'( OR mysql_native_password USING '[^']*')*)/,
      '',
    );
}

async function canLogIn(engine: MysqlEngine, username: string, password: string): Promise<boolean | string> {
  try {
    await engine.verifyLogin({ username, password });
    return true;
  } catch (err) {
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as Error).message).not.toContain(password);
    return (err as Error).message.includes('ER_ACCESS_DENIED_ERROR (1045)') ? false : (err as Error).message;
  }
}

let ns: MysqlNamespace;
let engine: MysqlEngine;

/** A login that may connect to the test database (verifyLogin connects to it). */
async function appLogin(name: string, password: string, attrs = ''): Promise<string> {
  const user = await ns.createLogin(name, password, attrs);
  await ns.admin.query(`GRANT SELECT ON ${escapeId(ns.database)}.* TO ${escape(user)}@'%'`);
  return user;
}

/** appLogin with `attrs` and the old password; its attributes, which must match `shows`. */
async function appWithAttributes(name: string, attrs: string, shows: RegExp) {
  const app = await appLogin(name, 'old-password-123456', attrs);
  const before = await attributes(ns, app);
  expect(before).toMatch(shows);
  return { app, before };
}

beforeAll(() => waitForMysql(), 16 * 60_000);
beforeEach(async () => {
  ns = await freshMysql();
  engine = engineFor(ns);
});
afterEach(async () => {
  await engine.close();
  await ns.cleanup();
});
afterAll(() => timings.print('MySQL engine timings (MariaDB)'));

describe('describe', () => {
  it('reports the variant, version and strategies of the live server', async () => {
    const info = await engine.describe();
    expect(info.engine).toBe('mysql');
    expect(info.variant).toBe('mariadb');
    expect(info.version).toMatch(/MariaDB/);
    expect(info.strategies['dual-password']).toEqual({
      supported: true,
      reason: expect.stringMatching(/two mysql_native_password hashes/),
    });
    expect(info.strategies['dual-user'].supported).toBe(true);
    expect(info.strategies.single.supported).toBe(true);
  });

  it('connection trouble is transient', async () => {
    const dead = createMysqlEngine({
      host: '127.0.0.1',
      port: 1,
      admin: { username: services.mysql.user, password: services.mysql.password },
      connectTimeoutMs: 2000,
    });
    await expect(dead.describe()).rejects.toBeInstanceOf(TransientError);
    await dead.close();
  });
});

describe('dual-password (MariaDB authentication chain)', () => {
  it('accepts old and new, then only the kept one; keeps limits and expiry; converges on retries', async () => {
    const { app, before } = await appWithAttributes(
      'app',
      'REQUIRE NONE WITH MAX_USER_CONNECTIONS 5 MAX_QUERIES_PER_HOUR 10000 PASSWORD EXPIRE INTERVAL 30 DAY',
      /MAX_QUERIES_PER_HOUR 10000 MAX_USER_CONNECTIONS 5/,
    );
    await preflight(engine, app, 'dual-password');

    await timed('addPassword', () => addPassword(engine, app, 'new-password-654321', 'old-password-123456'));
    expect(await canLogIn(engine, app, 'old-password-123456')).toBe(true);
    expect(await canLogIn(engine, app, 'new-password-654321')).toBe(true);
    expect(await canLogIn(engine, app, 'wrong-password-000000')).toBe(false);
    expect(await attributes(ns, app)).toBe(before);

    // A retry leaves the account exactly as it is (no second ALTER USER).
    const [[stamp]] = (await ns.admin.query(
      "SELECT JSON_VALUE(Priv, '$.password_last_changed') AS t, Priv AS p FROM mysql.global_priv WHERE User = ?",
      [app],
    )) as unknown as [[{ t: string; p: unknown }]];
    await timed('addPassword (retry, no-op)', () =>
      addPassword(engine, app, 'new-password-654321', 'old-password-123456'),
    );
    const [[again]] = (await ns.admin.query(
      "SELECT JSON_VALUE(Priv, '$.password_last_changed') AS t, Priv AS p FROM mysql.global_priv WHERE User = ?",
      [app],
    )) as unknown as [[{ t: string; p: unknown }]];
    expect(again).toEqual(stamp);

    const oldSession = await ns.connectAs(app, 'old-password-123456');
    await timed('keepOnlyPassword', () => keepOnlyPassword(engine, app, 'new-password-654321'));
    expect(await canLogIn(engine, app, 'old-password-123456')).toBe(false);
    expect(await canLogIn(engine, app, 'new-password-654321')).toBe(true);
    expect(await attributes(ns, app)).toBe(before);
    // Established sessions survive the removal of their password (why heartbeats decide the drain).
    await expect(oldSession.query('SELECT 1')).resolves.toBeDefined();
    await keepOnlyPassword(engine, app, 'new-password-654321');
    expect(await canLogIn(engine, app, 'new-password-654321')).toBe(true);
  });

  it('undo: keepOnlyPassword(current) removes the added password', async () => {
    const app = await appLogin('app', 'old-password-123456');
    await addPassword(engine, app, 'new-password-654321', 'old-password-123456');
    await keepOnlyPassword(engine, app, 'old-password-123456');
    expect(await canLogIn(engine, app, 'old-password-123456')).toBe(true);
    expect(await canLogIn(engine, app, 'new-password-654321')).toBe(false);
    // And from an unexpected state (only the new one left) addPassword still converges.
    await keepOnlyPassword(engine, app, 'new-password-654321');
    await addPassword(engine, app, 'new-password-654321', 'old-password-123456');
    expect(await canLogIn(engine, app, 'old-password-123456')).toBe(true);
    expect(await canLogIn(engine, app, 'new-password-654321')).toBe(true);
  });

  it('keeps REQUIRE SSL, resource limits, password lifetime and ACCOUNT LOCK', async () => {
    const { app, before } = await appWithAttributes(
      'locked',
      "REQUIRE SUBJECT '/CN=app''s client' AND ISSUER '/CN=ca' WITH MAX_QUERIES_PER_HOUR 100 MAX_UPDATES_PER_HOUR 7 MAX_CONNECTIONS_PER_HOUR 9 MAX_USER_CONNECTIONS 5 MAX_STATEMENT_TIME 2.5 PASSWORD EXPIRE NEVER ACCOUNT LOCK",
      /REQUIRE .*SUBJECT .*ACCOUNT LOCK PASSWORD EXPIRE NEVER/,
    );
    await addPassword(engine, app, 'new-password-654321', 'old-password-123456');
    expect(await attributes(ns, app)).toBe(before);
    await keepOnlyPassword(engine, app, 'new-password-654321');
    expect(await attributes(ns, app)).toBe(before);
    await setPassword(engine, app, 'third-password-98765');
    expect(await attributes(ns, app)).toBe(before);
  });

  it('refuses accounts that do not use mysql_native_password instead of replacing the plugin', async () => {
    const sock = `${ns.prefix}sock`;
    await ns.admin.query(`CREATE USER ${escape(sock)}@'%' IDENTIFIED VIA unix_socket`);
    const chain = `${ns.prefix}chain`;
    await ns.admin.query(
      `CREATE USER ${escape(chain)}@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('x-password-1234567') OR unix_socket`,
    );
    for (const login of [sock, chain]) {
      await expect(addPassword(engine, login, 'new-password-654321', 'x-password-1234567')).rejects.toThrow(
        UnsupportedStrategyError,
      );
      await expect(setPassword(engine, login, 'new-password-654321')).rejects.toThrow(/unix_socket/);
      await expect(preflight(engine, login, 'dual-password')).rejects.toBeInstanceOf(
        UnsupportedStrategyError,
      );
      await expect(engine.createLoginLike(login, `${login}_b`, 'new-password-654321')).rejects.toBeInstanceOf(
        UnsupportedStrategyError,
      );
    }
    expect(await attributes(ns, sock)).toMatch(/IDENTIFIED VIA unix_socket/);
  });
});

describe('single', () => {
  it('replaces the password in place, idempotently', async () => {
    const app = await appLogin('app', 'old-password-123456', 'WITH MAX_USER_CONNECTIONS 3');
    await preflight(engine, app, 'single');
    await timed('setPassword', () => setPassword(engine, app, 'new-password-654321'));
    expect(await canLogIn(engine, app, 'new-password-654321')).toBe(true);
    expect(await canLogIn(engine, app, 'old-password-123456')).toBe(false);
    await setPassword(engine, app, 'new-password-654321');
    expect(await canLogIn(engine, app, 'new-password-654321')).toBe(true);
    expect(await attributes(ns, app)).toMatch(/MAX_USER_CONNECTIONS 3/);
    const [[row]] = (await ns.admin.query(
      "SELECT JSON_VALUE(Priv, '$.authentication_string') AS h FROM mysql.global_priv WHERE User = ?",
      [app],
    )) as unknown as [[{ h: string }]];
    expect(row.h).toBe(nativePasswordHash('new-password-654321'));
    // Hashes are computed over UTF-8, as the client computes its proof.
    await setPassword(engine, app, 'pässwörd-ünï©ødé-42');
    expect(await canLogIn(engine, app, 'pässwörd-ünï©ødé-42')).toBe(true);
  });
});

describe('preflight', () => {
  it('passes for an admin with ALL PRIVILEGES WITH GRANT OPTION', async () => {
    const app = await appLogin('app', 'old-password-123456');
    await ns.admin.query(`GRANT SELECT ON ${escapeId(ns.database)}.* TO ${escape(app)}@'%'`);
    for (const strategy of ['dual-password', 'dual-user', 'single'] as const)
      await preflight(engine, app, strategy);
  });

  it('names a missing login', async () => {
    await expect(preflight(engine, `${ns.prefix}nobody`, 'single')).rejects.toThrow(
      new ConfigError(`login '${ns.prefix}nobody'@'%' does not exist`),
    );
  });

  it('an admin without CREATE USER gets AdminPrivilegeError, also from the statements themselves', async () => {
    const app = await appLogin('app', 'old-password-123456');
    const weak = await appLogin('weak', 'weak-password-123456');
    await ns.admin.query(`GRANT SELECT ON *.* TO ${escape(weak)}@'%' WITH GRANT OPTION`);
    const weakEngine = engineFor(ns, { username: weak, password: 'weak-password-123456' });
    try {
      const err = await preflight(weakEngine, app, 'single').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AdminPrivilegeError);
      expect((err as Error).message).toMatch(/missing CREATE USER/);
      const dual = await preflight(weakEngine, app, 'dual-user').catch((e: unknown) => e);
      expect((dual as Error).message).toMatch(/PROCESS/);
      const set = await setPassword(weakEngine, app, 'new-password-654321').catch((e: unknown) => e);
      expect(set).toBeInstanceOf(AdminPrivilegeError);
      expect((set as Error).message).not.toContain('new-password-654321');
      expect((set as Error).message).not.toContain(nativePasswordHash('new-password-654321'));
    } finally {
      await weakEngine.close();
    }
  });

  it('dual-user: a role the admin cannot grant is named', async () => {
    const app = await appLogin('app', 'old-password-123456');
    const role = await ns.createRole('r');
    await ns.admin.query(`GRANT ${escape(role)} TO ${escape(app)}@'%'`);
    const [[me]] = (await ns.admin.query('SELECT CURRENT_USER() AS u')) as unknown as [[{ u: string }]];
    const at = me.u.lastIndexOf('@');
    await ns.admin.query(
      `REVOKE ADMIN OPTION FOR ${escape(role)} FROM ${escape(me.u.slice(0, at))}@${escape(me.u.slice(at + 1))}`,
    );
    await expect(preflight(engine, app, 'dual-user')).rejects.toThrow(
      new RegExp(`missing ADMIN OPTION on role \`${role}\``),
    );
    await expect(preflight(engine, app, 'dual-password')).resolves.toBeUndefined();
  });

  it('dual-user: refuses a login that is the DEFINER of views or routines (they would break once it is dropped)', async () => {
    const app = await appLogin('app', 'old-password-123456');
    const db = escapeId(ns.database);
    await ns.admin.query(`CREATE DEFINER = ${escape(app)}@'%' VIEW ${db}.v AS SELECT 1 AS one`);
    await ns.admin.query(`CREATE DEFINER = ${escape(app)}@'%' PROCEDURE ${db}.p() SELECT 1`);
    const err = await preflight(engine, app, 'dual-user').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(
      /DEFINER of 2 object\(s\).*view `t_.*`\.`v`.*procedure `t_.*`\.`p`/,
    );
    await expect(engine.dropLogin(app)).rejects.toBeInstanceOf(ConfigError);
    expect(await engine.loginExists(app)).toBe(true);
    await preflight(engine, app, 'dual-password');
  });

  it('strategy the server lacks and unsafe names are refused', async () => {
    await expect(preflight(engine, `${ns.prefix}emoji😀`, 'single')).rejects.toBeInstanceOf(
      UnsafeIdentifierError,
    );
    await expect(preflight(engine, `${ns.prefix}${'x'.repeat(200)}`, 'single')).rejects.toThrow(
      /at most \d+/,
    );
  });
});

describe('sessions and verification', () => {
  it('lists and ends the sessions of a login, never the engine’s own', async () => {
    const app = await appLogin('app', 'old-password-123456');
    const c1 = await ns.connectAs(app, 'old-password-123456');
    await ns.connectAs(app, 'old-password-123456', ns.database);
    const sessions = await engine.listSessions(app);
    expect(sessions).toHaveLength(2);
    expect(sessions[0]).toMatchObject({ username: app, clientAddress: expect.stringMatching(/:\d+$/) });
    expect(await timed('endSessions (2)', () => engine.endSessions(app))).toBe(2);
    expect(await engine.listSessions(app)).toEqual([]);
    await expect(c1.query('SELECT 1')).rejects.toBeDefined();
    expect(await engine.endSessions(app)).toBe(0);

    // An engine whose admin is `adm` does not list (or end) its own connection.
    const adm = await ns.createLogin('adm', 'adm-password-123456');
    await ns.admin.query(`GRANT ALL PRIVILEGES ON *.* TO ${escape(adm)}@'%' WITH GRANT OPTION`);
    const own = engineFor(ns, { username: adm, password: 'adm-password-123456' });
    try {
      await own.describe();
      expect(await own.listSessions(adm)).toEqual([]);
      await ns.connectAs(adm, 'adm-password-123456');
      expect(await own.listSessions(adm)).toHaveLength(1);
      expect(await own.endSessions(adm)).toBe(1);
      await expect(own.describe()).resolves.toBeDefined();
      // The admin connection itself killed from outside: at most one transient failure, then it reconnects.
      const [ids] = await ns.admin.query(
        'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?',
        [adm],
      );
      for (const { id } of ids as { id: number }[]) await ns.admin.query(`KILL CONNECTION ${Number(id)}`);
      const first = await own.loginExists(app).then(
        () => 'ok',
        (e: unknown) => e,
      );
      if (first !== 'ok') expect(first).toBeInstanceOf(TransientError);
      expect(await own.loginExists(app)).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('verifyLogin runs checks read-only and reports failures without the password', async () => {
    const app = await appLogin('app', 'old-password-123456');
    const db = escapeId(await ns.createDatabase('_x'));
    await ns.admin.query(`CREATE TABLE ${db}.ok (x int)`);
    await ns.admin.query(`CREATE TABLE ${db}.secret (x int)`);
    await ns.admin.query(`GRANT SELECT, INSERT ON ${db}.ok TO ${escape(app)}@'%'`);
    const secret = { username: app, password: 'old-password-123456' };
    await timed('verifyLogin', () =>
      engine.verifyLogin(secret, { checks: [`SELECT count(*) FROM ${db}.ok`] }),
    );
    await expect(engine.verifyLogin(secret, { checks: [`SELECT * FROM ${db}.secret`] })).rejects.toThrow(
      /check 1 .* failed for .*ER_TABLEACCESS_DENIED_ERROR \(1142\)/,
    );
    await expect(engine.verifyLogin(secret, { checks: [`INSERT INTO ${db}.ok VALUES (1)`] })).rejects.toThrow(
      /verification check 1 must be one reading statement/,
    );
    const wrong = await engine
      .verifyLogin({ username: app, password: 'not-the-password-42' })
      .catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(VerificationError);
    expect((wrong as Error).message).toBe(`login failed for '${app}': ER_ACCESS_DENIED_ERROR (1045)`);
  });
});
