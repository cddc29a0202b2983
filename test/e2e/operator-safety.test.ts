import { beforeEach, describe, expect, it } from 'vitest';
import { consumerHeartbeatSignal, statusQuery } from '../../src/shared/messages';
import type { RotationResult } from '../../src/shared/types';
import { pgConnect } from '../helpers/pg';
import { addPgApp, eventually, addPgAdmin } from '../helpers/pg-rig';
import { withPgRig } from '../helpers/with-pg-rig';

describe('operator safety on real PostgreSQL', () => {
  const t = withPgRig();
  let adminId: string;
  let adminLogin: string;

  beforeEach(async () => {
    // A dedicated superuser admin, so rotating it never touches the shared one.
    adminLogin = await t.pg.createLogin('admin', 'Admin-Initial-Pw-1', 'SUPERUSER');
    adminId = await addPgAdmin(t.rig, t.pg, undefined, {
      username: adminLogin,
      password: 'Admin-Initial-Pw-1',
    });
  });

  it('emergency rotation revokes within its short deadline and names the consumer that did not move', async () => {
    const app = await addPgApp(t.rig, t.pg, adminId, 'leaked');
    // An application instance that keeps a session on the leaked login and never migrates.
    const stuck = await pgConnect(t.pg.database, app.login, app.password);
    stuck.on('error', () => undefined);
    const started = Date.now();
    const handle = await t.rig.start({
      credentialId: app.id,
      emergency: true,
      reason: 'password in a public repo',
      graceMs: 3_000,
    });
    await handle.signal(consumerHeartbeatSignal, { consumerId: 'billing-7', version: 1 });
    await handle.signal(consumerHeartbeatSignal, { consumerId: 'api-1', version: 1 });
    const inGrace = await eventually(async () => {
      const s = await handle.query(statusQuery);
      if (s.phase === 'grace') return s;
      if (s.phase === 'migrate')
        await handle.signal(consumerHeartbeatSignal, { consumerId: 'api-1', version: 2 });
      return undefined;
    });
    expect(inGrace.plan?.emergency).toEqual({ reason: 'password in a public repo' });
    expect(inGrace.plan?.drainTimeoutMs).toBe(0);
    expect(inGrace.consumersBehind).toEqual(['billing-7']);

    const result = (await handle.result()) as RotationResult;
    expect(result.outcome).toBe('rotated');
    expect(Date.now() - started).toBeLessThan(3_000 + 20_000);
    // The held session was ended at the deadline; the leaked password no longer logs in.
    await expect(stuck.query('SELECT 1')).rejects.toThrow();
    await expect(pgConnect(t.pg.database, app.login, app.password)).rejects.toThrow(
      /authentication|does not exist/,
    );
    const audit = await t.rig.store.listAudit(app.id);
    const startedRecord = audit.find((a) => a.action === 'rotation-started');
    expect(startedRecord?.details).toMatchObject({ emergency: true, reason: 'password in a public repo' });
  });

  it('rotating the admin credential while another rotation sits in grace; that rotation then finishes', async () => {
    const app = await addPgApp(t.rig, t.pg, adminId, 'app');
    const appRotation = await t.rig.start({ credentialId: app.id, graceMs: 600_000, drainTimeoutMs: 0 });
    await eventually(async () => (await appRotation.query(statusQuery)).phase === 'grace');

    // The admin manages itself (no adminCredentialId): dual-user clone of a superuser.
    const adminResult = await t.rig.rotate({ credentialId: adminId, graceMs: 0, drainTimeoutMs: 0 });
    expect(adminResult).toMatchObject({ outcome: 'rotated', strategy: 'dual-user' });
    const newAdmin = await t.rig.store.getSecret(adminId, 'CURRENT');
    expect(newAdmin.username).toBe(`${adminLogin}_b`);
    const gone = await t.pg.admin.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [adminLogin]);
    expect(gone.rowCount).toBe(0);
    const su = await t.pg.admin.query(`SELECT rolsuper FROM pg_roles WHERE rolname = $1`, [
      newAdmin.username,
    ]);
    expect(su.rows[0].rolsuper).toBe(true);

    // The app rotation's revoke now runs with the new admin login.
    await appRotation.executeUpdate('finishGrace', { args: [{}] });
    expect(((await appRotation.result()) as RotationResult).outcome).toBe('rotated');
    const appNow = await t.rig.store.getSecret(app.id, 'CURRENT');
    const c = await pgConnect(t.pg.database, appNow.username, appNow.password);
    await c.query(`SELECT count(*) FROM public.items`);
    await c.end();
    const oldApp = await t.pg.admin.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [app.login]);
    expect(oldApp.rowCount).toBe(0);
    // Clean-up helper drops roles by prefix: the new admin has it too.
    expect(newAdmin.username.startsWith(t.pg.prefix)).toBe(true);
  });
});
