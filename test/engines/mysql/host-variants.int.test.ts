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
import {
  HOSTS,
  createHostVariants,
  grants as accountGrants,
  hashes as accountHashes,
  hashOf as passwordHash,
} from '../../helpers/mysql-hosts';

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

  const hashes = (user: string, host: string) => accountHashes(my.admin, user, host);
  const hashOf = (password: string) => passwordHash(my.admin, password);
  const grants = (user: string, host: string) => accountGrants(my.admin, user, host);

  beforeEach(async () => {
    my = await freshMysql();
    app = await createHostVariants(my, 'init-Pw-1');
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
