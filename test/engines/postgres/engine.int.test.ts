import { escapeIdentifier as id } from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresEngine } from '../../../src/engines/postgres';
import type { Engine } from '../../../src/engines/types';
import { ConfigError, VerificationError } from '../../../src/errors';
import { generatePassword } from '../../../src/engines/password';
import { scramVerifierMatches } from '../../../src/engines/postgres/scram';
import { freshPg, ownerOf, waitForPostgres, type PgNamespace, pgConnect } from '../../helpers/pg';
import { adminConnection, outcomeOf } from '../../helpers/engines';
import { services } from '../../helpers/services';
import { preflight, setPassword } from '../../helpers/engine-calls';

function engineFor(
  ns: PgNamespace,
  admin = { username: services.postgres.user, password: services.postgres.password },
): Engine {
  return createPostgresEngine(adminConnection('postgres', { database: ns.database, admin }));
}

/** A session as user/password on database (the helpers' pgConnect). */
const connectAs = pgConnect;

interface Fixture {
  ns: PgNamespace;
  template: string;
  password: string;
  readers: string;
  writers: string;
  creator: string;
  largeObject: number;
}

/**
 * A realistic application login: schema/table/view/sequence/function/type
 * grants, column grants, a WITH GRANT OPTION, group memberships (one with
 * ADMIN OPTION), role settings (global and per database), connection limit,
 * VALID UNTIL, objects it owns and default privileges in both directions.
 */
async function buildTemplate(ns: PgNamespace, templateSuffix = 'app'): Promise<Fixture> {
  const password = generatePassword();
  const template = await ns.createLogin(templateSuffix, password);
  const readers = `${ns.prefix}readers`;
  const writers = `${ns.prefix}writers`;
  const creator = `${ns.prefix}creator`;
  const T = id(template);
  const db = id(ns.database);
  await ns.admin.query(`
    CREATE ROLE ${id(readers)} NOLOGIN; CREATE ROLE ${id(writers)} NOLOGIN; CREATE ROLE ${id(creator)} NOLOGIN;
    REVOKE ALL ON DATABASE ${db} FROM PUBLIC;
    GRANT CONNECT, CREATE, TEMPORARY ON DATABASE ${db} TO ${T};
    CREATE SCHEMA app;
    GRANT USAGE, CREATE ON SCHEMA app TO ${T};
    GRANT USAGE ON SCHEMA app TO ${id(readers)}, ${id(writers)}, ${id(creator)};
    GRANT CREATE ON SCHEMA app TO ${id(creator)};
    CREATE TABLE app.orders (id serial PRIMARY KEY, total numeric, note text);
    CREATE TABLE app.customers (id int PRIMARY KEY, name text, ssn text);
    INSERT INTO app.customers VALUES (1, 'ann', '123-45-6789');
    CREATE TABLE app.audit (id serial, msg text);
    CREATE TABLE app.locked (x int);
    CREATE VIEW app.order_totals AS SELECT id, total FROM app.orders;
    CREATE SEQUENCE app.invoice_seq;
    CREATE FUNCTION app.add(a int, b int) RETURNS int LANGUAGE sql AS 'SELECT a + b';
    CREATE FUNCTION app.secret_fn() RETURNS int LANGUAGE sql AS 'SELECT 42';
    REVOKE EXECUTE ON FUNCTION app.add(int, int), app.secret_fn() FROM PUBLIC;
    CREATE TYPE app.status AS ENUM ('new', 'paid');
    REVOKE USAGE ON TYPE app.status FROM PUBLIC;
    GRANT USAGE ON TYPE app.status TO ${T};
    GRANT SELECT, INSERT, UPDATE ON app.orders TO ${T};
    GRANT USAGE, SELECT ON SEQUENCE app.orders_id_seq, app.invoice_seq TO ${T};
    GRANT SELECT ON app.order_totals TO ${T} WITH GRANT OPTION;
    GRANT SELECT (id, name), UPDATE (name) ON app.customers TO ${T};
    GRANT EXECUTE ON FUNCTION app.add(int, int) TO ${T};
    GRANT SELECT, INSERT ON app.audit TO ${id(writers)};
    GRANT USAGE ON SEQUENCE app.audit_id_seq TO ${id(writers)};
    GRANT SELECT ON app.audit TO ${id(readers)};
    GRANT ${id(readers)} TO ${T};
    GRANT ${id(writers)} TO ${T} WITH ADMIN OPTION;
    ALTER ROLE ${T} CONNECTION LIMIT 7 VALID UNTIL 'infinity' CREATEDB;
    ALTER ROLE ${T} SET statement_timeout = '5s';
    ALTER ROLE ${T} IN DATABASE ${db} SET search_path = app, public;
    ALTER ROLE ${T} IN DATABASE ${db} SET work_mem = '8MB';
    CREATE TABLE app.owned_by_app (id int, v text);
    ALTER TABLE app.owned_by_app OWNER TO ${T};
    CREATE SEQUENCE app.owned_seq;
    ALTER SEQUENCE app.owned_seq OWNER TO ${T};
    ALTER DEFAULT PRIVILEGES FOR ROLE ${T} IN SCHEMA app GRANT SELECT ON TABLES TO ${id(readers)};
    ALTER DEFAULT PRIVILEGES FOR ROLE ${T} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
    ALTER DEFAULT PRIVILEGES FOR ROLE ${id(creator)} IN SCHEMA app GRANT SELECT ON TABLES TO ${T};
    CREATE PROCEDURE app.bump() LANGUAGE sql AS 'SELECT 1';
    CREATE AGGREGATE app.total(int) (sfunc = int4pl, stype = int);
    REVOKE EXECUTE ON PROCEDURE app.bump() FROM PUBLIC;
    REVOKE EXECUTE ON FUNCTION app.total(int) FROM PUBLIC;
    GRANT EXECUTE ON PROCEDURE app.bump() TO ${T};
    GRANT EXECUTE ON FUNCTION app.total(int) TO ${T};
    CREATE DOMAIN app.positive AS int CHECK (VALUE > 0);
    REVOKE USAGE ON DOMAIN app.positive FROM PUBLIC;
    GRANT USAGE ON DOMAIN app.positive TO ${T};
    REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC;
    GRANT USAGE ON LANGUAGE plpgsql TO ${T};
    CREATE FOREIGN DATA WRAPPER app_fdw;
    CREATE SERVER app_srv FOREIGN DATA WRAPPER app_fdw;
    GRANT USAGE ON FOREIGN DATA WRAPPER app_fdw TO ${T};
    GRANT USAGE ON FOREIGN SERVER app_srv TO ${T};
    GRANT SET ON PARAMETER log_statement TO ${T};
  `);
  const largeObject = Number((await ns.admin.query(`SELECT lo_from_bytea(0, 'blob') AS oid`)).rows[0].oid);
  await ns.admin.query(`GRANT SELECT ON LARGE OBJECT ${largeObject} TO ${T}`);
  return { ns, template, password, readers, writers, creator, largeObject };
}

/** What the application does, allowed and denied; the template and the clone must agree on every line. */
const workload = (fx: Fixture) => [
  `INSERT INTO app.orders (total, note) VALUES (10, 'x')`,
  `SELECT count(*) FROM app.orders`,
  `UPDATE app.orders SET note = 'y'`,
  `DELETE FROM app.orders`,
  `SELECT id, name FROM app.customers`,
  `SELECT ssn FROM app.customers`,
  `UPDATE app.customers SET name = 'bob' WHERE id = 1`,
  `UPDATE app.customers SET ssn = '0' WHERE id = 1`,
  `SELECT * FROM app.order_totals`,
  `SELECT nextval('app.invoice_seq')`,
  `SELECT app.add(1, 2)`,
  `SELECT app.secret_fn()`,
  `SELECT 'new'::app.status`,
  `INSERT INTO app.audit (msg) VALUES ('via writers')`,
  `SELECT * FROM app.audit`,
  `SELECT * FROM app.locked`,
  `INSERT INTO app.owned_by_app VALUES (1, 'a')`,
  `SELECT * FROM app.owned_by_app`,
  `SELECT nextval('app.owned_seq')`,
  `CREATE TEMP TABLE scratch (x int)`,
  `CALL app.bump()`,
  `SELECT app.total(x) FROM (VALUES (1), (2)) AS v(x)`,
  `SELECT 5::app.positive`,
  `DO $$ BEGIN PERFORM 1; END $$`,
  `SET LOCAL log_statement = 'none'`,
  `SELECT lo_get(${fx.largeObject})`,
  `SELECT lo_put(${fx.largeObject}, 0, 'x')`,
  `SELECT count(*) FROM pg_foreign_server WHERE has_server_privilege(oid, 'USAGE') AND srvname = 'app_srv'`,
];

describe('PostgreSQL engine: dual-user clone, parity, grace and drop', () => {
  beforeAll(() => waitForPostgres(15 * 60_000), 16 * 60_000);

  let ns: PgNamespace | undefined;
  let engine: Engine | undefined;
  afterEach(async () => {
    await engine?.close();
    await ns?.cleanup();
    engine = undefined;
    ns = undefined;
  });

  /** A fresh database, its engine and the realistic template login; `newLogin` is the clone's name. */
  async function setUp() {
    const n = await freshPg();
    const e = engineFor(n);
    ns = n;
    engine = e;
    return { ns: n, engine: e, fx: await buildTemplate(n), newLogin: `${n.prefix}app_v2` };
  }

  /** setUp(), then the template cloned as `newLogin` with a fresh password. */
  async function setUpClone() {
    const s = await setUp();
    const newPassword = generatePassword();
    await s.engine.createLoginLike(s.fx.template, s.newLogin, newPassword);
    return { ...s, newPassword };
  }

  it('clones every privilege, attribute, membership and setting of a realistic login', async () => {
    const { ns, engine, fx, newLogin } = await setUp();
    const newPassword = generatePassword();

    await preflight(engine, fx.template, 'dual-user');
    await engine.createLoginLike(fx.template, newLogin, newPassword);

    const diff = await engine.comparePrivileges(fx.template, newLogin);
    expect(diff.missing).toEqual([]);
    expect(diff.extra).toEqual([]);

    // Logs in through the SCRAM verifier we computed; the server stored exactly a verifier.
    await engine.verifyLogin(
      { username: newLogin, password: newPassword },
      { checks: ['SELECT count(*) FROM app.orders'] },
    );
    const [stored] = (
      await ns.admin.query(`SELECT rolpassword FROM pg_authid WHERE rolname = $1`, [newLogin])
    ).rows;
    expect(stored.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(scramVerifierMatches(newPassword, stored.rolpassword)).toBe(true);

    // Same allowed and denied operations, run in transactions that are rolled back.
    const run = async (user: string, password: string) => {
      const c = await connectAs(ns!.database, user, password);
      try {
        const results: Record<string, string> = {};
        for (const s of workload(fx)) {
          await c.query('BEGIN');
          results[s] = await outcomeOf(() => c.query(s));
          await c.query('ROLLBACK');
        }
        return results;
      } finally {
        await c.end();
      }
    };
    const asTemplate = await run(fx.template, fx.password);
    const asClone = await run(newLogin, newPassword);
    expect(asClone).toEqual(asTemplate);
    expect(asTemplate[`DELETE FROM app.orders`]).toBe('42501');
    expect(asTemplate[`SELECT ssn FROM app.customers`]).toBe('42501');
    expect(asTemplate[`SELECT app.secret_fn()`]).toBe('42501');
    expect(asTemplate[`SELECT * FROM app.locked`]).toBe('42501');
    expect(asTemplate[`INSERT INTO app.orders (total, note) VALUES (10, 'x')`]).toBe('ok');
    expect(asTemplate[`INSERT INTO app.audit (msg) VALUES ('via writers')`]).toBe('ok');
    expect(asTemplate[`SELECT nextval('app.owned_seq')`]).toBe('ok');
    for (const s of [
      `CALL app.bump()`,
      `SELECT 5::app.positive`,
      `DO $$ BEGIN PERFORM 1; END $$`,
      `SET LOCAL log_statement = 'none'`,
    ]) {
      expect(asTemplate[s]).toBe('ok');
    }
    expect(asTemplate[`SELECT lo_get(${fx.largeObject})`]).toBe('ok');
    expect(asTemplate[`SELECT lo_put(${fx.largeObject}, 0, 'x')`]).toBe('42501');
    const fdw = (
      await ns.admin.query(
        `SELECT has_foreign_data_wrapper_privilege($1, 'app_fdw', 'USAGE') AS fdw, has_server_privilege($1, 'app_srv', 'USAGE') AS srv`,
        [newLogin],
      )
    ).rows[0];
    expect(fdw).toEqual({ fdw: true, srv: true });

    // Attributes, memberships, settings, grant options and default privileges in the catalogs.
    const role = (
      await ns.admin.query(
        `SELECT rolconnlimit, rolvaliduntil = 'infinity' AS forever, rolcreatedb, rolcanlogin, rolsuper FROM pg_roles WHERE rolname = $1`,
        [newLogin],
      )
    ).rows[0];
    expect(role).toEqual({
      rolconnlimit: 7,
      forever: true,
      rolcreatedb: true,
      rolcanlogin: true,
      rolsuper: false,
    });
    const members = (
      await ns.admin.query(
        `SELECT g.rolname, m.admin_option FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
        WHERE m.member = $1::regrole ORDER BY 1`,
        [id(newLogin)],
      )
    ).rows;
    expect(members).toEqual([
      { rolname: fx.readers, admin_option: false },
      { rolname: fx.writers, admin_option: true },
    ]);
    const settings = async (role: string) =>
      (
        await ns!.admin.query(
          `SELECT coalesce(d.datname, '*') AS db, s.setconfig FROM pg_db_role_setting s
           LEFT JOIN pg_database d ON d.oid = s.setdatabase WHERE s.setrole = $1::regrole ORDER BY 1`,
          [id(role)],
        )
      ).rows;
    expect(await settings(newLogin)).toEqual(await settings(fx.template));
    expect(await settings(newLogin)).toEqual([
      { db: '*', setconfig: ['statement_timeout=5s'] },
      { db: ns.database, setconfig: ['search_path=app, public', 'work_mem=8MB'] },
    ]);
    const grantable = (
      await ns.admin.query(
        `SELECT has_table_privilege($1, 'app.order_totals', 'SELECT WITH GRANT OPTION') AS view_go,
              has_table_privilege($1, 'app.orders', 'SELECT WITH GRANT OPTION') AS orders_go,
              has_column_privilege($1, 'app.customers', 'name', 'UPDATE') AS col_update,
              has_column_privilege($1, 'app.customers', 'ssn', 'SELECT') AS col_ssn`,
        [newLogin],
      )
    ).rows[0];
    expect(grantable).toEqual({ view_go: true, orders_go: false, col_update: true, col_ssn: false });
    const defaults = (
      await ns.admin.query(
        `SELECT pg_get_userbyid(defaclrole) AS creator, defaclobjtype AS kind, defaclacl::text AS acl
         FROM pg_default_acl ORDER BY 1, 2, 3`,
      )
    ).rows;
    const forNew = defaults
      .filter((d) => d.creator === newLogin)
      .map((d) => d.acl)
      .join(' ');
    expect(forNew).toContain(`${fx.readers}=r/`); // FOR ROLE new IN SCHEMA app GRANT SELECT ON TABLES TO readers
    const fromCreator = defaults.find((d) => d.creator === fx.creator)!.acl;
    expect(fromCreator).toContain(`${newLogin}=r/`); // the creator's defaults extended to the new login

    // The template itself is untouched apart from the grace bridge toward the new login.
    const templateAcl = (
      await ns.admin.query(`SELECT relacl::text FROM pg_class WHERE oid = 'app.orders'::regclass`)
    ).rows[0];
    expect(templateAcl.relacl).toContain(`${fx.template}=arw/`);
  });

  it('converges when called again: resets the password and removes extra grants', async () => {
    const { ns, engine, fx, newLogin } = await setUp();
    const first = generatePassword();
    const second = generatePassword();
    await engine.createLoginLike(fx.template, newLogin, first);
    const aclsQuery = `SELECT relname, coalesce(relacl, acldefault('r', relowner))::text AS acl FROM pg_class
      WHERE relnamespace = 'app'::regnamespace ORDER BY 1`;
    const aclsBefore = (await ns.admin.query(aclsQuery)).rows;

    // Drift on the new login (as if left over from an earlier attempt).
    await ns.admin
      .query(`GRANT DELETE ON app.orders TO ${id(newLogin)}; GRANT SELECT ON app.locked TO ${id(newLogin)};
      GRANT ${id(fx.readers)} TO ${id(newLogin)} WITH ADMIN OPTION; ALTER ROLE ${id(newLogin)} SET work_mem = '1MB';
      ALTER ROLE ${id(newLogin)} CONNECTION LIMIT 3`);
    expect((await engine.comparePrivileges(fx.template, newLogin)).extra.length).toBeGreaterThan(0);

    await engine.createLoginLike(fx.template, newLogin, second);
    const diff = await engine.comparePrivileges(fx.template, newLogin);
    expect(diff).toEqual({ missing: [], extra: [] });
    const aclsAfter = (await ns.admin.query(aclsQuery)).rows;
    expect(aclsAfter).toEqual(aclsBefore);

    await engine.verifyLogin({ username: newLogin, password: second });
    await expect(engine.verifyLogin({ username: newLogin, password: first })).rejects.toBeInstanceOf(
      VerificationError,
    );
  });

  it('grace window: objects either login creates are usable by the other', async () => {
    const { ns, fx, newLogin, newPassword } = await setUpClone();

    const oldClient = await connectAs(ns.database, fx.template, fx.password);
    const newClient = await connectAs(ns.database, newLogin, newPassword);
    try {
      await newClient.query(`CREATE TABLE app.made_by_new (id serial PRIMARY KEY, v text)`);
      await newClient.query(`CREATE FUNCTION app.new_fn() RETURNS int LANGUAGE sql AS 'SELECT 7'`);
      await newClient.query(`CREATE SCHEMA new_schema; CREATE TABLE new_schema.t (x int)`);
      await oldClient.query(`CREATE TABLE app.made_by_old (id serial PRIMARY KEY, v text)`);

      await oldClient.query(`INSERT INTO app.made_by_new (v) VALUES ('old writes new')`);
      await oldClient.query(`UPDATE app.made_by_new SET v = 'old updates new'`);
      expect((await oldClient.query(`SELECT app.new_fn() AS n`)).rows[0].n).toBe(7);
      await oldClient.query(`INSERT INTO new_schema.t VALUES (1)`);
      await newClient.query(`INSERT INTO app.made_by_old (v) VALUES ('new writes old')`);
      expect((await newClient.query(`SELECT count(*)::int AS n FROM app.made_by_old`)).rows[0].n).toBe(1);
      expect((await oldClient.query(`SELECT count(*)::int AS n FROM app.made_by_new`)).rows[0].n).toBe(1);
      // The template's own defaults still apply to what the new login creates (readers get SELECT).
      const acl = (
        await ns.admin.query(`SELECT relacl::text FROM pg_class WHERE oid = 'app.made_by_new'::regclass`)
      ).rows[0];
      expect(acl.relacl).toContain(`${fx.readers}=r/`);
    } finally {
      await oldClient.end();
      await newClient.end();
    }
  });

  it('drops the old login: ends its sessions, hands its objects to the heir, leaves nothing behind', async () => {
    const { ns, engine, fx, newLogin, newPassword } = await setUpClone();

    const oldClient = await connectAs(ns.database, fx.template, fx.password);
    await oldClient.query(`CREATE TABLE app.made_during_grace (x int)`);
    const sessions = await engine.listSessions(fx.template);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.username).toBe(fx.template);
    expect(typeof sessions[0]!.ageSeconds).toBe('number');
    const oldClientDied = new Promise<void>((resolve) => oldClient.on('end', () => resolve()));

    await engine.dropLogin(fx.template, newLogin);

    await expect(oldClient.query('SELECT 1')).rejects.toThrow();
    await oldClientDied;
    expect(await engine.loginExists(fx.template)).toBe(false);
    const owners = (
      await ns.admin.query(
        `SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c
        WHERE c.relnamespace = 'app'::regnamespace AND c.relname IN ('owned_by_app', 'owned_seq', 'made_during_grace') ORDER BY 1`,
      )
    ).rows;
    expect(owners.map((o) => o.owner)).toEqual([newLogin, newLogin, newLogin]);
    const leftovers = (
      await ns.admin.query(
        `SELECT count(*)::int AS n FROM pg_default_acl WHERE defaclacl::text LIKE '%' || $1 || '=%'`,
        [fx.template],
      )
    ).rows[0];
    expect(leftovers.n).toBe(0);

    // The heir keeps working.
    const c = await connectAs(ns.database, newLogin, newPassword);
    try {
      await c.query(`INSERT INTO app.owned_by_app VALUES (2, 'b')`);
      await c.query(`INSERT INTO app.made_during_grace VALUES (1)`);
      await c.query(`INSERT INTO app.orders (total) VALUES (1)`);
    } finally {
      await c.end();
    }

    // Dropping again, or a login that never existed, is a no-op.
    await engine.dropLogin(fx.template, newLogin);
    await engine.dropLogin(`${ns.prefix}never_existed`);
  });

  it('refuses to drop a login that owns objects without an heir, and rolls back a clone with the template as heir', async () => {
    const { ns, engine, fx, newLogin } = await setUp();
    await expect(engine.dropLogin(fx.template)).rejects.toBeInstanceOf(ConfigError);
    expect(await engine.loginExists(fx.template)).toBe(true);
    expect(
      (await ns.admin.query(`SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, [fx.template])).rows[0]
        .rolcanlogin,
    ).toBe(true);

    const newPassword = generatePassword();
    await engine.createLoginLike(fx.template, newLogin, newPassword);
    const c = await connectAs(ns.database, newLogin, newPassword);
    await c.query(`CREATE TABLE app.made_by_new (x int)`);
    await engine.dropLogin(newLogin, fx.template); // compensation / rollback
    await c.query('SELECT 1').catch(() => undefined);
    await c.end().catch(() => undefined);
    expect(await engine.loginExists(newLogin)).toBe(false);
    expect(await ownerOf(ns.admin, 'app.made_by_new')).toBe(fx.template);
    // The template's default ACLs no longer mention the dropped login.
    const mentions = (
      await ns.admin.query(
        `SELECT count(*)::int AS n FROM pg_default_acl WHERE defaclacl::text LIKE '%' || $1 || '%'`,
        [newLogin],
      )
    ).rows[0];
    expect(mentions.n).toBe(0);

    // A fresh login with nothing owned can be dropped without an heir.
    const plain = await ns.createLogin('plain', generatePassword());
    await ns.admin.query(`GRANT SELECT ON app.orders TO ${id(plain)}`);
    await engine.dropLogin(plain);
    expect(await engine.loginExists(plain)).toBe(false);
  });

  it('reports a revoked grant, a lost membership and a missing setting', async () => {
    const { ns, engine, fx, newLogin } = await setUpClone();
    await ns.admin.query(`
      REVOKE UPDATE ON app.orders FROM ${id(newLogin)};
      REVOKE GRANT OPTION FOR SELECT ON app.order_totals FROM ${id(newLogin)};
      REVOKE UPDATE (name) ON app.customers FROM ${id(newLogin)};
      REVOKE ${id(fx.writers)} FROM ${id(newLogin)};
      ALTER ROLE ${id(newLogin)} RESET statement_timeout;
      ALTER ROLE ${id(newLogin)} CONNECTION LIMIT 3;
      GRANT SELECT ON app.locked TO ${id(newLogin)};
      ALTER DEFAULT PRIVILEGES FOR ROLE ${id(newLogin)} IN SCHEMA app REVOKE SELECT ON TABLES FROM ${id(fx.readers)};
    `);
    const diff = await engine.comparePrivileges(fx.template, newLogin);
    expect(diff.missing).toEqual(
      expect.arrayContaining([
        'table app.orders: UPDATE',
        'view app.order_totals: SELECT (grant option)',
        'column app.customers.name: UPDATE',
        `membership in ${fx.writers} WITH ADMIN OPTION`,
        'setting statement_timeout=5s',
        'attribute CONNECTION LIMIT 7',
        `default privileges of <login> in schema app on TABLES to ${fx.readers}: SELECT`,
      ]),
    );
    expect(diff.missing).toHaveLength(7);
    expect(diff.extra).toEqual(['attribute CONNECTION LIMIT 3', 'table app.locked: SELECT']);
  });
});

describe('verification and password', () => {
  beforeAll(() => waitForPostgres(15 * 60_000), 16 * 60_000);

  it('verifyLogin names the user and SQLSTATE, never the password; setPassword sends a verifier', async () => {
    const ns = await freshPg();
    const engine = engineFor(ns);
    try {
      const pw = generatePassword();
      const login = await ns.createLogin('v', pw);
      const wrong = generatePassword();
      const err = await engine.verifyLogin({ username: login, password: wrong }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VerificationError);
      expect((err as Error).message).toBe(`login failed for ${login}: 28P01`);
      expect((err as Error).message).not.toContain(wrong);

      const failing = await engine
        .verifyLogin({ username: login, password: pw }, { checks: ['SELECT 1', 'SELECT * FROM pg_authid'] })
        .catch((e: unknown) => e);
      expect(failing).toBeInstanceOf(VerificationError);
      expect((failing as Error).message).toMatch(/check 2 \(SELECT \* FROM pg_authid\) failed .*42501/);
      // Checks run read-only: DDL is refused before it is sent, a write inside a reading statement by the server.
      await expect(
        engine.verifyLogin({ username: login, password: pw }, { checks: ['CREATE TEMP TABLE x (y int)'] }),
      ).rejects.toThrow(/must be one reading statement/);
      await expect(
        engine.verifyLogin(
          { username: login, password: pw },
          { checks: ["SELECT nextval('no_such_seq')", 'WITH x AS (INSERT INTO t VALUES (1)) SELECT 1'] },
        ),
      ).rejects.toThrow(/check 1 .*failed/);

      const next = generatePassword();
      await setPassword(engine, login, next);
      await setPassword(engine, login, next); // idempotent
      await engine.verifyLogin({ username: login, password: next });
      const stored = (await ns.admin.query(`SELECT rolpassword FROM pg_authid WHERE rolname = $1`, [login]))
        .rows[0].rolpassword;
      expect(scramVerifierMatches(next, stored)).toBe(true);
      await expect(setPassword(engine, `${ns.prefix}missing`, next)).rejects.toBeInstanceOf(ConfigError);
    } finally {
      await engine.close();
      await ns.cleanup();
    }
  });

  it('admin connection errors are classified', async () => {
    const ns = await freshPg();
    try {
      const bad = engineFor(ns, { username: services.postgres.user, password: 'definitely-wrong' });
      await expect(bad.describe()).rejects.toThrow(/admin credential rejected \(SQLSTATE 28P01\)/);
      await bad.close();
      const down = createPostgresEngine({
        host: '127.0.0.1',
        port: 1,
        database: 'postgres',
        admin: { username: 'x', password: 'y' },
        connectTimeoutMs: 2000,
      });
      await expect(down.describe()).rejects.toMatchObject({ name: 'TransientError' });
      await down.close();
    } finally {
      await ns.cleanup();
    }
  });
});
