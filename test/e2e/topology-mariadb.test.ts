/**
 * Issue 13 on a real MariaDB GTID replica (scripts/services/mariadb-replica.sh,
 * 127.0.0.1:3307 beside the primary 3306): promote waits until the replica
 * has applied the primary's GTID position after apply and the login works
 * there; with the replica's SQL thread stopped the rotation holds in phase
 * `replicate` until it is started again, or past the bound it is undone.
 * The SQL thread is always started again in teardown.
 *
 * The test starts its own primary/replica pair (3308/3309, state in a temp
 * dir) with the service scripts and stops it after, so it does not depend on
 * the shared primary having been started with a binary log (an older
 * services.sh started it without one).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createConnection, escape, type Connection } from 'mysql2/promise';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { statusQuery } from '../../src/shared/messages';
import { eventually } from '../helpers/pg-rig';
import { devServerEnv } from '../helpers/temporal';
import { createRotationRig, uniqueCredentialId, type RotationRig } from '../helpers/rotation';
import { REPO_ROOT, services, testTls, uniqueSuffix } from '../helpers/services';

const host = services.mysql.host;
const primary = { host, port: 3308 };
const replica = { host, port: 3309 };
const stateDir = mkdtempSync(join(tmpdir(), 'topology-mariadb-'));
const pairEnv = {
  ...process.env,
  ROTATOR_STATE_DIR: stateDir,
  ROTATOR_MYSQL_PORT: String(primary.port),
  ROTATOR_MYSQL_REPLICA_PORT: String(replica.port),
};

/** up/down of this test's own pair, with the service scripts. */
function pair(command: 'up' | 'down'): void {
  const order = command === 'up' ? ['mariadb', 'mariadb-replica'] : ['mariadb-replica', 'mariadb'];
  for (const svc of order) {
    execFileSync('bash', [join(REPO_ROOT, 'scripts', 'services', `${svc}.sh`), command], {
      env: pairEnv,
      stdio: 'ignore',
    });
  }
}

// The pair presents certificates of the services' CA (tls.sh makes none where one exists),
// so the worker and the test verify it like the shared servers.
cpSync(dirname(services.tls.caFile), join(stateDir, 'tls'), { recursive: true });

/** A fresh database and login on the pair's primary (the pair is thrown away after the file). */
async function freshOnPair(): Promise<{ database: string; admin: Connection; login: string }> {
  const admin = await connectTo(primary.port, services.mysql.user, services.mysql.password);
  const database = `t_${uniqueSuffix()}`;
  await admin.query(`CREATE DATABASE \`${database}\``);
  const login = `${database}_app`;
  await admin.query(`CREATE USER ${escape(login)}@'%' IDENTIFIED BY 'init-app-Pw1'`);
  return { database, admin, login };
}

async function connectTo(port: number, user: string, password: string, database?: string) {
  const c = await createConnection({
    host,
    port,
    user,
    password,
    ...(database ? { database } : {}),
    ssl: testTls(host) as never,
  });
  c.on('error', () => undefined);
  return c;
}
const connectReplica = (user: string, password: string, database?: string) =>
  connectTo(replica.port, user, password, database);

async function onReplica<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = await connectReplica(services.mysql.user, services.mysql.password);
  try {
    return (await c.query(sql, params))[0] as T[];
  } finally {
    await c.end();
  }
}

const accountOnReplica = async (user: string) =>
  (await onReplica('SELECT 1 FROM mysql.user WHERE User = ?', [user])).length > 0;
const startSqlThread = () => onReplica('START SLAVE SQL_THREAD');

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  const t0 = Date.now();
  pair('up');
  console.log(`[topology-mariadb] primary + GTID replica up in ${Date.now() - t0} ms`);
  env = await devServerEnv();
  const status = await onReplica<{ Slave_IO_Running: string }>('SHOW SLAVE STATUS');
  expect(status[0]?.Slave_IO_Running, `no replica on ${replica.port}`).toBe('Yes');
});
afterAll(async () => {
  await env?.teardown();
  pair('down');
  rmSync(stateDir, { recursive: true, force: true });
});

describe('rotation with a MariaDB replica listed as a node', () => {
  let my: { database: string; admin: Connection; login: string };
  let rig: RotationRig;
  let id: string;
  let app: string;

  async function addApp(strategy: 'auto' | 'dual-user', nodeSyncTimeoutMs: number): Promise<void> {
    const adminId = uniqueCredentialId('my-admin');
    await rig.addCredential(
      {
        id: adminId,
        engine: 'mysql',
        ...primary,
        allowedServers: [replica],
      },
      { username: services.mysql.user, password: services.mysql.password },
    );
    app = my.login;
    await my.admin.query(`CREATE TABLE \`${my.database}\`.items (id int)`);
    await my.admin.query(`GRANT SELECT ON \`${my.database}\`.items TO ${escape(app)}@'%'`);
    id = uniqueCredentialId('my-topology');
    await rig.addCredential(
      {
        id,
        engine: 'mysql',
        ...primary,
        database: my.database,
        adminCredentialId: adminId,
        baseUsername: app,
        strategy,
        nodes: [replica],
        nodeSyncTimeoutMs,
      },
      { username: app, password: 'init-app-Pw1' },
    );
    await eventually(async () => accountOnReplica(app));
  }

  beforeEach(async () => {
    my = await freshOnPair();
    rig = await createRotationRig(env);
  });

  afterEach(async () => {
    await startSqlThread(); // never leave the replica stopped
    await rig?.close();
    await my?.admin.end();
  });

  it('dual-user: waits in phase replicate while the SQL thread is stopped, proceeds when it runs; old account gone on the replica', async () => {
    await addApp('dual-user', 60_000);
    await onReplica('STOP SLAVE SQL_THREAD');
    const h = await rig.start({ credentialId: id, graceMs: 1000, drainTimeoutMs: 1000, requestedBy: 'test' });
    await eventually(async () => (await h.query(statusQuery)).phase === 'replicate');
    await new Promise((r) => setTimeout(r, 2000));
    expect((await h.query(statusQuery)).phase).toBe('replicate');
    expect((await rig.store.getVersion(id, 'CURRENT'))?.version).toBe(1);
    expect(await accountOnReplica(`${app}_b`)).toBe(false);

    const resumedAt = Date.now();
    await startSqlThread();
    await eventually(async () => (await h.query(statusQuery)).phases.some((p) => p.phase === 'promote'));
    console.log(`[topology-mariadb] promote ${Date.now() - resumedAt} ms after the SQL thread started`);
    const result = await h.result();
    expect(result).toMatchObject({ outcome: 'rotated', strategy: 'dual-user' });
    const current = await rig.store.getSecret(id, 'CURRENT');
    const c = await connectReplica(current.username, current.password, my.database);
    expect((await c.query('SELECT count(*) AS n FROM items'))[0]).toEqual([{ n: 0 }]);
    await c.end();
    expect(await accountOnReplica(app)).toBe(false);
  });

  it('dual-password: the SQL thread still stopped at the bound blocks promote and the rotation is undone', async () => {
    await addApp('auto', 3000);
    await onReplica('STOP SLAVE SQL_THREAD');
    const result = await rig.rotate({ credentialId: id, graceMs: 1000, requestedBy: 'test' });
    expect(result).toMatchObject({ outcome: 'failed', strategy: 'dual-password' });
    expect(result.error).toMatch(
      new RegExp(
        `did not replay the change within 3000 ms: 127\\.0\\.0\\.1:${replica.port} applied .*, [1-9]\\d* transaction\\(s\\) behind \\(SQL thread No, IO thread Yes\\)`,
      ),
    );
    expect((await rig.store.getVersion(id, 'CURRENT'))?.version).toBe(1);
    expect(await rig.store.getVersion(id, 'PENDING')).toBeUndefined();
    await startSqlThread();
    // After the undo has replayed, only the old password works on the replica.
    await eventually(async () => {
      try {
        await (await connectReplica(app, 'init-app-Pw1')).end();
        return true;
      } catch {
        return false;
      }
    });
  });
});
