/**
 * Definition mistakes around `nodes` (issue 13), on the shared PostgreSQL
 * primary only (no replay is paused): the primary listed again under another
 * name of the same server, and a node the admin may not be used against.
 * Neither may leave anything behind.
 */
import { describe, expect, it } from 'vitest';
import { EXIT, type DryRunReport } from '../../src/client';
import { runCli } from '../helpers/cli';
import { addPgAppWithAdmin } from '../helpers/pg-app';
import { services } from '../helpers/services';
import { withPgRig } from '../helpers/with-pg-rig';

/** A short rotation: one second of grace, no drain. */
const QUICKLY = { graceMs: 1000, drainTimeoutMs: 0, requestedBy: 'test' };

describe('nodes: definition mistakes', () => {
  const t = withPgRig();

  async function addApp(
    node: { host: string; port: number },
    adminAllows: Array<{ host: string; port: number }>,
  ) {
    const extra = { nodes: [node], nodeSyncTimeoutMs: 2_000 };
    const { id, login } = await addPgAppWithAdmin(t.rig, t.pg, 'pg-nodes', extra, {
      allowedServers: adminAllows,
    });
    return { id, app: login };
  }

  const rolesLike = async (app: string) =>
    (
      await t.pg.admin.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname LIKE $1', [
        `${app}%`,
      ])
    ).rows
      .map((r) => r.rolname)
      .sort();

  it('the primary listed as a node under another name: never caught up, the rotation is undone, nothing left', async () => {
    const alias = { host: 'localhost', port: services.postgres.port };
    expect(services.postgres.host).not.toBe('localhost');
    const { id, app } = await addApp(alias, [alias]);
    const result = await t.rig.rotate({ credentialId: id, ...QUICKLY });
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/localhost:\d+ is not a standby/);
    expect((await t.rig.store.getVersion(id, 'CURRENT'))?.version).toBe(1);
    expect(await t.rig.store.getVersion(id, 'PENDING')).toBeUndefined();
    expect(await rolesLike(app)).toEqual([app]);
  });

  it('a node the admin may not be used against: blocked before any connection, in the dry run and the rotation', async () => {
    const { id, app } = await addApp({ host: '127.0.0.2', port: services.postgres.port }, []);
    const dry = await runCli(['rotate', id, '--dry-run', '--json'], t.rig.env);
    expect(dry.code).toBe(EXIT.blocked);
    expect((JSON.parse(dry.out) as DryRunReport).blockers.join('\n')).toMatch(/127\.0\.0\.2/);
    const failure = await t.rig.rotate({ credentialId: id, requestedBy: 'test' }).then(
      (r) => `completed: ${r.outcome}`,
      (err: { cause?: { cause?: { message?: string } } }) => err.cause?.cause?.message ?? 'failed',
    );
    expect(failure).toMatch(/127\.0\.0\.2/);
    expect(await t.rig.store.listVersions(id)).toHaveLength(1);
    expect(await rolesLike(app)).toEqual([app]);
  });
});
