import { escapeIdentifier as id, escapeLiteral as lit } from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresEngine, type PostgresEngine } from '../../../src/engines/postgres';
import {
  AdminPrivilegeError,
  ConfigError,
  UnsafeIdentifierError,
  UnsupportedStrategyError,
} from '../../../src/errors';
import { generatePassword } from '../../../src/engines/password';
import { freshPg, ownerOf, waitForPostgres, pgConnect, type PgNamespace } from '../../helpers/pg';
import { adminConnection } from '../../helpers/engines';
import { services } from '../../helpers/services';
import { addPassword, keepOnlyPassword, preflight } from '../../helpers/engine-calls';

const superAdmin = () => ({ username: services.postgres.user, password: services.postgres.password });

function engineFor(ns: PgNamespace, admin = superAdmin(), database = ns.database): PostgresEngine {
  return createPostgresEngine(adminConnection('postgres', { database, admin }));
}

/** A session as user/password on database (the helpers' pgConnect). */
const connectAs = pgConnect;

describe('PostgreSQL engine: capabilities, preflight, sessions', () => {
  beforeAll(() => waitForPostgres(), 16 * 60_000);

  let ns: PgNamespace | undefined;
  const engines: PostgresEngine[] = [];
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.close()));
    await ns?.cleanup();
    ns = undefined;
  });
  const open = (e: PostgresEngine) => (engines.push(e), e);

  it('describes the server and refuses dual-password', async () => {
    ns = await freshPg();
    const engine = open(engineFor(ns));
    const info = await engine.describe();
    expect(info.engine).toBe('postgres');
    expect(info.variant).toBe('postgresql');
    expect(info.version).toMatch(/^\d+\.\d+/);
    expect(info.strategies['dual-user'].supported).toBe(true);
    expect(info.strategies.single.supported).toBe(true);
    expect(info.strategies['dual-password']).toEqual({
      supported: false,
      reason: 'PostgreSQL has one password per role',
    });
    const login = await ns.createLogin('app', generatePassword());
    await expect(addPassword(engine, login, 'a', 'b')).rejects.toBeInstanceOf(UnsupportedStrategyError);
    await expect(keepOnlyPassword(engine, login, 'a')).rejects.toBeInstanceOf(UnsupportedStrategyError);
    await expect(preflight(engine, login, 'dual-password')).rejects.toBeInstanceOf(UnsupportedStrategyError);
  });

  it('preflight: missing login, admin without CREATEROLE, superuser login, missing grant options', async () => {
    ns = await freshPg();
    const engine = open(engineFor(ns));
    const pw = generatePassword();
    const login = await ns.createLogin('app', pw);
    await preflight(engine, login, 'dual-user');
    await preflight(engine, login, 'single');

    const missing = await preflight(engine, `${ns.prefix}nobody`, 'dual-user').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ConfigError);
    expect((missing as Error).message).toContain(`${ns.prefix}nobody`);

    const weakPw = generatePassword();
    const weak = await ns.createLogin('weak', weakPw);
    const weakEngine = open(engineFor(ns, { username: weak, password: weakPw }));
    const noCreateRole = await preflight(weakEngine, login, 'dual-user').catch((e: unknown) => e);
    expect(noCreateRole).toBeInstanceOf(AdminPrivilegeError);
    expect((noCreateRole as Error).message).toMatch(/missing CREATEROLE/);

    const rootLogin = await ns.createLogin('root', generatePassword(), 'SUPERUSER');
    const adminPw = generatePassword();
    const admin2 = await ns.createLogin('admin2', adminPw, 'CREATEROLE');
    const admin2Engine = open(engineFor(ns, { username: admin2, password: adminPw }));
    await expect(preflight(admin2Engine, rootLogin, 'single')).rejects.toThrow(
      /SUPERUSER \(login .* is a superuser\)/,
    );

    await ns.admin.query(`CREATE SCHEMA s; CREATE TABLE s.t1 (x int); CREATE TABLE s.t2 (x int);
      GRANT USAGE ON SCHEMA s TO ${id(login)}; GRANT SELECT, INSERT ON s.t1 TO ${id(login)};
      ALTER TABLE s.t2 OWNER TO ${id(login)}`);
    const gaps = await preflight(admin2Engine, login, 'dual-user').catch((e: unknown) => e);
    expect(gaps).toBeInstanceOf(AdminPrivilegeError);
    const text = (gaps as Error).message;
    expect(text).toContain('table s.t1: SELECT WITH GRANT OPTION');
    expect(text).toContain('table s.t1: INSERT WITH GRANT OPTION');
    expect(text).toContain('schema s: USAGE WITH GRANT OPTION');
    expect(text).toContain(`membership in "${login}"`);
    expect(text).toContain('pg_signal_backend');
    expect(text).toContain('table s.t2: SELECT WITH GRANT OPTION'); // owned by the login; admin needs its rights
    expect(text).toContain(
      `privileges of ${services.postgres.user} (to revoke table s.t1: SELECT when the login is dropped)`,
    );
    await expect(
      admin2Engine.createLoginLike(login, `${ns.prefix}app_v2`, generatePassword()),
    ).rejects.toBeInstanceOf(AdminPrivilegeError);
  });

  it('a non-superuser CREATEROLE admin with the right grants clones, verifies and drops', async () => {
    ns = await freshPg();
    const pw = generatePassword();
    const login = await ns.createLogin('app', pw);
    const group = `${ns.prefix}grp`;
    const adminPw = generatePassword();
    const admin2 = await ns.createLogin('admin2', adminPw, 'CREATEROLE');
    // The managed-database layout: objects belong to an owner role the admin is a member of.
    const owner = `${ns.prefix}owner`;
    await ns.admin.query(`CREATE ROLE ${id(group)} NOLOGIN; CREATE ROLE ${id(owner)} NOLOGIN;
      CREATE SCHEMA s AUTHORIZATION ${id(owner)}; CREATE TABLE s.t1 (x int); CREATE TABLE s.t2 (x int);
      ALTER TABLE s.t1 OWNER TO ${id(owner)};
      GRANT USAGE ON SCHEMA s TO ${id(login)}; GRANT SELECT, INSERT ON s.t1 TO ${id(login)};
      ALTER TABLE s.t2 OWNER TO ${id(login)}; GRANT ${id(group)} TO ${id(login)};
      ALTER ROLE ${id(login)} SET statement_timeout = '3s';
      GRANT ${id(owner)} TO ${id(admin2)}; GRANT ${id(login)} TO ${id(admin2)}; GRANT pg_signal_backend TO ${id(admin2)}`);
    const engine = open(engineFor(ns, { username: admin2, password: adminPw }));
    await preflight(engine, login, 'dual-user');
    const newLogin = `${ns.prefix}app_v2`;
    const newPw = generatePassword();
    await engine.createLoginLike(login, newLogin, newPw);
    expect(await engine.comparePrivileges(login, newLogin)).toEqual({ missing: [], extra: [] });
    await engine.verifyLogin(
      { username: newLogin, password: newPw },
      { checks: ['SELECT * FROM s.t1', 'SELECT * FROM s.t2'] },
    );
    const old = await connectAs(ns.database, login, pw);
    await engine.dropLogin(login, newLogin);
    await old.end().catch(() => undefined);
    expect(await engine.loginExists(login)).toBe(false);
    expect(await ownerOf(ns.admin, 's.t2')).toBe(newLogin);
  });

  it('lists and ends sessions, never its own admin backends', async () => {
    ns = await freshPg();
    const engine = open(engineFor(ns));
    const pw = generatePassword();
    const login = await ns.createLogin('app', pw);
    const a = await connectAs(ns.database, login, pw);
    const b = await connectAs(ns.database, login, pw);
    await a.query('SELECT 1');
    const sessions = await engine.listSessions(login);
    expect(sessions).toHaveLength(2);
    for (const s of sessions) {
      expect(s.username).toBe(login);
      expect(s.ageSeconds).toBeGreaterThanOrEqual(0);
      expect(s.clientAddress).toBe('127.0.0.1');
      expect(s.state).toBe('idle');
    }

    const adminSessions = await engine.listSessions(services.postgres.user);
    const own = (
      await ns.admin.query(
        `SELECT pid::text FROM pg_stat_activity WHERE application_name = 'db-rotator' AND datname = $1 AND usename = $2`,
        [ns.database, services.postgres.user],
      )
    ).rows.map((r) => r.pid);
    expect(own.length).toBeGreaterThan(0);
    for (const s of adminSessions) expect(own).not.toContain(s.id);
    const mine = (await ns.admin.query('SELECT pg_backend_pid()::text AS pid')).rows[0].pid;
    expect(adminSessions.map((s) => s.id)).toContain(mine);

    expect(await engine.endSessions(login)).toBe(2);
    expect(await engine.listSessions(login)).toEqual([]);
    expect(await engine.endSessions(login)).toBe(0);
    await a.end().catch(() => undefined);
    await b.end().catch(() => undefined);
  });
});

describe('PostgreSQL engine: names, several databases, scale', () => {
  beforeAll(() => waitForPostgres(), 16 * 60_000);

  it('handles hostile names in logins, schemas, tables, columns and settings; rejects unsafe ones', async () => {
    const ns = await freshPg();
    const engine = engineFor(ns);
    try {
      const pw = `p'a"s\\s é;--${generatePassword()}`;
      const template = await ns.createLogin(`o'brien "x"; DROP ROLE y;--%@é`, pw);
      const readers = `${ns.prefix}Read "ers"`;
      const schema = `Weird "Sch"; ema%s`;
      const table = `ta%ble;"x" ü`;
      await ns.admin.query(`CREATE ROLE ${id(readers)} NOLOGIN; GRANT ${id(readers)} TO ${id(template)};
        CREATE SCHEMA ${id(schema)}; CREATE TABLE ${id(schema)}.${id(table)} ("co""l" int, other int);
        GRANT USAGE ON SCHEMA ${id(schema)} TO ${id(template)};
        GRANT SELECT (${id('co"l')}) ON ${id(schema)}.${id(table)} TO ${id(template)};
        GRANT INSERT ON ${id(schema)}.${id(table)} TO ${id(template)};
        ALTER ROLE ${id(template)} SET search_path = ${id(schema)}, public;
        ALTER ROLE ${id(template)} SET application_name = ${lit("it's; %s")};
        ALTER DEFAULT PRIVILEGES FOR ROLE ${id(template)} IN SCHEMA ${id(schema)} GRANT SELECT ON TABLES TO ${id(readers)}`);

      const newLogin = `${ns.prefix}new;"'%@ ✓ü`;
      const newPw = `n'e"w\\ ${generatePassword()}`;
      await preflight(engine, template, 'dual-user');
      await engine.createLoginLike(template, newLogin, newPw);
      expect(await engine.comparePrivileges(template, newLogin)).toEqual({ missing: [], extra: [] });
      await engine.verifyLogin(
        { username: newLogin, password: newPw },
        { checks: [`SELECT ${id('co"l')} FROM ${id(table)}`] },
      );
      const c = await connectAs(ns.database, newLogin, newPw);
      expect((await c.query('SHOW search_path')).rows[0].search_path).toBe(`"Weird ""Sch""; ema%s", public`);
      await c.query(`INSERT INTO ${id(schema)}.${id(table)} VALUES (1, 2)`);
      await expect(c.query(`SELECT other FROM ${id(schema)}.${id(table)}`)).rejects.toMatchObject({
        code: '42501',
      });
      await c.end();

      await engine.dropLogin(template, newLogin);
      expect(await engine.loginExists(template)).toBe(false);

      // 63 bytes is the limit (multi-byte characters count as bytes); NUL is never allowed.
      const fill = (n: number) =>
        ns.prefix +
        'é'.repeat(Math.floor((n - ns.prefix.length) / 2)) +
        'x'.repeat((n - ns.prefix.length) % 2);
      const longest = fill(63);
      const tooLong = fill(64);
      expect(Buffer.byteLength(longest)).toBe(63);
      expect(Buffer.byteLength(tooLong)).toBe(64);
      await engine.createLoginLike(newLogin, longest, generatePassword());
      expect(await engine.loginExists(longest)).toBe(true);
      await expect(engine.createLoginLike(newLogin, tooLong, 'x')).rejects.toBeInstanceOf(
        UnsafeIdentifierError,
      );
      await expect(preflight(engine, tooLong, 'dual-user')).rejects.toBeInstanceOf(UnsafeIdentifierError);
      await expect(engine.dropLogin(tooLong)).rejects.toBeInstanceOf(UnsafeIdentifierError);
      await expect(engine.listSessions('a\u0000b')).rejects.toBeInstanceOf(UnsafeIdentifierError);
      await expect(engine.loginExists('')).rejects.toBeInstanceOf(UnsafeIdentifierError);
      await expect(engine.verifyLogin({ username: tooLong, password: 'x' })).rejects.toBeInstanceOf(
        UnsafeIdentifierError,
      );
    } finally {
      await engine.close();
      await ns.cleanup();
    }
  });

  it('clones, compares and drops across every database the login has privileges in', async () => {
    const ns = await freshPg();
    const other = `${ns.database}_b`;
    const root = await pgConnect('postgres');
    const engine = engineFor(ns);
    try {
      await root.query(`CREATE DATABASE ${id(other)}`);
      const pw = generatePassword();
      const template = await ns.createLogin('app', pw);
      const readers = `${ns.prefix}readers`;
      await ns.admin.query(
        `CREATE ROLE ${id(readers)} NOLOGIN; ALTER ROLE ${id(template)} IN DATABASE ${id(other)} SET work_mem = '4MB'`,
      );
      const b = await ns.adminOn(other);
      b.on('error', () => undefined); // DROP DATABASE ... WITH (FORCE) below ends it
      await b.query(`CREATE SCHEMA rep; CREATE TABLE rep.daily (x int); CREATE TABLE rep.mine (x int);
        GRANT USAGE, CREATE ON SCHEMA rep TO ${id(template)}; GRANT SELECT ON rep.daily TO ${id(template)};
        ALTER TABLE rep.mine OWNER TO ${id(template)};
        ALTER DEFAULT PRIVILEGES FOR ROLE ${id(template)} IN SCHEMA rep GRANT SELECT ON TABLES TO ${id(readers)}`);

      const newLogin = `${ns.prefix}app_v2`;
      const newPw = generatePassword();
      await engine.createLoginLike(template, newLogin, newPw);
      expect(await engine.comparePrivileges(template, newLogin)).toEqual({ missing: [], extra: [] });
      const c = await connectAs(other, newLogin, newPw);
      await c.query('SELECT * FROM rep.daily');
      await c.query('INSERT INTO rep.mine VALUES (1)');
      expect((await c.query('SHOW work_mem')).rows[0].work_mem).toBe('4MB');
      await c.query('CREATE TABLE rep.grace (x int)');
      await c.end();
      const old = await connectAs(other, template, pw);
      await old.query('INSERT INTO rep.grace VALUES (1)');
      await old.end();

      await b.query(`REVOKE SELECT ON rep.daily FROM ${id(newLogin)}`);
      expect((await engine.comparePrivileges(template, newLogin)).missing).toEqual([
        `table rep.daily in database ${other}: SELECT`,
      ]);
      await engine.createLoginLike(template, newLogin, newPw);

      await engine.dropLogin(template, newLogin);
      expect(await engine.loginExists(template)).toBe(false);
      expect(await ownerOf(b, 'rep.mine')).toBe(newLogin);
    } finally {
      await engine.close();
      await root.query(`DROP DATABASE IF EXISTS ${id(other)} WITH (FORCE)`).catch(() => undefined);
      await root.end();
      await ns.cleanup();
    }
  });

  it('drops a login whose grants came from a non-owner grantor (DROP OWNED leaves those behind)', async () => {
    const ns = await freshPg();
    const engine = engineFor(ns);
    try {
      const mid = `${ns.prefix}mid`;
      const login = await ns.createLogin('app', generatePassword());
      await ns.admin.query(`CREATE ROLE ${id(mid)} NOLOGIN; CREATE TABLE t (x int, y int);
        GRANT SELECT, UPDATE (y) ON t TO ${id(mid)} WITH GRANT OPTION; GRANT CONNECT ON DATABASE ${id(ns.database)} TO ${id(mid)} WITH GRANT OPTION;
        SET ROLE ${id(mid)}; GRANT SELECT, UPDATE (y) ON t TO ${id(login)}; GRANT CONNECT ON DATABASE ${id(ns.database)} TO ${id(login)}; RESET ROLE`);
      const newLogin = `${ns.prefix}app_v2`;
      await engine.createLoginLike(login, newLogin, generatePassword());
      expect(await engine.comparePrivileges(login, newLogin)).toEqual({ missing: [], extra: [] });
      await engine.dropLogin(login, newLogin);
      expect(await engine.loginExists(login)).toBe(false);
      const acl = (await ns.admin.query(`SELECT relacl::text FROM pg_class WHERE oid = 't'::regclass`))
        .rows[0].relacl;
      expect(acl).not.toContain(`${login}=`);
    } finally {
      await engine.close();
      await ns.cleanup();
    }
  });

  it('scale: clones and compares grants on many tables (timing printed, not asserted)', async () => {
    const tables = Number(process.env.ROTATOR_PG_SCALE_TABLES ?? 1000);
    const ns = await freshPg();
    const engine = engineFor(ns);
    try {
      const template = await ns.createLogin('app', generatePassword());
      await ns.admin.query(`CREATE SCHEMA big; GRANT USAGE ON SCHEMA big TO ${id(template)}`);
      for (let start = 0; start < tables; start += 500) {
        const end = Math.min(start + 500, tables);
        await ns.admin.query(
          `DO $$ BEGIN FOR i IN ${start}..${end - 1} LOOP EXECUTE format('CREATE TABLE big.t%s (id int, v text)', i); END LOOP; END $$`,
        );
      }
      await ns.admin.query(`GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA big TO ${id(template)}`);
      const newLogin = `${ns.prefix}app_v2`;
      const t0 = performance.now();
      await engine.createLoginLike(template, newLogin, generatePassword());
      const t1 = performance.now();
      const diff = await engine.comparePrivileges(template, newLogin);
      const t2 = performance.now();
      expect(diff).toEqual({ missing: [], extra: [] });
      const t3 = performance.now();
      await engine.createLoginLike(template, newLogin, generatePassword());
      const t4 = performance.now();
      console.log(
        `[scale] ${tables} tables x 3 privileges: clone ${(t1 - t0).toFixed(0)} ms, compare ${(t2 - t1).toFixed(0)} ms, ` +
          `re-sync ${(t4 - t3).toFixed(0)} ms`,
      );
    } finally {
      await engine.close();
      await ns.cleanup();
    }
  });
});
