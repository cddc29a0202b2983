import { afterEach, describe, expect, it } from 'vitest';
import { escape, escapeId } from 'mysql2/promise';
import { escapeIdentifier as id, type Client as PgClient } from 'pg';
import { EXIT, type DryRunReport } from '../../src/client';
import { runCli } from '../helpers/cli';
import { PLACEHOLDER_PASSWORD } from '../../src/activities/dry-run';
import { nativePasswordHash } from '../../src/engines/mysql/auth';
import { consumerHeartbeatSignal, statusQuery } from '../../src/shared/messages';
import type { RotationResult } from '../../src/shared/types';
import { freshMongo } from '../helpers/mongo';
import { freshMysql, mysqlConnect, type MysqlNamespace } from '../helpers/mysql';
import { freshRedis } from '../helpers/redis';
import { freshPg, pgConnect, type PgNamespace } from '../helpers/pg';
import { addPgAdmin, addPgApp, eventually } from '../helpers/pg-rig';
import { createRotationRig, uniqueCredentialId, type RotationRig } from '../helpers/rotation';
import { services } from '../helpers/services';
import { withDevServer } from '../helpers/with-pg-rig';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

/** The dev server for the whole file. */
const server = withDevServer({} as { env: TestWorkflowEnvironment });

const cli = (...args: string[]) => runCli(args);

/** `rotate <id> --dry-run --json`: exit code and the parsed plan. */
async function dryRun(credentialId: string): Promise<{ code: number; plan: DryRunReport; text: string }> {
  const r = await cli('rotate', credentialId, '--dry-run', '--json');
  if (!r.out) throw new Error(`no plan printed (exit ${r.code}): ${r.err}`);
  return { code: r.code, plan: JSON.parse(r.out) as DryRunReport, text: r.out };
}

/** Everything a dry run must leave alone in the store: versions and audit (minus the planned record). */
async function storeState(rig: RotationRig, ids: string[]) {
  const out: Record<string, unknown> = {};
  for (const cid of ids) {
    out[cid] = {
      versions: await rig.store.listVersions(cid),
      audit: (await rig.store.listAudit(cid))
        .filter((r) => r.action !== 'rotation-planned')
        .map((r) => `${r.action} ${r.version ?? ''}`),
    };
  }
  return out;
}

function expectNoSecret(text: string, secrets: string[]): void {
  for (const s of secrets) expect(text).not.toContain(s);
  expect(text).not.toMatch(/SCRAM-SHA-256\$/);
  expect(text).not.toMatch(/\*[0-9A-F]{40}/);
  expect(text).not.toContain(PLACEHOLDER_PASSWORD);
}

function withEnv(rig: RotationRig): () => void {
  const saved = { ...process.env };
  Object.assign(process.env, rig.env, { ROTATOR_ACTOR: 'dry-run-test' });
  return () => {
    process.env = saved;
  };
}

/**
 * Per test: `begin(fresh)` makes a namespace and a rotation rig and points the CLI's environment at
 * the rig; all of it is undone after the test.
 */
function perTest() {
  let restoreEnv: (() => void) | undefined;
  let rig: RotationRig | undefined;
  const namespaces: Array<{ cleanup(): Promise<void> }> = [];
  afterEach(async () => {
    restoreEnv?.();
    restoreEnv = undefined;
    await rig?.close();
    rig = undefined;
    for (const ns of namespaces.splice(0)) await ns.cleanup();
  });
  return async <N extends { cleanup(): Promise<void> }>(fresh: () => Promise<N>) => {
    const ns = await fresh();
    namespaces.push(ns);
    rig = await createRotationRig(server.env);
    restoreEnv = withEnv(rig);
    return { ns, rig };
  };
}

/** Registers the service's own admin at `where` in the rig's store; returns its credential id. */
async function addAdmin(
  rig: RotationRig,
  service: 'mysql' | 'redis' | 'mongo',
  where: Omit<Parameters<RotationRig['addCredential']>[0], 'id'>,
): Promise<string> {
  const id = uniqueCredentialId(`${service}-admin`);
  await rig.addCredential(
    { id, ...where },
    { username: services[service].user, password: services[service].password },
  );
  return id;
}

describe('dry run on real PostgreSQL', () => {
  const begin = perTest();
  const clients: PgClient[] = [];
  const extraDatabases: string[] = [];

  // Runs before perTest's clean-up (after-hooks run in reverse order).
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
    if (extraDatabases.length > 0) {
      const root = await pgConnect('postgres');
      try {
        for (const db of extraDatabases.splice(0)) {
          await root.query(`ALTER DATABASE ${id(db)} ALLOW_CONNECTIONS true`).catch(() => undefined);
          await root.query(`DROP DATABASE IF EXISTS ${id(db)} WITH (FORCE)`);
        }
      } finally {
        await root.end();
      }
    }
  });

  async function setup() {
    const { ns: pg, rig } = await begin(freshPg);
    const adminId = await addPgAdmin(rig, pg);
    return { pg, rig, adminId };
  }

  /** Roles of this test, their passwords, memberships, and every ACL and owner in its database. */
  async function serverState(ns: PgNamespace): Promise<unknown> {
    const q = async (sql: string, params: unknown[] = []) => (await ns.admin.query(sql, params)).rows;
    return {
      roles: await q(
        `SELECT rolname, rolsuper, rolcanlogin, rolinherit, rolconnlimit, rolvaliduntil, rolpassword
           FROM pg_authid WHERE starts_with(rolname, $1) ORDER BY rolname`,
        [ns.prefix],
      ),
      members: await q(
        `SELECT r.rolname AS grp, m.rolname AS member, a.admin_option
           FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
          WHERE starts_with(r.rolname, $1) OR starts_with(m.rolname, $1) ORDER BY 1, 2`,
        [ns.prefix],
      ),
      settings: await q(
        `SELECT r.rolname, s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
          WHERE starts_with(r.rolname, $1) ORDER BY 1`,
        [ns.prefix],
      ),
      relations: await q(
        `SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) AS owner, x.grantee::regrole::text AS grantee,
                x.privilege_type, x.is_grantable
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN LATERAL aclexplode(c.relacl) x ON true
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
          ORDER BY 1, 2, 4, 5`,
      ),
      schemas: await q(
        `SELECT n.nspname, pg_get_userbyid(n.nspowner) AS owner, n.nspacl::text FROM pg_namespace n ORDER BY 1`,
      ),
      defaults: await q(
        `SELECT pg_get_userbyid(defaclrole) AS creator, defaclnamespace, defaclobjtype, defaclacl::text
           FROM pg_default_acl ORDER BY 1, 2, 3`,
      ),
      // This test's databases only: other test files create and drop theirs in parallel.
      databases: await q(
        `SELECT datname, datacl::text, datallowconn FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1`,
        [ns.database],
      ),
    };
  }

  it('lists every statement with secrets redacted, the privileges to clone and the open sessions; changes nothing', async () => {
    const { pg: ns, rig: r, adminId } = await setup();
    const app = await addPgApp(r, ns, adminId, 'app');
    await ns.admin.query(`CREATE SCHEMA app_s; CREATE TABLE app_s.owned (x int);
      ALTER TABLE app_s.owned OWNER TO ${id(app.login)}; GRANT USAGE ON SCHEMA app_s TO ${id(app.login)};
      ALTER ROLE ${id(app.login)} SET statement_timeout = '5s'`);
    const session = await pgConnect(ns.database, app.login, app.password);
    clients.push(session);

    const serverBefore = await serverState(ns);
    const storeBefore = await storeState(r, [app.id, adminId]);
    const auditBefore = (await r.store.listAudit()).length;

    const { code, plan, text } = await dryRun(app.id);
    expect(code).toBe(EXIT.ok);
    expect(plan.blockers).toEqual([]);
    expect(plan.strategy).toBe('dual-user');
    expect(plan.serverVersion).toMatch(/^postgresql \d+/);
    expect(plan.strategyReason).toMatch(/^auto: /);
    expect(plan.loginToCreateOrAlter).toEqual({
      action: 'create',
      login: `${app.login}_b`,
      like: app.login,
      exists: false,
    });
    const newSql = id(`${app.login}_b`);
    const apply = plan.statements.apply;
    expect(apply[0]).toBe(`CREATE ROLE ${newSql} LOGIN PASSWORD '<redacted>' `);
    // Exactly what a fresh login needs: no REVOKE, 10 grace-window bridge entries, 4 grants/settings.
    expect(apply.filter((s) => /^REVOKE|^ALTER DEFAULT PRIVILEGES .* REVOKE /.test(s))).toEqual([]);
    expect(apply).toHaveLength(15);
    expect(apply).toContain(`GRANT INSERT, SELECT ON TABLE public.items TO ${newSql}`);
    expect(apply).toContain(`GRANT USAGE ON SCHEMA app_s TO ${newSql}`);
    expect(apply).toContain(`ALTER ROLE ${newSql} SET "statement_timeout" = '5s'`);
    expect(apply.some((s) => s.startsWith(`ALTER DEFAULT PRIVILEGES FOR ROLE ${id(app.login)}`))).toBe(true);
    const revoke = plan.statements.revoke;
    expect(revoke[0]).toBe(`ALTER ROLE ${id(app.login)} NOLOGIN`);
    expect(revoke).toContain(`REASSIGN OWNED BY ${id(app.login)} TO ${newSql}`);
    expect(revoke).toContain(`DROP OWNED BY ${id(app.login)}`);
    expect(revoke[revoke.length - 1]).toBe(`DROP ROLE IF EXISTS ${id(app.login)}`);
    expect(plan.privilegesToClone).toEqual(
      expect.arrayContaining([
        'table public.items: SELECT',
        'table public.items: INSERT',
        'schema app_s: USAGE',
        'table app_s.owned: SELECT WITH GRANT OPTION (owner)',
        'setting statement_timeout=5s',
      ]),
    );
    expect(plan.privilegesToClone.filter((p) => p.startsWith('default privileges'))).toEqual([]);
    expect(plan.openSessions.map((s) => s.username)).toContain(app.login);
    expect(plan.notes.join('\n')).toMatch(/owns 1 object\(s\) in database .*REASSIGN OWNED gives them to/);
    expect(plan.knownConsumers).toEqual([]);
    expectNoSecret(text, [app.password, services.postgres.password]);

    // Nothing changed but one audit record.
    expect(await serverState(ns)).toEqual(serverBefore);
    expect(await storeState(r, [app.id, adminId])).toEqual(storeBefore);
    const audit = await r.store.listAudit();
    expect(audit.length).toBe(auditBefore + 1);
    expect(audit[audit.length - 1]).toMatchObject({
      credentialId: app.id,
      action: 'rotation-planned',
      details: expect.objectContaining({ strategy: 'dual-user', blocked: false, blockers: 0 }),
    });
    expectNoSecret(JSON.stringify(audit), [app.password]);

    // The human-readable plan.
    const human = await cli('rotate', app.id, '--dry-run');
    expect(human.code).toBe(EXIT.ok);
    expect(human.out).toMatch(/dry run\s+.*nothing was changed/);
    expect(human.out).toMatch(/blockers\s+none/);
    expect(human.out).toContain(`CREATE ROLE ${newSql} LOGIN PASSWORD '<redacted>'`);
    expectNoSecret(human.out, [app.password]);
    expect(await serverState(ns)).toEqual(serverBefore);
  });

  it('lists every blocker: an admin without CREATEROLE and objects in a database that allows no connections', async () => {
    const { pg: ns, rig: r } = await setup();
    const weakPw = 'Weak-Admin-Pw-123';
    const weak = await ns.createLogin('weak', weakPw);
    const weakId = await addPgAdmin(r, ns, undefined, { username: weak, password: weakPw });
    const app = await addPgApp(r, ns, weakId, 'app');
    // An object owned by the login in a database nobody can connect to.
    const locked = `${ns.database}_locked`;
    extraDatabases.push(locked);
    await ns.admin.query(`CREATE DATABASE ${id(locked)}`);
    const inLocked = await pgConnect(locked);
    try {
      await inLocked.query(`CREATE TABLE kept (x int); ALTER TABLE kept OWNER TO ${id(app.login)}`);
    } finally {
      await inLocked.end();
    }
    await ns.admin.query(`ALTER DATABASE ${id(locked)} ALLOW_CONNECTIONS false`);

    const serverBefore = await serverState(ns);
    const storeBefore = await storeState(r, [app.id, weakId]);
    const { code, plan, text } = await dryRun(app.id);
    expect(code).toBe(EXIT.blocked);
    expect(plan.blockers).toHaveLength(2);
    expect(plan.blockers[0]).toMatch(new RegExp(`admin "${weak}" cannot rotate .* missing CREATEROLE`));
    expect(plan.blockers[1]).toMatch(
      new RegExp(`owns 1 object\\(s\\) in database ${locked}, which does not allow connections`),
    );
    // Still a full plan: what would run, and where it stops.
    expect(plan.statements.apply[0]).toMatch(/^CREATE ROLE .* LOGIN PASSWORD '<redacted>'/);
    expect(plan.notes.join('\n')).toMatch(/the apply step stops here: admin .* cannot grant/);
    expect(plan.notes.join('\n')).toMatch(new RegExp(`database ${locked} does not allow connections`));
    expectNoSecret(text, [app.password, weakPw]);
    expect(await serverState(ns)).toEqual(serverBefore);
    expect(await storeState(r, [app.id, weakId])).toEqual(storeBefore);

    const human = await cli('rotate', app.id, '--dry-run');
    expect(human.code).toBe(EXIT.blocked);
    expect(human.out).toMatch(/blockers\s+2/);
    expect(human.out).toMatch(/result\s+BLOCKED/);
  });

  it('runs while a rotation of the credential is in grace: own workflow id, its consumers, and the blocker it causes', async () => {
    const { pg: ns, rig: r, adminId } = await setup();
    const app = await addPgApp(r, ns, adminId, 'busy');
    const handle = await r.start({ credentialId: app.id, graceMs: 600_000, drainTimeoutMs: 0 });
    try {
      await handle.signal(consumerHeartbeatSignal, { consumerId: 'api-1', version: 1 });
      await eventually(async () => {
        const s = await handle.query(statusQuery);
        if (s.phase === 'migrate')
          await handle.signal(consumerHeartbeatSignal, { consumerId: 'api-1', version: 2 });
        return s.phase === 'grace';
      });
      const storeBefore = await storeState(r, [app.id]);
      const { code, plan } = await dryRun(app.id);
      expect(code).toBe(EXIT.blocked);
      expect(plan.blockers).toEqual([
        expect.stringMatching(new RegExp(`previous version 1 \\(login "${app.login}"\\) is not revoked yet`)),
      ]);
      expect(plan.knownConsumers.map((c) => `${c.consumerId} v${c.version}`)).toEqual(['api-1 v2']);
      expect(await storeState(r, [app.id])).toEqual(storeBefore);
      expect((await handle.query(statusQuery)).phase).toBe('grace');
    } finally {
      await handle.executeUpdate('finishGrace', { args: [{}] });
      expect(((await handle.result()) as RotationResult).outcome).toBe('rotated');
    }
  });
});

describe('dry run on real MariaDB/MySQL', () => {
  const begin = perTest();

  async function setup() {
    const { ns, rig } = await begin(freshMysql);
    const where = {
      engine: 'mysql' as const,
      host: services.mysql.host,
      port: services.mysql.port,
      database: ns.database,
    };
    const adminId = await addAdmin(rig, 'mysql', where);
    await ns.admin.query(`CREATE TABLE ${escapeId(ns.database)}.orders (id int)`);
    const addApp = async (name: string, admin: string, strategy: 'auto' | 'dual-user' = 'auto') => {
      const password = `Init-${name}-Pw-123`;
      const login = await ns.createLogin(name, password);
      await ns.admin.query(`GRANT SELECT, INSERT ON ${escapeId(ns.database)}.orders TO ${escape(login)}@'%'`);
      const cid = uniqueCredentialId(`mysql-${name}`);
      await rig.addCredential(
        { id: cid, ...where, adminCredentialId: admin, baseUsername: login, strategy },
        { username: login, password },
      );
      return { id: cid, login, password };
    };
    return { ns, rig, adminId, where, addApp };
  }

  /** Accounts of this test with their auth strings, and the grants of each. */
  async function serverState(m: MysqlNamespace): Promise<unknown> {
    const [accounts] = await m.admin.query(
      'SELECT User AS user, Host AS host, Priv AS priv FROM mysql.global_priv WHERE LEFT(User, CHAR_LENGTH(?)) = ? ORDER BY User, Host',
      [m.prefix, m.prefix],
    );
    const grants: Record<string, unknown> = {};
    for (const a of accounts as Array<{ user: string; host: string }>) {
      const [rows] = await m.admin.query(`SHOW GRANTS FOR ${escape(a.user)}@${escape(a.host)}`);
      grants[`${a.user}@${a.host}`] = rows;
    }
    return { accounts, grants };
  }

  it('dual-password and dual-user plans: statements with redacted hashes, open sessions; nothing changes', async () => {
    const { ns: m, rig: r, adminId, addApp } = await setup();
    const app = await addApp('app', adminId);
    const blue = await addApp('blue', adminId, 'dual-user');
    const session = await m.connectAs(app.login, app.password, m.database);
    await session.query('SELECT 1');

    const serverBefore = await serverState(m);
    const storeBefore = await storeState(r, [app.id, blue.id, adminId]);
    const auditBefore = (await r.store.listAudit()).length;

    const dual = await dryRun(app.id);
    expect(dual.code).toBe(EXIT.ok);
    expect(dual.plan.blockers).toEqual([]);
    expect(dual.plan.strategy).toBe('dual-password');
    expect(dual.plan.serverVersion).toMatch(/^mariadb 10\./);
    expect(dual.plan.loginToCreateOrAlter).toEqual({ action: 'add-password', login: app.login });
    const account = `${escape(app.login)}@'%'`;
    expect(dual.plan.statements.apply).toEqual([
      `ALTER USER ${account} IDENTIFIED VIA mysql_native_password USING '<redacted>' OR mysql_native_password USING '<redacted>'`,
    ]);
    expect(dual.plan.statements.revoke).toEqual([
      `ALTER USER ${account} IDENTIFIED BY PASSWORD '<redacted>'`,
    ]);
    expect(dual.plan.openSessions.map((s) => s.username)).toContain(app.login);
    expectNoSecret(dual.text, [app.password, nativePasswordHash(app.password), services.mysql.password]);

    const bg = await dryRun(blue.id);
    expect(bg.code).toBe(EXIT.ok);
    expect(bg.plan.strategy).toBe('dual-user');
    const newAccount = `${escape(`${blue.login}_b`)}@'%'`;
    expect(bg.plan.statements.apply[0]).toMatch(
      new RegExp(`^CREATE USER ${escapeRe(newAccount)} IDENTIFIED BY PASSWORD '<redacted>'`),
    );
    expect(bg.plan.statements.apply).toContain(
      `GRANT SELECT, INSERT ON ${escapeId(m.database)}.\`orders\` TO ${newAccount}`,
    );
    expect(bg.plan.privilegesToClone).toEqual(
      expect.arrayContaining([
        `SELECT ON ${escapeId(m.database)}.\`orders\``,
        `INSERT ON ${escapeId(m.database)}.\`orders\``,
      ]),
    );
    const blueAccount = `${escape(blue.login)}@'%'`;
    expect(bg.plan.statements.revoke).toEqual([
      `ALTER USER ${blueAccount} ACCOUNT LOCK`,
      expect.stringMatching(/^KILL CONNECTION <id> -- for each session of/),
      `DROP USER IF EXISTS ${blueAccount}`,
      expect.stringMatching(/^KILL CONNECTION <id>/),
    ]);
    expectNoSecret(bg.text, [blue.password, nativePasswordHash(blue.password)]);

    expect(await serverState(m)).toEqual(serverBefore);
    expect(await storeState(r, [app.id, blue.id, adminId])).toEqual(storeBefore);
    const audit = await r.store.listAudit();
    expect(audit.slice(auditBefore).map((a) => `${a.credentialId} ${a.action}`)).toEqual([
      `${app.id} rotation-planned`,
      `${blue.id} rotation-planned`,
    ]);
  });

  it('blockers: an admin without CREATE USER, and a login that is the DEFINER of a view', async () => {
    const { ns: m, rig: r, where, addApp, adminId } = await setup();
    const weakPw = 'Weak-Admin-Pw-123';
    const weak = await m.createLogin('weak', weakPw);
    await m.admin.query(`GRANT SELECT ON *.* TO ${escape(weak)}@'%' WITH GRANT OPTION`);
    const weakId = uniqueCredentialId('mysql-weak');
    await r.addCredential({ id: weakId, ...where }, { username: weak, password: weakPw });
    const app = await addApp('app', weakId);
    const definer = await addApp('definer', adminId, 'dual-user');
    await m.admin.query(
      `CREATE DEFINER = ${escape(definer.login)}@'%' VIEW ${escapeId(m.database)}.v AS SELECT 1 AS one`,
    );

    const serverBefore = await serverState(m);
    const storeBefore = await storeState(r, [app.id, definer.id]);

    const weakPlan = await dryRun(app.id);
    expect(weakPlan.code).toBe(EXIT.blocked);
    expect(weakPlan.plan.blockers).toEqual([expect.stringMatching(/cannot rotate .* missing CREATE USER/)]);
    expectNoSecret(weakPlan.text, [app.password, weakPw]);

    const definerPlan = await dryRun(definer.id);
    expect(definerPlan.code).toBe(EXIT.blocked);
    expect(definerPlan.plan.blockers).toEqual([
      expect.stringMatching(/is the DEFINER of 1 object\(s\) .*view `t_.*`\.`v`/),
    ]);
    // The clone is still listed; the revoke step is where it would stop.
    expect(definerPlan.plan.statements.apply[0]).toMatch(
      /^CREATE USER .* IDENTIFIED BY PASSWORD '<redacted>'/,
    );
    expect(definerPlan.plan.notes.join('\n')).toMatch(/the revoke step stops here: .*DEFINER/);

    const human = await cli('rotate', definer.id, '--dry-run');
    expect(human.code).toBe(EXIT.blocked);
    expect(human.out).toMatch(/✗ .*DEFINER/);

    expect(await serverState(m)).toEqual(serverBefore);
    expect(await storeState(r, [app.id, definer.id])).toEqual(storeBefore);
    // The server's own account list is unchanged too (no _b account appeared).
    const c = await mysqlConnect();
    try {
      const [rows] = await c.query('SELECT User FROM mysql.user WHERE User LIKE ?', [`${m.prefix}%\\_b`]);
      expect(rows).toEqual([]);
    } finally {
      await c.end();
    }
  });

  it('an unknown credential is "not found", and --json needs --dry-run', async () => {
    await setup();
    const missing = await cli('rotate', 'no/such-credential', '--dry-run');
    expect(missing.code).toBe(EXIT.notFound);
    expect((await cli('rotate', 'x', '--json')).code).toBe(EXIT.usage);
  });
});

describe('dry run on Redis and MongoDB (FerretDB): recorded commands with redacted passwords', () => {
  const begin = perTest();

  it('Redis: ACL SETUSER with #<redacted>; the ACL is unchanged', async () => {
    const { ns: redis, rig } = await begin(freshRedis);
    const where = { engine: 'redis' as const, host: services.redis.host, port: services.redis.port };
    const adminId = await addAdmin(rig, 'redis', where);
    const password = 'Init-Redis-Pw-123';
    const login = await redis.createUser('app', 'on', `>${password}`, `~${redis.prefix}app:*`, '+get');
    const ids: Record<string, string> = {};
    for (const strategy of ['dual-password', 'dual-user'] as const) {
      ids[strategy] = uniqueCredentialId(`redis-${strategy}`);
      await rig.addCredential(
        { id: ids[strategy]!, ...where, adminCredentialId: adminId, baseUsername: login, strategy },
        { username: login, password },
      );
    }
    const aclBefore = await redis.admin.call('ACL', 'LIST');

    const dual = await dryRun(ids['dual-password']!);
    expect(dual.code).toBe(EXIT.ok);
    expect(dual.plan.statements.apply[0]).toBe(`ACL SETUSER ${login} resetpass #<redacted> #<redacted>`);
    expect(dual.plan.statements.revoke[0]).toBe(`ACL SETUSER ${login} resetpass #<redacted>`);
    const bg = await dryRun(ids['dual-user']!);
    expect(bg.code).toBe(EXIT.ok);
    expect(bg.plan.statements.apply[0]).toMatch(
      new RegExp(`^ACL SETUSER ${login}_b off resetpass .* #<redacted>$`),
    );
    expect(bg.plan.statements.revoke).toEqual(
      expect.arrayContaining([`CLIENT KILL USER ${login} SKIPME yes`, `ACL DELUSER ${login}`]),
    );
    expect(bg.plan.privilegesToClone).toEqual(expect.arrayContaining([`key pattern ~${redis.prefix}app:*`]));
    for (const text of [dual.text, bg.text]) expectNoSecret(text, [password, services.redis.password]);
    expect(await redis.admin.call('ACL', 'LIST')).toEqual(aclBefore);
  });

  it('MongoDB: createUser with "pwd":"<redacted>"; the users are unchanged', async () => {
    const { ns: mongo, rig } = await begin(freshMongo);
    const where = { engine: 'mongodb' as const, host: services.mongo.host, port: services.mongo.port };
    const adminId = await addAdmin(rig, 'mongo', { ...where, database: 'admin' });
    const password = 'Init-Mongo-Pw-123';
    const login = await mongo.createUser('app', password);
    const cid = uniqueCredentialId('mongo-app');
    await rig.addCredential(
      { id: cid, ...where, database: mongo.database, adminCredentialId: adminId, baseUsername: login },
      { username: login, password },
    );
    const usersBefore = await mongo.admin.db(mongo.database).command({ usersInfo: 1 });

    const { code, plan, text } = await dryRun(cid);
    expect(code).toBe(EXIT.ok);
    expect(plan.strategy).toBe('dual-user');
    expect(plan.statements.apply[0]).toMatch(
      new RegExp(
        `^db\\.getSiblingDB\\("${mongo.database}"\\)\\.runCommand\\(\\{"createUser":"${login}_b","pwd":"<redacted>"`,
      ),
    );
    expect(plan.statements.revoke[0]).toMatch(/"dropUser":/);
    expectNoSecret(text, [password, services.mongo.password]);
    expect(await mongo.admin.db(mongo.database).command({ usersInfo: 1 })).toEqual(usersBefore);
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
