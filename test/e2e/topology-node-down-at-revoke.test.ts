/**
 * Reviewer attack on issue 13: a node that goes down during grace, so it is
 * down at revoke. The shared PostgreSQL replica is reached through a TCP
 * proxy (the replica itself is never paused or stopped); the proxy refuses
 * connections from grace on. Revoke must not drop the old login on the
 * primary while a node cannot end its sessions, must say which node, and
 * must finish once the node is back: old login gone on primary and replica.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from 'pg';
import type { RotationResult, RotationStatus } from '../../src/shared/types';
import { readRotation } from '../../src/rotation-view';
import { addPgAppWithAdmin } from '../helpers/pg-app';
import { eventually } from '../helpers/pg-rig';
import { services, testTls } from '../helpers/services';
import { TcpProxy } from '../helpers/tcp-proxy';
import { withPgRig } from '../helpers/with-pg-rig';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a node down at revoke', () => {
  const t = withPgRig();
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
  });

  it('keeps the old login until the node is back, then revokes it everywhere', async () => {
    const { pg, rig } = t;
    proxy = await TcpProxy.start(services.postgres.host, services.postgresReplicaPort);
    const node = { host: services.postgres.host, port: proxy.port };
    const extra = { nodes: [node], nodeSyncTimeoutMs: 20_000 };
    const { id, login: app } = await addPgAppWithAdmin(rig, pg, 'pg-node-down', extra, {
      allowedServers: [node],
    });
    const h = await rig.start({ credentialId: id, graceMs: 2_000, drainTimeoutMs: 0, requestedBy: 'test' });
    const status = async () => (await h.describe()).memo?.status as RotationStatus | undefined;
    await eventually(async () => (await status())?.phase === 'grace');
    proxy.refuse({ cutOpen: true });

    // Revoke cannot end the old login's sessions on the node: it retries (or waits for an operator),
    // and the old login stays on the primary meanwhile.
    let s: RotationStatus | undefined;
    for (let i = 0; i < 200; i++) {
      s = await status();
      if ((s?.phase === 'revoke' || s?.phase === 'needs-operator') && s.lastError) break;
      const pending = (await h.describe()).raw.pendingActivities ?? [];
      if (s?.phase === 'revoke' && pending.some((a) => (a.attempt ?? 1) > 2)) break;
      await sleep(250);
    }
    expect(['revoke', 'needs-operator']).toContain(s?.phase);
    // While the step retries, status says why (from the pending step's last failure).
    const view = await readRotation(rig.client, id);
    expect(view.retrying).toMatch(new RegExp(`^\\w+, attempt \\d+: .*node ${node.host}:${node.port}: `));
    const onPrimary = async () =>
      (await pg.admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [app])).rowCount ?? 0;
    expect(await onPrimary()).toBe(1);
    expect((await rig.store.getVersion(id, 1))?.state).not.toBe('revoked');

    proxy.pass();
    if ((await status())?.phase === 'needs-operator') {
      await h.executeUpdate('resolve', { args: [{ action: 'retry', by: 'test' }] });
    }
    const result = (await h.result()) as RotationResult;
    expect(result.outcome).toBe('rotated');
    expect(await onPrimary()).toBe(0);
    const replica = new Client({
      host: services.postgres.host,
      port: services.postgresReplicaPort,
      user: services.postgres.user,
      password: services.postgres.password,
      database: 'postgres',
      ssl: testTls(services.postgres.host),
    });
    replica.on('error', () => undefined);
    await replica.connect();
    try {
      await eventually(
        async () =>
          ((await replica.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [app])).rowCount ?? 0) === 0,
      );
    } finally {
      await replica.end();
    }
  });
});
