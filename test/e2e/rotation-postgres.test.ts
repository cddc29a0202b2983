import { beforeEach, describe, expect, it } from 'vitest';
import { escapeIdentifier } from 'pg';
import { statusQuery } from '../../src/shared/messages';
import { pgConnect } from '../helpers/pg';
import { capturedLogs } from '../helpers/temporal';
import { uniqueCredentialId } from '../helpers/rotation';
import { services } from '../helpers/services';
import { pgLogsIn, addPgAdmin } from '../helpers/pg-rig';
import { withPgRig } from '../helpers/with-pg-rig';

describe('rotateCredential end to end on PostgreSQL (dev server, real activities)', () => {
  const t = withPgRig();
  let credentialId: string;
  let adminId: string;
  let app: string;

  beforeEach(async () => {
    app = await t.pg.createLogin('app', 'initial-Pw-1', 'CONNECTION LIMIT 7');
    const q = (sql: string) => t.pg.admin.query(sql);
    const A = escapeIdentifier(app);
    await q(`CREATE SCHEMA shop`);
    await q(`CREATE TABLE shop.orders (id serial PRIMARY KEY, item text, secret_note text)`);
    await q(`CREATE TABLE shop.audit (id int)`);
    await q(`CREATE FUNCTION shop.answer() RETURNS int LANGUAGE sql AS 'SELECT 42'`);
    await q(`REVOKE EXECUTE ON FUNCTION shop.answer() FROM PUBLIC`);
    await q(`GRANT USAGE ON SCHEMA shop TO ${A}`);
    await q(`GRANT CREATE ON SCHEMA shop TO ${A}`);
    await q(`GRANT SELECT, INSERT, UPDATE ON shop.orders TO ${A}`);
    await q(`REVOKE ALL ON shop.orders FROM ${A}`);
    await q(`GRANT SELECT (id, item), INSERT (item) ON shop.orders TO ${A}`);
    await q(`GRANT USAGE ON SEQUENCE shop.orders_id_seq TO ${A}`);
    await q(`GRANT EXECUTE ON FUNCTION shop.answer() TO ${A}`);
    const group = escapeIdentifier(`${t.pg.prefix}readers`);
    await q(`CREATE ROLE ${group} NOLOGIN`);
    await q(`GRANT SELECT ON shop.audit TO ${group}`);
    await q(`GRANT ${group} TO ${A}`);
    await q(`ALTER ROLE ${A} IN DATABASE ${escapeIdentifier(t.pg.database)} SET statement_timeout = '42s'`);
    // An object the app owns: must end up owned by the new login.
    const asApp = await pgConnect(t.pg.database, app, 'initial-Pw-1');
    await asApp.query(`CREATE TABLE shop.app_owned (v int)`);
    await asApp.end();

    adminId = await addPgAdmin(t.rig, t.pg);
    credentialId = uniqueCredentialId('pg-app');
    await t.rig.addCredential(
      {
        id: credentialId,
        engine: 'postgres',
        host: services.postgres.host,
        port: services.postgres.port,
        database: t.pg.database,
        adminCredentialId: adminId,
        baseUsername: app,
        verifyChecks: ['SELECT count(*) FROM shop.audit'],
      },
      { username: app, password: 'initial-Pw-1' },
    );
  });

  it('rotates to a new login with the same privileges; afterwards only the new login works', async () => {
    const result = await t.rig.rotate({
      credentialId,
      graceMs: 1000,
      drainTimeoutMs: 1000,
      requestedBy: 'test',
    });
    expect(result).toMatchObject({ outcome: 'rotated', strategy: 'dual-user', fromVersion: 1, toVersion: 2 });

    const current = await t.rig.store.getSecret(credentialId, 'CURRENT');
    expect(current.username).toBe(`${app}_b`);
    expect(await pgLogsIn(t.pg.database, app, 'initial-Pw-1')).toBe(false);
    const roles = await t.pg.admin.query(`SELECT rolname FROM pg_roles WHERE rolname = $1`, [app]);
    expect(roles.rowCount).toBe(0);

    // The new login can do what the old one could, and no more.
    const c = await pgConnect(t.pg.database, current.username, current.password);
    try {
      await c.query(`INSERT INTO shop.orders (item) VALUES ('x')`);
      expect((await c.query(`SELECT id, item FROM shop.orders`)).rowCount).toBe(1);
      await expect(c.query(`SELECT secret_note FROM shop.orders`)).rejects.toThrow(/permission denied/);
      expect((await c.query(`SELECT shop.answer() AS a`)).rows[0].a).toBe(42);
      expect((await c.query(`SELECT count(*) FROM shop.audit`)).rowCount).toBe(1); // via membership
      expect((await c.query(`SHOW statement_timeout`)).rows[0].statement_timeout).toBe('42s');
      await c.query(`INSERT INTO shop.app_owned VALUES (1)`);
    } finally {
      await c.end();
    }
    const owner = await t.pg.admin.query(
      `SELECT tableowner FROM pg_tables WHERE schemaname = 'shop' AND tablename = 'app_owned'`,
    );
    expect(owner.rows[0].tableowner).toBe(current.username);
    const limit = await t.pg.admin.query(`SELECT rolconnlimit FROM pg_roles WHERE rolname = $1`, [
      current.username,
    ]);
    expect(limit.rows[0].rolconnlimit).toBe(7);

    const versions = await t.rig.store.listVersions(credentialId);
    expect(versions.map((v) => [v.version, v.state])).toEqual([
      [1, 'revoked'],
      [2, 'current'],
    ]);
    const actions = (await t.rig.store.listAudit(credentialId)).map((a) => a.action);
    expect(actions).toContain('rotation-started');
    expect(actions).toContain('rotation-rotated');
  });

  it('three rotations in a row succeed and alternate the login slots', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await t.rig.rotate({ credentialId, graceMs: 0, drainTimeoutMs: 0 });
      expect(r.outcome).toBe('rotated');
      const cur = await t.rig.store.getSecret(credentialId, 'CURRENT');
      expect(await pgLogsIn(t.pg.database, cur.username, cur.password)).toBe(true);
      seen.push(cur.username);
    }
    expect(seen).toEqual([`${app}_b`, app, `${app}_b`]);
    const logins = await t.pg.admin.query(`SELECT rolname FROM pg_roles WHERE rolname IN ($1, $2)`, [
      app,
      `${app}_b`,
    ]);
    expect(logins.rows.map((r) => r.rolname)).toEqual([`${app}_b`]);
  });

  it('during grace both logins work; the status query shows the plan', async () => {
    const handle = await t.rig.start({ credentialId, graceMs: 60_000, drainTimeoutMs: 0 });
    for (let i = 0; i < 100; i++) {
      if ((await handle.query(statusQuery)).phase === 'grace') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const status = await handle.query(statusQuery);
    expect(status.phase).toBe('grace');
    const cur = await t.rig.store.getSecret(credentialId, 'CURRENT');
    expect(await pgLogsIn(t.pg.database, app, 'initial-Pw-1')).toBe(true);
    expect(await pgLogsIn(t.pg.database, cur.username, cur.password)).toBe(true);
    await handle.executeUpdate('finishGrace', { args: [{}] });
    expect((await handle.result()).outcome).toBe('rotated');
  });

  it('rollback during grace restores the old login as CURRENT and removes the new one', async () => {
    const handle = await t.rig.start({ credentialId, graceMs: 60_000, drainTimeoutMs: 0 });
    for (let i = 0; i < 100; i++) {
      if ((await handle.query(statusQuery)).phase === 'grace') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await handle.executeUpdate('rollback', { args: [{ reason: 'test' }] });
    expect((await handle.result()).outcome).toBe('rolled-back');
    const cur = await t.rig.store.getSecret(credentialId, 'CURRENT');
    expect(cur).toMatchObject({ version: 1, username: app });
    expect(await pgLogsIn(t.pg.database, app, 'initial-Pw-1')).toBe(true);
    const b = await t.pg.admin.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [`${app}_b`]);
    expect(b.rowCount).toBe(0);
    // A later rotation still works.
    expect((await t.rig.rotate({ credentialId, graceMs: 0, drainTimeoutMs: 0 })).outcome).toBe('rotated');
  });

  it('no password appears in the workflow history, search attributes or worker logs', async () => {
    await t.rig.rotate({ credentialId, graceMs: 0, drainTimeoutMs: 0 });
    await t.rig.rotate({ credentialId, graceMs: 0, drainTimeoutMs: 0 });
    const secrets = [...(await t.rig.knownSecrets()), services.postgres.password];
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    const handle = t.rig.client.workflow.getHandle(`rotate/${credentialId}`);
    const history = JSON.stringify(await handle.fetchHistory());
    const description = JSON.stringify(await handle.describe());
    const logs = capturedLogs.join('\n');
    const audit = JSON.stringify(await t.rig.store.listAudit());
    // `includes` rather than toContain: a failure must not print the history (or the secret) in full.
    for (const s of secrets) {
      expect(history.includes(s), 'secret in history').toBe(false);
      expect(description.includes(s), 'secret in describe/search attributes').toBe(false);
      expect(logs.includes(s), 'secret in worker logs').toBe(false);
      expect(audit.includes(s), 'secret in audit records').toBe(false);
    }
    // Belt and braces: every payload in history is encrypted by the codec.
    const encodings = [...history.matchAll(/"encoding":"([^"]+)"/g)].map((m) =>
      Buffer.from(m[1]!, 'base64').toString(),
    );
    expect(encodings.filter((e) => e !== 'binary/encrypted' && e !== 'json/plain')).toEqual([]);
    expect(encodings).toContain('binary/encrypted');
  });

  it('bad input fails fast with a clear error and changes nothing', async () => {
    const weak = await t.pg.createLogin('weak_admin', 'weak-Pw-1');
    const weakId = uniqueCredentialId('weak-admin');
    await t.rig.addCredential(
      {
        id: weakId,
        engine: 'postgres',
        host: services.postgres.host,
        port: services.postgres.port,
        database: t.pg.database,
      },
      { username: weak, password: 'weak-Pw-1' },
    );
    const versionsBefore = JSON.stringify(await t.rig.store.listVersions(credentialId));
    // This test's roles only: other test files run in parallel on the same cluster.
    const roles = async () =>
      (
        await t.pg.admin.query(`SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1`, [
          t.pg.prefix,
        ])
      ).rows;
    const rolesBefore = await roles();
    const failureOf = async (credential: string) => {
      const h = await t.rig.start({ credentialId: credential });
      const err = (await h.result().catch((e: unknown) => e)) as Error & {
        cause?: Error & { cause?: Error };
      };
      expect(err).toBeInstanceOf(Error);
      return `${err.cause?.cause?.name ?? ''}: ${err.cause?.cause?.message ?? err.message}`;
    };

    expect(await failureOf('no/such-credential')).toMatch(/unknown credential "no\/such-credential"/);

    const original = await t.rig.store.getDefinition(credentialId);
    await t.rig.store.putDefinition({ ...original, adminCredentialId: weakId }, 'test');
    expect(await failureOf(credentialId)).toMatch(/CREATEROLE/);

    // An unreachable port that the admin is allowed on (else the admin-scope check stops it first).
    const admin = await t.rig.store.getDefinition(adminId);
    await t.rig.store.putDefinition({ ...admin, allowedServers: [{ host: admin.host, port: 1 }] }, 'test');
    const started = Date.now();
    await t.rig.store.putDefinition({ ...original, port: 1 }, 'test');
    expect(await failureOf(credentialId)).toMatch(/ECONNREFUSED|connect/i);
    expect(Date.now() - started).toBeLessThan(60_000);

    expect(JSON.stringify(await t.rig.store.listVersions(credentialId))).toBe(versionsBefore);
    expect(await roles()).toEqual(rolesBefore);
  });
});
