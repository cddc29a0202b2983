/**
 * Issue 13, item 4 on a real Redis replica (scripts/services/redis-replica.sh):
 * ACLs are node-local, so with the replica listed as a node every ACL change
 * is made and persisted on both nodes and the login verified on each; a
 * node that is missing blocks before anything is applied. Plain connections
 * (tls disabled): the replica has no TLS listener.
 *
 * The test starts its own primary/replica pair (6382/6384, state in a temp
 * dir) with the service scripts and stops it after: a replica attached to
 * the shared 6379 would make the engine refuse every other test's rotation
 * there ("replica(s) attached: ACL changes are not replicated").
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { devServerEnv } from '../helpers/temporal';
import { createRotationRig, uniqueCredentialId, type RotationRig } from '../helpers/rotation';
import { redisConnect } from '../helpers/redis';
import { REPO_ROOT, services, uniqueSuffix } from '../helpers/services';

const host = services.redis.host;
const primaryPort = 6382;
const replicaPort = 6384;
const stateDir = mkdtempSync(join(tmpdir(), 'topology-redis-'));

/** up/down of this test's own pair, with the service scripts. */
function pair(command: 'up' | 'down'): void {
  const env = {
    ...process.env,
    ROTATOR_STATE_DIR: stateDir,
    ROTATOR_REDIS_PORT: String(primaryPort),
    ROTATOR_REDIS_TLS_PORT: String(primaryPort + 1),
    ROTATOR_REDIS_REPLICA_PORT: String(replicaPort),
  };
  const order = command === 'up' ? ['redis', 'redis-replica'] : ['redis-replica', 'redis'];
  for (const svc of order) {
    execFileSync('bash', [join(REPO_ROOT, 'scripts', 'services', `${svc}.sh`), command], {
      env,
      stdio: 'ignore',
    });
  }
}

/** This test's nodes are plain (the replica has no TLS listener). */
const login = (port: number, user: string, password: string) =>
  redisConnect(user, password, { port, tls: false });
const admin = (port: number) => login(port, services.redis.user, services.redis.password);
async function canLogin(port: number, user: string, password: string): Promise<boolean> {
  try {
    (await login(port, user, password)).disconnect();
    return true;
  } catch {
    return false;
  }
}

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  const t0 = Date.now();
  pair('up');
  console.log(`[topology-redis] primary + replica up in ${Date.now() - t0} ms`);
  env = await devServerEnv();
  const a = await admin(replicaPort);
  const info = String(await a.call('INFO', 'replication'));
  a.disconnect();
  expect(info, `no Redis replica on ${replicaPort}`).toMatch(/role:slave/);
});
afterAll(async () => {
  await env?.teardown();
  pair('down');
  rmSync(stateDir, { recursive: true, force: true });
});

describe('rotation with a Redis replica listed as a node', () => {
  let rig: RotationRig;
  let user: string;
  const password = 'Init-redis-Pw-123';

  async function addApp(nodes: Array<{ host: string; port: number }>): Promise<string> {
    const adminId = uniqueCredentialId('redis-admin');
    const tls = { mode: 'disabled' as const };
    await rig.addCredential(
      { id: adminId, engine: 'redis', host, port: primaryPort, tls, allowedServers: nodes },
      { username: services.redis.user, password: services.redis.password },
    );
    user = `t_${uniqueSuffix()}_app`;
    for (const port of [primaryPort, replicaPort]) {
      const a = await admin(port);
      await a.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~app:*', '+get', '+set');
      a.disconnect();
    }
    const id = uniqueCredentialId('redis-topology');
    await rig.addCredential(
      {
        id,
        engine: 'redis',
        host,
        port: primaryPort,
        tls,
        adminCredentialId: adminId,
        baseUsername: user,
        options: { nodeLocalAcl: true },
        nodes,
      },
      { username: user, password },
    );
    return id;
  }

  beforeEach(async () => {
    rig = await createRotationRig(env);
  });
  afterEach(async () => {
    await rig?.close();
    for (const port of [primaryPort, replicaPort]) {
      const a = await admin(port);
      await a.call('ACL', 'DELUSER', user, `${user}_b`);
      a.disconnect();
    }
  });

  it('changes, persists and verifies the ACL on every node', async () => {
    const id = await addApp([{ host, port: replicaPort }]);
    const t0 = Date.now();
    const result = await rig.rotate({
      credentialId: id,
      graceMs: 500,
      drainTimeoutMs: 500,
      requestedBy: 'test',
    });
    console.log(`[topology-redis] ${result.strategy} rotation over 2 nodes in ${Date.now() - t0} ms`);
    expect(result.outcome).toBe('rotated');
    const current = await rig.store.getSecret(id, 'CURRENT');
    for (const port of [primaryPort, replicaPort]) {
      expect(await canLogin(port, current.username, current.password), `new on ${port}`).toBe(true);
      expect(await canLogin(port, user, password), `old password on ${port}`).toBe(false);
    }
    // Persisted on the replica too (CONFIG REWRITE of its own config file).
    const conf = readFileSync(join(stateDir, 'data', 'redis-replica', 'redis.conf'), 'utf8');
    expect(conf).toMatch(new RegExp(`^user ${current.username} on .*#`, 'm'));
  });

  it('a node that is missing blocks before anything is applied', async () => {
    const id = await addApp([{ host, port: 1 }]);
    const failure = await rig.rotate({ credentialId: id, requestedBy: 'test' }).then(
      () => undefined,
      (err: { cause?: { cause?: { message?: string } } }) => err.cause?.cause?.message,
    );
    expect(failure).toMatch(/node 127\.0\.0\.1:1 of credential .* cannot be reached/);
    const a = await admin(primaryPort);
    const users = (await a.call('ACL', 'USERS')) as string[];
    a.disconnect();
    expect(users).not.toContain(`${user}_b`);
    expect(await canLogin(primaryPort, user, password)).toBe(true);
    expect(await rig.store.listVersions(id)).toHaveLength(1);
  });
});
