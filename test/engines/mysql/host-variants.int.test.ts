/**
 * Host variants of one MySQL/MariaDB login (issue 13, item 5) on the real
 * MariaDB: 'app'@'%' and 'app'@'localhost' rotated together when the
 * definition lists options.accountHosts; refused as before without it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { escape } from 'mysql2/promise';
import { createEngine } from '../../../src/engines';
import type { Engine } from '../../../src/engines/types';
import { freshMysql, type MysqlNamespace } from '../../helpers/mysql';
import { services } from '../../helpers/services';

const HOSTS = ['%', 'localhost'];

describe('MySQL host variants as one logical login', () => {
  let my: MysqlNamespace;
  let app: string;
  let engine: Engine | undefined;

  const connect = (options: Record<string, unknown>) =>
    createEngine('mysql', {
      host: services.mysql.host,
      port: services.mysql.port,
      database: my.database,
      admin: { username: services.mysql.user, password: services.mysql.password },
      options,
    });

  /** The password hashes an account accepts (SHOW CREATE USER lists each). */
  async function hashes(user: string, host: string): Promise<string[]> {
    const [rows] = await my.admin.query(`SHOW CREATE USER ${escape(user)}@${escape(host)}`);
    const text = Object.values((rows as Record<string, string>[])[0]!)[0]!;
    return [...text.matchAll(/\*[0-9A-F]{40}/g)].map((m) => m[0]).sort();
  }
  async function hashOf(password: string): Promise<string> {
    const [rows] = await my.admin.query('SELECT PASSWORD(?) AS h', [password]);
    return (rows as Array<{ h: string }>)[0]!.h;
  }
  async function grants(user: string, host: string): Promise<string[]> {
    const [rows] = await my.admin.query(`SHOW GRANTS FOR ${escape(user)}@${escape(host)}`);
    return (rows as Record<string, string>[]).map((r) =>
      Object.values(r)[0]!.replace(/ IDENTIFIED BY .*/, ''),
    );
  }

  beforeEach(async () => {
    my = await freshMysql();
    app = await my.createLogin('app', 'init-Pw-1', '', '%');
    await my.createLogin('app', 'init-Pw-1', '', 'localhost');
    const db = my.database;
    await my.admin.query(`CREATE TABLE \`${db}\`.t1 (id int)`);
    await my.admin.query(`CREATE TABLE \`${db}\`.t2 (id int)`);
    await my.admin.query(`GRANT SELECT ON \`${db}\`.t1 TO ${escape(app)}@'%'`);
    await my.admin.query(`GRANT SELECT, INSERT ON \`${db}\`.t2 TO ${escape(app)}@'localhost'`);
  });
  afterEach(async () => {
    await engine?.close();
    engine = undefined;
    await my?.cleanup();
  });

  it('without accountHosts a login with several hosts is still refused', async () => {
    engine = connect({});
    await expect(engine.loginExists(app)).rejects.toThrow(/exists for several hosts/);
  });

  it('dual-password: both variants accept both passwords, then only the new one', async () => {
    engine = connect({ accountHosts: HOSTS });
    expect(await engine.loginExists(app)).toBe(true);
    expect(await engine.check(app, 'dual-password')).toEqual([]);
    const t0 = Date.now();
    await engine.changePassword(app, { mode: 'add', password: 'next-Pw-2', current: 'init-Pw-1' });
    const [oldHash, newHash] = [await hashOf('init-Pw-1'), await hashOf('next-Pw-2')];
    for (const h of HOSTS) expect(await hashes(app, h), h).toEqual([oldHash, newHash].sort());
    await engine.changePassword(app, { mode: 'keep-only', password: 'next-Pw-2' });
    for (const h of HOSTS) expect(await hashes(app, h), h).toEqual([newHash]);
    console.log(`[host-variants] dual-password over ${HOSTS.length} variants: ${Date.now() - t0} ms`);
  });

  it('dual-user: each variant gets a twin with its own privileges (parity per variant); drop removes both', async () => {
    engine = connect({ accountHosts: HOSTS });
    const twin = `${app}_b`;
    await engine.createLoginLike(app, twin, 'next-Pw-2');
    for (const h of HOSTS) {
      expect((await grants(twin, h)).map((g) => g.replace(twin, app))).toEqual(await grants(app, h));
    }
    expect(await engine.comparePrivileges(app, twin)).toEqual({ missing: [], extra: [] });
    // A privilege only the localhost variant lacks is named with its host.
    await my.admin.query(`REVOKE INSERT ON \`${my.database}\`.t2 FROM ${escape(twin)}@'localhost'`);
    const diff = await engine.comparePrivileges(app, twin);
    expect(diff.missing).toHaveLength(1);
    expect(diff.missing[0]).toMatch(/^@'localhost': .*INSERT/);
    await engine.dropLogin(twin, app);
    expect(await engine.loginExists(twin)).toBe(false);
    const [rows] = await my.admin.query('SELECT Host FROM mysql.user WHERE User = ?', [twin]);
    expect(rows).toEqual([]);
  });

  it('refuses a bad accountHosts option with a clear error', () => {
    expect(() => connect({ accountHosts: [] })).toThrow(/accountHosts must be a non-empty list/);
    expect(() => connect({ accountHosts: ['%'], accountHost: '%' })).toThrow(/exclude each other/);
  });
});
