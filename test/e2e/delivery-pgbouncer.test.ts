import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FileSource } from '../../src/consumer/file-source';
import { RotatingPgPool } from '../../src/consumer/pg-pool';
import { lineUser } from '../../src/targets/pgbouncer/auth-file';
import { services } from '../helpers/services';
import { statusQuery } from '../../src/shared/messages';
import { addDualUserApp, eventually } from '../helpers/pg-rig';
import { withPgRig } from '../helpers/with-pg-rig';
import { withTempDir } from '../helpers/temp-dir';

beforeAll(async () => {
  // Fail loudly (not skip) when PgBouncer is not there.
  const c = new Client({
    ...bouncer('pgbouncer'),
    user: services.postgres.user,
    password: services.postgres.password,
  });
  await c.connect().catch((err: unknown) => {
    throw new Error(
      `PgBouncer not reachable on ${services.pgbouncer.port} (run: bash scripts/services.sh up): ${String(err)}`,
    );
  });
  await c.end();
});

function bouncer(database: string) {
  return { host: services.pgbouncer.host, port: services.pgbouncer.port, database };
}

const usersInAuthFile = () =>
  readFileSync(services.pgbouncer.authFile, 'utf8')
    .split('\n')
    .map(lineUser)
    .filter((u): u is string => u !== undefined);

async function loginThroughBouncer(database: string, user: string, password: string): Promise<boolean> {
  const c = new Client({ ...bouncer(database), user, password });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

describe('rotation delivers to PgBouncer (auth file + RELOAD) and applications connect through it', () => {
  const t = withPgRig();
  const root = withTempDir('delivery-bouncer-');
  let credentialId: string;
  let app: string;

  beforeEach(async () => {
    app = await t.pg.createLogin('app', 'initial-Pw-1');
    await t.pg.admin.query(`CREATE TABLE counter (n int)`);
    await t.pg.admin.query(`GRANT SELECT, INSERT ON counter TO "${app}"`);
    credentialId = await addDualUserApp(t.rig, t.pg, {
      login: app,
      password: 'initial-Pw-1',
      idPrefix: 'pg-app',
      targets: [
        { type: 'pgbouncer', authFile: services.pgbouncer.authFile },
        // Applications read where to connect (PgBouncer) and with what from this directory.
        {
          type: 'file',
          dir: join(root.path, 'app'),
          host: services.pgbouncer.host,
          port: services.pgbouncer.port,
        },
      ],
    });
  });

  it('both logins are in the auth file during grace, only the new one after revoke; the admin line is kept', async () => {
    const handle = await t.rig.start({ credentialId, graceMs: 60_000, drainTimeoutMs: 0 });
    // In grace (not a fixed sleep: promote can take longer than a second on a loaded machine).
    await eventually(async () => (await handle.query(statusQuery)).phase === 'grace');
    const next = await t.rig.store.getSecret(credentialId, 'CURRENT');
    expect(usersInAuthFile()).toEqual(expect.arrayContaining([services.postgres.user, app, `${app}_b`]));
    expect(await loginThroughBouncer(t.pg.database, app, 'initial-Pw-1')).toBe(true);
    expect(await loginThroughBouncer(t.pg.database, next.username, next.password)).toBe(true);
    await handle.executeUpdate('finishGrace', { args: [{}] });
    expect((await handle.result()).outcome).toBe('rotated');
    expect(usersInAuthFile()).not.toContain(app);
    expect(usersInAuthFile()).toEqual(expect.arrayContaining([services.postgres.user, `${app}_b`]));
    expect(await loginThroughBouncer(t.pg.database, next.username, next.password)).toBe(true);
    expect(await loginThroughBouncer(t.pg.database, app, 'initial-Pw-1')).toBe(false);
    // The file was replaced with PgBouncer's owner and mode kept.
    const { statSync } = await import('node:fs');
    const st = statSync(services.pgbouncer.authFile);
    expect(st.mode & 0o777).toBe(0o640);
  });

  it('an application (4 instances × 4 connections, file source) runs through PgBouncer across a rotation with 0 failed operations', async () => {
    // Bootstrap: the first rotation publishes; applications start on version 2 and follow the next rotation.
    expect((await t.rig.rotate({ credentialId, graceMs: 0, drainTimeoutMs: 0 })).outcome).toBe('rotated');
    const path = join(root.path, 'app', 'credential.json');
    const instances = await Promise.all(
      [0, 1, 2, 3].map(async () => {
        // Each instance learns of a new version on its own schedule: a poll every 1-3 s, no file watch events relied on.
        const source = new FileSource({ path, pollMs: 1000 + Math.floor(Math.random() * 2000) });
        // The local PgBouncer serves no client TLS (loopback hop); in production set its
        // client_tls_* settings and keep the default verify-full here.
        const pool = await RotatingPgPool.create({
          source,
          pool: { ...bouncer(t.pg.database), max: 4 },
          tls: { mode: 'disabled' },
        });
        return { source, pool };
      }),
    );
    const stats = { ok: 0, failed: 0, errors: new Map<string, number>() };
    let running = true;
    const loops = instances.flatMap(({ pool }) =>
      [0, 1, 2, 3].map(async () => {
        while (running) {
          try {
            await pool.query('INSERT INTO counter VALUES (1)');
            stats.ok++;
          } catch (err) {
            stats.failed++;
            const m = (err as Error).message;
            stats.errors.set(m, (stats.errors.get(m) ?? 0) + 1);
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 1000));
    const result = await t.rig.rotate({ credentialId, graceMs: 4000, drainTimeoutMs: 2000 });
    await new Promise((r) => setTimeout(r, 1000));
    running = false;
    await Promise.all(loops);
    for (const { pool, source } of instances) {
      await pool.end();
      await source.close();
    }
    console.log(`pgbouncer workload: ${stats.ok} ok, ${stats.failed} failed`, [...stats.errors]);
    expect(result.outcome).toBe('rotated');
    expect(stats.failed).toBe(0);
    expect(stats.ok).toBeGreaterThan(500);
    // Every instance ended on the new version.
    const cur = await t.rig.store.getSecret(credentialId, 'CURRENT');
    for (const { source } of instances) expect((await source.current()).version).toBe(cur.version);
  });
});
