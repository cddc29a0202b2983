/**
 * Issue 13, item 5, as a whole rotation (worker + dev server + the shared
 * MariaDB): a login that exists as 'app'@'%' and 'app'@'localhost' is
 * rotated as one logical login with options.accountHosts — dual-password:
 * during grace every variant accepts both passwords, after revoke only the
 * new one, and each variant keeps its own privileges. Without the option the
 * rotation is refused in preflight and nothing changes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { statusQuery } from '../../src/shared/messages';
import { freshMysql, mysqlConnect, type MysqlNamespace } from '../helpers/mysql';
import { addMysqlAdmin } from '../helpers/mysql-app';
import { eventually } from '../helpers/pg-rig';
import { uniqueCredentialId } from '../helpers/rotation';
import { withRotationRig } from '../helpers/with-pg-rig';
import {
  HOSTS,
  createHostVariants,
  grants as accountGrants,
  hashes as accountHashes,
  hashOf as passwordHash,
} from '../helpers/mysql-hosts';

describe('rotation of a MySQL/MariaDB login with host variants (options.accountHosts)', () => {
  const t = withRotationRig();
  let my: MysqlNamespace;
  let app: string;

  const hashes = (host: string) => accountHashes(my.admin, app, host);
  const hashOf = (password: string) => passwordHash(my.admin, password);
  const grants = (host: string) => accountGrants(my.admin, app, host);
  /** Logs in over TCP (the '%' variant answers 127.0.0.1). */
  const canLogin = (password: string) =>
    mysqlConnect(app, password, my.database).then(
      async (c) => (await c.end(), true),
      () => false,
    );

  async function addApp(options: Record<string, unknown>): Promise<string> {
    const { adminId, where } = await addMysqlAdmin(t.rig, my);
    const id = uniqueCredentialId('mysql-hosts');
    await t.rig.addCredential(
      {
        id,
        ...where,
        adminCredentialId: adminId,
        baseUsername: app,
        strategy: 'dual-password',
        options,
      },
      { username: app, password: 'init-Pw-1' },
    );
    return id;
  }

  beforeEach(async () => {
    my = await freshMysql();
    app = await createHostVariants(my, 'init-Pw-1');
  });
  afterEach(async () => {
    await my?.cleanup();
  });

  it('dual-password: every variant accepts both passwords during grace, then only the new one; privileges per variant unchanged', async () => {
    const id = await addApp({ accountHosts: HOSTS });
    const grantsBefore = { '%': await grants('%'), localhost: await grants('localhost') };
    const oldHash = await hashOf('init-Pw-1');
    const t0 = Date.now();
    const h = await t.rig.start({
      credentialId: id,
      graceMs: 6000,
      drainTimeoutMs: 1000,
      requestedBy: 'test',
    });
    await eventually(async () => (await h.query(statusQuery)).phase === 'grace');
    const next = await t.rig.store.getSecret(id, 'CURRENT');
    expect(next.username).toBe(app);
    const newHash = await hashOf(next.password);
    for (const host of HOSTS) expect(await hashes(host), host).toEqual([oldHash, newHash].sort());
    expect(await canLogin('init-Pw-1')).toBe(true);
    expect(await canLogin(next.password)).toBe(true);

    const result = await h.result();
    console.log(`[mysql-host-variants] whole rotation over ${HOSTS.length} variants: ${Date.now() - t0} ms`);
    expect(result).toMatchObject({
      outcome: 'rotated',
      strategy: 'dual-password',
      fromVersion: 1,
      toVersion: 2,
    });
    for (const host of HOSTS) expect(await hashes(host), host).toEqual([newHash]);
    expect(await canLogin('init-Pw-1')).toBe(false);
    expect(await canLogin(next.password)).toBe(true);
    expect({ '%': await grants('%'), localhost: await grants('localhost') }).toEqual(grantsBefore);
  });

  it('without accountHosts the rotation is refused in preflight ("exists for several hosts"); nothing changes', async () => {
    const id = await addApp({});
    const failure = await t.rig.rotate({ credentialId: id, requestedBy: 'test' }).then(
      (r) => r.error,
      (err: { cause?: { cause?: { message?: string } } }) => err.cause?.cause?.message,
    );
    expect(failure).toMatch(/exists for several hosts/);
    expect(await t.rig.store.listVersions(id)).toHaveLength(1);
    const oldHash = await hashOf('init-Pw-1');
    for (const host of HOSTS) expect(await hashes(host), host).toEqual([oldHash]);
  });
});
