/**
 * Issue 13 on the real PostgreSQL streaming replica (scripts/services/
 * postgres-replica.sh, 127.0.0.1:5433): a definition that lists the replica
 * as a node is promoted only after the replica has replayed the new login
 * and the login works there; a replica whose replay is paused holds the
 * rotation in phase `replicate` until it resumes, or past the bound the
 * rotation is undone; at revoke the old login is gone on the replica too.
 * Replay is always resumed in teardown.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Client } from 'pg';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { statusQuery } from '../../src/shared/messages';
import { freshPg, type PgNamespace } from '../helpers/pg';
import { addPgAdmin, eventually, pgServer } from '../helpers/pg-rig';
import { capturedLogs, devServerEnv } from '../helpers/temporal';
import { runCli } from '../helpers/cli';
import { readRotation } from '../../src/rotation-view';
import { EXIT, type DryRunReport } from '../../src/client';
import { createRotationRig, uniqueCredentialId, type RotationRig } from '../helpers/rotation';
import { services, testTls } from '../helpers/services';

const replica = { host: services.postgres.host, port: services.postgresReplicaPort };

async function connectReplica(database: string, user: string, password: string): Promise<Client> {
  const c = new Client({ ...replica, database, user, password, ssl: testTls(replica.host) });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** Admin SQL on the replica (a standby: read-only, plus the replay controls). */
async function onReplica<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = await connectReplica('postgres', services.postgres.user, services.postgres.password);
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

const roleOnReplica = async (role: string) =>
  (await onReplica('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).length > 0;
const resumeReplay = () => onReplica('SELECT pg_wal_replay_resume()');

/** Until the replica has replayed everything the primary has done so far (the test's own setup). */
async function replicaCaughtUp(primary: Client): Promise<void> {
  const { rows } = await primary.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
  await eventually(async () => {
    const r = await onReplica<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [
      rows[0]!.lsn,
    ]);
    return r[0]?.ok === true;
  });
}

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await devServerEnv();
  const rows = await onReplica<{ standby: boolean }>('SELECT pg_is_in_recovery() AS standby');
  expect(rows[0]?.standby, `no standby on ${replica.port} (run: bash scripts/services.sh up)`).toBe(true);
});
afterAll(async () => {
  await env?.teardown();
});

describe('rotation with a PostgreSQL replica listed as a node', () => {
  let pg: PgNamespace;
  let rig: RotationRig;
  let id: string;
  let app: string;

  async function addApp(nodeSyncTimeoutMs: number, nodes = [replica]): Promise<void> {
    const adminId = await addPgAdmin(rig, pg, nodes);
    app = await pg.createLogin('app', 'init-app-Pw1');
    await pg.admin.query(`CREATE TABLE public.items (id int)`);
    await pg.admin.query(`INSERT INTO public.items VALUES (1)`);
    await pg.admin.query(`GRANT SELECT ON public.items TO "${app}"`);
    id = uniqueCredentialId('pg-topology');
    await rig.addCredential(
      {
        id,
        ...pgServer(pg),
        adminCredentialId: adminId,
        baseUsername: app,
        nodes,
        nodeSyncTimeoutMs,
        verifyChecks: ['SELECT count(*) FROM public.items'],
      },
      { username: app, password: 'init-app-Pw1' },
    );
    if (nodes[0] === replica) await replicaCaughtUp(pg.admin); // its grants too, not just the role
  }

  /** The rotation's phase as the CLI sees it (describe(); no query). */
  const readPhase = async () => (await readRotation(rig.client, id).catch(() => undefined))?.phase;

  beforeEach(async () => {
    pg = await freshPg();
    rig = await createRotationRig(env);
  });

  afterEach(async () => {
    await resumeReplay(); // never leave the shared replica paused
    await rig?.close();
    await pg?.cleanup();
  });

  it('waits in phase replicate while replay is paused, proceeds when it resumes; old login gone on the replica', async () => {
    await addApp(60_000);
    await onReplica('SELECT pg_wal_replay_pause()');
    const h = await rig.start({ credentialId: id, graceMs: 1000, drainTimeoutMs: 1000, requestedBy: 'test' });
    await eventually(async () => (await h.query(statusQuery)).phase === 'replicate');
    const pausedAt = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    const held = await h.query(statusQuery);
    expect(held.phase).toBe('replicate'); // not promoted while the replica lacks the login
    expect((await rig.store.getVersion(id, 'CURRENT'))?.version).toBe(1);
    expect(await roleOnReplica(`${app}_b`)).toBe(false);

    // What the operator sees meanwhile: the node that is behind, by how much, and the bound.
    let status = '';
    await eventually(async () => {
      status = (await runCli(['status', id], rig.env)).out;
      return status.includes('127.0.0.1:5433');
    });
    console.log(`[topology-postgres] status while paused:\n${status}`);
    expect(status).toMatch(/^replicate {4}waiting \d+\.\d s of 1m for 1 node\(s\)/m);
    expect(status).toMatch(
      /^ {2}✗ 127\.0\.0\.1:5433 replayed \S+ of \S+, [1-9]\d* bytes behind \(replay paused\)$/m,
    );
    for (const secret of await rig.knownSecrets()) expect(status).not.toContain(secret);
    const json = JSON.parse((await runCli(['status', id, '--json'], rig.env)).out) as {
      replicate?: { waitingFor: Record<string, string>; timeoutMs: number };
    };
    expect(json.replicate?.timeoutMs).toBe(60_000);
    expect(json.replicate?.waitingFor['127.0.0.1:5433']).toMatch(/bytes behind \(replay paused\)$/);

    const resumedAt = Date.now();
    await resumeReplay();
    await eventually(async () => (await h.query(statusQuery)).phases.some((p) => p.phase === 'promote'));
    const promotedAfterResumeMs = Date.now() - resumedAt;
    const result = await h.result();
    expect(result).toMatchObject({ outcome: 'rotated', fromVersion: 1, toVersion: 2 });
    const replicate = (await h.query(statusQuery)).phases.find((p) => p.phase === 'replicate')!;
    const replicateMs = Date.parse(replicate.endedAt!) - Date.parse(replicate.startedAt);
    console.log(
      `[topology-postgres] replicate phase ${replicateMs} ms (paused ${resumedAt - pausedAt} ms + ${promotedAfterResumeMs} ms from resume to promote)`,
    );
    expect(promotedAfterResumeMs).toBeLessThan(10_000);
    const timings = capturedLogs.filter((l) => l.includes('nodes have the change')).at(-1);
    console.log(`[topology-postgres] ${timings}`);
    expect(timings).toMatch(/"verifyMs":\{"127\.0\.0\.1:5433":\d+\}/);

    // The new login works on the replica; the old one is gone there (revoke confirmed it).
    const current = await rig.store.getSecret(id, 'CURRENT');
    const c = await connectReplica(pg.database, current.username, current.password);
    expect((await c.query('SELECT count(*)::int AS n FROM public.items')).rows[0].n).toBe(1);
    await c.end();
    expect(await roleOnReplica(app)).toBe(false);
  });

  it('rotate --wait prints, while it waits in replicate, the node that is behind and how far', async () => {
    await addApp(60_000);
    await onReplica('SELECT pg_wal_replay_pause()');
    const run = runCli(['rotate', id, '--wait', '--grace', '1s', '--drain-timeout', '1s'], rig.env);
    await eventually(async () => (await readPhase()) === 'replicate');
    await new Promise((r) => setTimeout(r, 1500)); // a few polls of --wait (1 s apart)
    await resumeReplay();
    const { code, out } = await run;
    console.log(`[topology-postgres] rotate --wait:\n${out}`);
    expect(code).toBe(0);
    expect(out).toMatch(
      /^replicate — waiting for 127\.0\.0\.1:5433 replayed \S+ of \S+, [1-9]\d* bytes behind \(replay paused\)$/m,
    );
    expect(out).toMatch(/^outcome: rotated/m);
  });

  it('a replica still paused at the bound blocks promote and the rotation is undone', async () => {
    await addApp(3000);
    await onReplica('SELECT pg_wal_replay_pause()');
    const t0 = Date.now();
    const result = await rig.rotate({ credentialId: id, graceMs: 1000, requestedBy: 'test' });
    console.log(`[topology-postgres] failed at the 3000 ms bound after ${Date.now() - t0} ms (whole run)`);
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(
      new RegExp(
        `node\\(s\\) of credential "${id}" did not replay the change within 3000 ms: 127\\.0\\.0\\.1:${replica.port} replayed .* \\(replay paused\\)`,
      ),
    );
    // Compensated: the old version is CURRENT, no new login on the primary, nothing pending.
    expect((await rig.store.getVersion(id, 'CURRENT'))?.version).toBe(1);
    expect(await rig.store.getVersion(id, 'PENDING')).toBeUndefined();
    const onPrimary = await pg.admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [`${app}_b`]);
    expect(onPrimary.rowCount).toBe(0);
    await resumeReplay();
    await eventually(async () => !(await roleOnReplica(`${app}_b`))); // the undo replays too
  });

  it('a workload reading from the replica during a rotation (replay paused meanwhile) sees 0 failed operations', async () => {
    await addApp(60_000);
    // 4 application instances, each with its own credential refresh (every 300 ms, random
    // phase) and a connection to the replica it keeps for up to 1 s, then reopens.
    let stop = false;
    let ops = 0;
    const failures: string[] = [];
    const instance = async () => {
      let cred = await rig.store.getSecret(id, 'CURRENT');
      let nextRefresh = Date.now() + Math.random() * 300;
      let conn: Client | undefined;
      let openedAt = 0;
      while (!stop) {
        try {
          if (Date.now() >= nextRefresh) {
            cred = await rig.store.getSecret(id, 'CURRENT');
            nextRefresh = Date.now() + 300;
          }
          if (conn && (Date.now() - openedAt > 1000 || conn.user !== cred.username)) {
            await conn.end();
            conn = undefined;
          }
          if (!conn) {
            conn = await connectReplica(pg.database, cred.username, cred.password);
            openedAt = Date.now();
          }
          await conn.query('SELECT count(*) FROM public.items');
          ops++;
        } catch (err) {
          failures.push((err as Error).message);
          conn = undefined;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      await conn?.end().catch(() => undefined);
    };
    const workload = Promise.all([instance(), instance(), instance(), instance()]);
    const h = await rig.start({ credentialId: id, graceMs: 2000, drainTimeoutMs: 5000, requestedBy: 'test' });
    await eventually(async () => (await h.query(statusQuery)).phase !== 'preflight');
    await onReplica('SELECT pg_wal_replay_pause()'); // the replica falls behind during the rotation
    await new Promise((r) => setTimeout(r, 1500));
    await resumeReplay();
    const result = await h.result();
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await workload;
    console.log(
      `[topology-postgres] replica workload: ${ops} operations, ${failures.length} failed`,
      failures.slice(0, 5),
    );
    expect(result.outcome).toBe('rotated');
    expect(failures).toEqual([]);
    expect(ops).toBeGreaterThan(100);
  });

  it('dry run: the node, how far behind it is now, what the rotation would wait for and check there; nothing changes', async () => {
    await addApp(60_000);
    await onReplica('SELECT pg_wal_replay_pause()');
    await pg.admin.query('CREATE TABLE public.more (id int)'); // WAL the paused replica lacks
    const r = await runCli(['rotate', id, '--dry-run', '--json'], rig.env);
    expect(r.code, r.err).toBe(0);
    const dry = JSON.parse(r.out) as DryRunReport;
    expect(dry.blockers).toEqual([]);
    expect(dry.plan?.nodes).toEqual(['127.0.0.1:5433']);
    expect(dry.plan?.nodeSyncTimeoutMs).toBe(60_000);
    expect(dry.nodes).toEqual([
      expect.stringMatching(
        new RegExp(
          `^127\\.0\\.0\\.1:5433 now: has "${app}"; behind: replayed \\S+ of \\S+, [1-9]\\d* bytes behind \\(replay paused\\)$`,
        ),
      ),
      `on each node, before promote: wait up to 60 s until its replay LSN ≥ the primary's insert LSN after the change, then log in with the new and the old credential ("${app}_b", "${app}")`,
      `on each node, at revoke: end the sessions of "${app}", then wait up to 60 s until it has the revoke, then confirm "${app}" is gone`,
    ]);
    const text = (await runCli(['rotate', id, '--dry-run'], rig.env)).out;
    console.log(`[topology-postgres] dry run:\n${text}`);
    expect(text).toContain(`nodes (1)\n  127.0.0.1:5433 now: has "${app}"; behind: replayed `);
    for (const secret of await rig.knownSecrets()) expect(text).not.toContain(secret);
    expect(await rig.store.listVersions(id)).toHaveLength(1);
    await resumeReplay();
    // Replaying again: no longer paused. (The shared primary keeps writing WAL for others, so
    // the replica may be a few bytes behind the position read at that instant, or caught up.)
    await replicaCaughtUp(pg.admin);
    const after = JSON.parse(
      (await runCli(['rotate', id, '--dry-run', '--json'], rig.env)).out,
    ) as DryRunReport;
    expect(after.nodes?.[0]).toMatch(
      new RegExp(
        `^127\\.0\\.0\\.1:5433 now: has "${app}"; (caught up: replayed \\S+ of \\S+|behind: replayed \\S+ of \\S+, \\d+ bytes behind)$`,
      ),
    );
  });

  it('a node that is down blocks before anything changes (and the dry run says so)', async () => {
    await addApp(60_000, [{ host: '127.0.0.1', port: 1 }]);
    const dry = await runCli(['rotate', id, '--dry-run', '--json'], rig.env);
    expect(dry.code).toBe(EXIT.blocked);
    expect((JSON.parse(dry.out) as DryRunReport).blockers).toEqual([
      expect.stringMatching(new RegExp(`^node 127\\.0\\.0\\.1:1 of credential "${id}" cannot be reached: `)),
    ]);
    // Preflight refuses: the run fails before any change (no version, no login).
    const failure = await rig.rotate({ credentialId: id, requestedBy: 'test' }).then(
      () => undefined,
      (err: { cause?: { cause?: { message?: string } } }) => err.cause?.cause?.message,
    );
    expect(failure).toMatch(/node 127\.0\.0\.1:1 of credential .* cannot be reached/);
    expect(await rig.store.listVersions(id)).toHaveLength(1);
  });
});
