import { escape, escapeId, type Connection } from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMysqlEngine } from '../../../src/engines/mysql';
import type { Engine } from '../../../src/engines/types';
import { ConfigError, UnsafeIdentifierError } from '../../../src/errors';
import { freshMysql, waitForMysql, type MysqlNamespace } from '../../helpers/mysql';
import { adminConnection, outcomeOf } from '../../helpers/engines';
import { Timings } from '../../helpers/timings';
import { addPassword, preflight, setPassword } from '../../helpers/engine-calls';

const timings = new Timings();
const timed = <T>(name: string, fn: () => Promise<T>) => timings.timed(name, fn);

let ns: MysqlNamespace;
let engine: Engine;

beforeAll(() => waitForMysql(), 16 * 60_000);
beforeEach(async () => {
  ns = await freshMysql();
  engine = createMysqlEngine(adminConnection('mysql', { database: ns.database }));
});
afterEach(async () => {
  await engine.close();
  await ns.cleanup();
});
afterAll(() => timings.print('MySQL engine dual-user timings (MariaDB)'));

/** Runs each statement; 'ok' or the server's error code. */
async function outcomes(c: Connection, statements: Record<string, string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, sql] of Object.entries(statements)) out[name] = await outcomeOf(() => c.query(sql));
  return out;
}

interface Fixture {
  app: string;
  password: string;
  shop: string;
  other: string;
  role: string;
}

/**
 * A realistic application account: database-, table-, column- and
 * routine-level grants, WITH GRANT OPTION, a role that is its default role,
 * resource limits and a password lifetime.
 */
async function fixture(): Promise<Fixture> {
  const shop = ns.database;
  const other = await ns.createDatabase('_other');
  const [s, o] = [escapeId(shop), escapeId(other)];
  for (const sql of [
    `CREATE TABLE ${s}.orders (id int PRIMARY KEY, total int)`,
    `CREATE TABLE ${o}.t (a int, b int, c int)`,
    `CREATE TABLE ${o}.u (x int)`,
    `CREATE TABLE ${o}.via_role (x int)`,
    `CREATE TABLE ${o}.secret (x int)`,
    `INSERT INTO ${o}.t VALUES (1, 2, 3)`,
    `CREATE PROCEDURE ${o}.p() SELECT 42 AS answer`,
  ]) {
    await ns.admin.query(sql);
  }
  const role = await ns.createRole('reader');
  await ns.admin.query(`GRANT SELECT ON ${o}.via_role TO ${escape(role)}`);
  const password = 'template-password-123';
  const app = await ns.createLogin(
    'app',
    password,
    'WITH MAX_USER_CONNECTIONS 5 MAX_QUERIES_PER_HOUR 100000 PASSWORD EXPIRE INTERVAL 90 DAY',
  );
  const to = `${escape(app)}@'%'`;
  for (const sql of [
    `GRANT SELECT, INSERT, CREATE ON ${s}.* TO ${to} WITH GRANT OPTION`,
    `GRANT SELECT (a), UPDATE (a, b) ON ${o}.t TO ${to}`,
    `GRANT SELECT, DELETE ON ${o}.u TO ${to}`,
    `GRANT EXECUTE ON PROCEDURE ${o}.p TO ${to}`,
    `GRANT ${escape(role)} TO ${to}`,
    `SET DEFAULT ROLE ${escape(role)} FOR ${to}`,
  ]) {
    await ns.admin.query(sql);
  }
  return { app, password, shop, other, role };
}

/** What a login can and cannot do in the fixture. */
async function abilities(f: Fixture, login: string, password: string): Promise<Record<string, string>> {
  const c = await ns.connectAs(login, password, f.shop);
  const [s, o] = [escapeId(f.shop), escapeId(f.other)];
  const table = `t_${Math.random().toString(36).slice(2, 8)}`;
  return outcomes(c, {
    selectShop: `SELECT * FROM ${s}.orders`,
    insertShop: `INSERT INTO ${s}.orders VALUES (${Math.floor(Math.random() * 1e9)}, 1)`,
    createTableShop: `CREATE TABLE ${s}.${table} (x int)`,
    updateGrantedColumn: `UPDATE ${o}.t SET a = a + 1, b = 0`,
    updateOtherColumn: `UPDATE ${o}.t SET c = 0`,
    selectGrantedColumn: `SELECT a FROM ${o}.t`,
    selectOtherColumn: `SELECT c FROM ${o}.t`,
    deleteTable: `DELETE FROM ${o}.u`,
    viaDefaultRole: `SELECT * FROM ${o}.via_role`,
    callProcedure: `CALL ${o}.p()`,
    selectSecret: `SELECT * FROM ${o}.secret`,
    createTableOther: `CREATE TABLE ${o}.nope (x int)`,
  });
}

const EXPECTED_ABILITIES = {
  selectShop: 'ok',
  insertShop: 'ok',
  createTableShop: 'ok',
  updateGrantedColumn: 'ok',
  updateOtherColumn: 'ER_COLUMNACCESS_DENIED_ERROR',
  selectGrantedColumn: 'ok',
  selectOtherColumn: 'ER_COLUMNACCESS_DENIED_ERROR',
  deleteTable: 'ok',
  viaDefaultRole: 'ok',
  callProcedure: 'ok',
  selectSecret: 'ER_TABLEACCESS_DENIED_ERROR',
  createTableOther: 'ER_TABLEACCESS_DENIED_ERROR',
};

async function showCreateUser(user: string): Promise<string> {
  const [rows] = await ns.admin.query({
    sql: 'SHOW CREATE USER ?@?',
    values: [user, '%'],
    rowsAsArray: true,
  });
  return (rows as string[][]).map((r) => r[0]!).join('\n');
}

describe('dual-user (createLoginLike)', () => {
  it('clones grants, roles, default role and attributes; the clone can do exactly what the template can', async () => {
    const f = await fixture();
    await preflight(engine, f.app, 'dual-user');
    expect(await abilities(f, f.app, f.password)).toEqual(EXPECTED_ABILITIES);

    const clone = `${f.app}_b`;
    await timed('createLoginLike (new)', () => engine.createLoginLike(f.app, clone, 'clone-password-456'));
    expect(await timed('comparePrivileges', () => engine.comparePrivileges(f.app, clone))).toEqual({
      missing: [],
      extra: [],
    });
    await engine.verifyLogin({ username: clone, password: 'clone-password-456' });
    expect(await abilities(f, clone, 'clone-password-456')).toEqual(EXPECTED_ABILITIES);
    expect(await showCreateUser(clone)).toMatch(
      /WITH MAX_QUERIES_PER_HOUR 100000 MAX_USER_CONNECTIONS 5 PASSWORD EXPIRE INTERVAL 90 DAY$/,
    );
    // The template is untouched and still works.
    expect(await abilities(f, f.app, f.password)).toEqual(EXPECTED_ABILITIES);
  });

  it('converges on a second run: new password, extra privileges revoked, missing ones restored', async () => {
    const f = await fixture();
    const clone = `${f.app}_b`;
    await engine.createLoginLike(f.app, clone, 'clone-password-456');
    const o = escapeId(f.other);
    await ns.admin.query(`GRANT SELECT ON ${o}.secret TO ${escape(clone)}@'%'`);
    await ns.admin.query(`REVOKE DELETE ON ${o}.u FROM ${escape(clone)}@'%'`);
    await ns.admin.query(`SET DEFAULT ROLE NONE FOR ${escape(clone)}@'%'`);
    await ns.admin.query(
      `ALTER USER ${escape(clone)}@'%' REQUIRE SSL WITH MAX_USER_CONNECTIONS 1 ACCOUNT LOCK`,
    );
    const drift = await engine.comparePrivileges(f.app, clone);
    expect(drift.missing).toEqual([
      'DELETE ON `' + f.other + '`.`u`',
      'account attribute MAX_USER_CONNECTIONS 5',
      `default role \`${f.role}\``,
    ]);
    expect(drift.extra).toEqual(
      [
        'SELECT ON `' + f.other + '`.`secret`',
        'account attribute ACCOUNT LOCK',
        'account attribute MAX_USER_CONNECTIONS 1',
        'account attribute REQUIRE SSL',
      ].sort(),
    );

    await timed('createLoginLike (existing, drifted)', () =>
      engine.createLoginLike(f.app, clone, 'second-password-789'),
    );
    expect(await engine.comparePrivileges(f.app, clone)).toEqual({ missing: [], extra: [] });
    expect(await abilities(f, clone, 'second-password-789')).toEqual(EXPECTED_ABILITIES);
    await timed('createLoginLike (existing, in sync)', () =>
      engine.createLoginLike(f.app, clone, 'second-password-789'),
    );
    expect(await engine.comparePrivileges(f.app, clone)).toEqual({ missing: [], extra: [] });
  });

  it('dropLogin ends open sessions, drops the login, and is idempotent', async () => {
    const f = await fixture();
    const clone = `${f.app}_b`;
    await engine.createLoginLike(f.app, clone, 'clone-password-456');
    const open = await ns.connectAs(clone, 'clone-password-456', f.shop);
    const busy = await ns.connectAs(clone, 'clone-password-456', f.shop);
    const sleeping = busy.query('SELECT SLEEP(30)').then(
      () => 'finished',
      (err: { code?: string }) => err.code ?? 'error',
    );
    expect(await engine.listSessions(clone)).toHaveLength(2);
    await timed('dropLogin (2 open sessions)', () => engine.dropLogin(clone, f.app));
    expect(await engine.loginExists(clone)).toBe(false);
    expect(await engine.listSessions(clone)).toEqual([]);
    await expect(open.query('SELECT 1')).rejects.toBeDefined();
    expect(await sleeping).not.toBe('finished');
    await engine.dropLogin(clone);
    // The template keeps working.
    expect(await abilities(f, f.app, f.password)).toEqual(EXPECTED_ABILITIES);
  });

  it('three alternating rotations in a row (app -> app_b -> app -> app_b)', async () => {
    const f = await fixture();
    let current = { username: f.app, password: f.password };
    for (let round = 1; round <= 3; round++) {
      const next = {
        username: current.username === f.app ? `${f.app}_b` : f.app,
        password: `round-${round}-password-xyz`,
      };
      const start = performance.now();
      await preflight(engine, current.username, 'dual-user');
      await engine.createLoginLike(current.username, next.username, next.password);
      await engine.verifyLogin(next);
      await engine.verifyLogin(current);
      expect(await engine.comparePrivileges(current.username, next.username)).toEqual({
        missing: [],
        extra: [],
      });
      const held = await ns.connectAs(current.username, current.password);
      await engine.dropLogin(current.username, next.username);
      timings.record('rotation (preflight+clone+verify+compare+drop)', performance.now() - start);
      await expect(held.query('SELECT 1')).rejects.toBeDefined();
      expect(await engine.loginExists(current.username)).toBe(false);
      current = next;
    }
    expect(current.username).toBe(`${f.app}_b`);
    expect(await abilities(f, current.username, current.password)).toEqual(EXPECTED_ABILITIES);
    expect(await showCreateUser(current.username)).toMatch(/MAX_USER_CONNECTIONS 5/);
  });

  it('refuses to clone onto itself or drop the admin', async () => {
    const f = await fixture();
    await expect(engine.createLoginLike(f.app, f.app, 'x-password-1234567')).rejects.toBeInstanceOf(
      ConfigError,
    );
    await expect(
      engine.createLoginLike(`${ns.prefix}missing`, `${ns.prefix}m2`, 'x-password-1234567'),
    ).rejects.toThrow(/template login .* does not exist/);
    const [[me]] = (await ns.admin.query('SELECT CURRENT_USER() AS u')) as unknown as [[{ u: string }]];
    const at = me.u.lastIndexOf('@');
    await expect(engine.dropLogin(`'${me.u.slice(0, at)}'@'${me.u.slice(at + 1)}'`)).rejects.toThrow(
      /refusing to drop the admin account/,
    );
  });
});

describe('hostile account names', () => {
  /** [what the name attacks, the name]. */
  const NAMES: Array<[string, string]> = [
    ['a single quote', "o'brien"],
    ['a backslash', 'back\\slash'],
    ['a backtick', 'tick`tock'],
    ['a statement separator and comment', 'semi;colon -- x'],
    ['LIKE wildcards', 'pct%_under'],
    ['the user@host separator', 'at@sign'],
    ['a space', 'sp ace'],
    ['non-ASCII letters', 'ünï©ødé'],
    ['a double quote', 'dq"uote'],
    ['a newline', 'nl\nline'],
  ];

  it.each(NAMES)('%s (%j) round-trips through clone, compare, verify and drop', async (_what, name) => {
    const user = `${ns.prefix}${name}`;
    const password = 'hostile-password-123';
    await ns.admin.query(`CREATE USER ${escape(user)}@'%' IDENTIFIED BY ${escape(password)}`);
    // A database and table named like the user, so the name appears in object positions too.
    const db = await ns.createDatabase(name.replace(/[\\/.\n]/g, '_'));
    await ns.admin.query(
      `CREATE TABLE ${escapeId(db)}.${escapeId(user, true)} (${escapeId(user, true)} int)`,
    );
    await ns.admin.query(`GRANT SELECT ON ${escapeId(db)}.* TO ${escape(user)}@'%'`);
    await ns.admin.query(`GRANT SELECT ON ${escapeId(ns.database)}.* TO ${escape(user)}@'%'`);
    await ns.admin.query(
      `GRANT UPDATE (${escapeId(user, true)}) ON ${escapeId(db)}.${escapeId(user, true)} TO ${escape(user)}@'%'`,
    );

    const clone = `${user}_b`;
    await preflight(engine, user, 'dual-user');
    await engine.createLoginLike(user, clone, 'clone-password-456');
    expect(await engine.comparePrivileges(user, clone)).toEqual({ missing: [], extra: [] });
    await engine.verifyLogin({ username: clone, password: 'clone-password-456' });
    const c = await ns.connectAs(clone, 'clone-password-456', db);
    await c.query(`UPDATE ${escapeId(user, true)} SET ${escapeId(user, true)} = 1`);
    await addPassword(engine, clone, 'added-password-789', 'clone-password-456');
    await engine.verifyLogin({ username: clone, password: 'added-password-789' });
    await engine.dropLogin(clone);
    expect(await engine.loginExists(clone)).toBe(false);
    expect(await engine.loginExists(user)).toBe(true);
  });

  it("quoted 'user'@'host' logins name the host; unstorable names are rejected", async () => {
    const user = `${ns.prefix}hosted`;
    await ns.admin.query(`CREATE USER ${escape(user)}@'localhost' IDENTIFIED BY 'p-password-123456'`);
    await ns.admin.query(`CREATE USER ${escape(user)}@'10.0.0.%' IDENTIFIED BY 'p-password-123456'`);
    await ns.admin.query(`GRANT SELECT ON ${escapeId(ns.database)}.* TO ${escape(user)}@'localhost'`);
    await expect(engine.loginExists(user)).rejects.toThrow(
      /exists for several hosts \('10\.0\.0\.%', 'localhost'\)/,
    );
    const quoted = `'${user}'@'localhost'`;
    expect(await engine.loginExists(quoted)).toBe(true);
    await engine.createLoginLike(quoted, `${user}_b`, 'clone-password-456');
    expect(await engine.loginExists(`'${user}_b'@'localhost'`)).toBe(true);
    expect(await engine.loginExists(`${user}_b`)).toBe(true);
    await engine.verifyLogin({ username: `${user}_b`, password: 'clone-password-456' });
    await setPassword(engine, `'${user}'@'10.0.0.%'`, 'other-password-7890');
    const pinned = createMysqlEngine(
      adminConnection('mysql', { database: ns.database, options: { accountHost: 'localhost' } }),
    );
    try {
      expect(await pinned.loginExists(user)).toBe(true);
      await setPassword(pinned, user, 'pinned-password-2468');
      await pinned.verifyLogin({ username: user, password: 'pinned-password-2468' });
    } finally {
      await pinned.close();
    }

    await expect(
      engine.createLoginLike(quoted, `${ns.prefix}😀`, 'x-password-1234567'),
    ).rejects.toBeInstanceOf(UnsafeIdentifierError);
    await expect(
      engine.createLoginLike(quoted, `${ns.prefix}${'y'.repeat(130)}`, 'x-password-1234567'),
    ).rejects.toThrow(/is 147 characters; the server allows at most 128/);
  });
});
