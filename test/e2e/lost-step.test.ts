/**
 * Issue 11, items 1 and 2, with real SIGKILLs on the dev server and real
 * PostgreSQL.
 *
 * Item 1: a store step runs as a local activity; its effect happens, then the
 * worker dies before the workflow task completes, so history has no trace of
 * it; an abort arrives. The next worker sees the abort before the step's
 * boundary. Compensation must still put everything back, because it reads the
 * actual state (store labels, server logins) instead of the steps history
 * shows: CURRENT is the old login and it logs in, every time.
 *
 * Item 2: while the sticky worker is dead, operators and consumers keep
 * looking at the rotation (status, rotate --wait, heartbeats): through
 * describe(), never a query, so the history stays replayable.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { escapeIdentifier } from 'pg';
import { readRotation } from '../../src/rotation-view';
import { rotationWorkflowId } from '../../src/shared/constants';
import { abortUpdate, consumerHeartbeatSignal } from '../../src/shared/messages';
import type { RotationResult } from '../../src/shared/types';
import { sleep, spawnWorker } from '../helpers/faults';
import { markerName } from '../helpers/hold-worker-name';
import { addPgApp, pgLogsIn } from '../helpers/pg-rig';
import { expectReplays } from '../helpers/rotation';
import { REPO_ROOT } from '../helpers/services';
import { uniqueTaskQueue } from '../helpers/temporal';
import { withFaultRig, prefixRoles } from '../helpers/fault-rig';

const HOLD_WORKER = join(REPO_ROOT, 'test', 'helpers', 'hold-worker.ts');

const f = withFaultRig('lost');

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const BATCH = 5;

describe('a store step lost with its worker, then an abort (issue 11 item 1)', () => {
  for (const [holdAfter, runs, effect] of [
    ['promote', 20, 'current'],
    ['createPending', 5, 'pending'],
  ] as const) {
    it(`${holdAfter} done, worker SIGKILLed before its task completed, abort: CURRENT is the old login and logs in, ${runs} of ${runs}`, async () => {
      const { rig, adminId } = await f.newRig();
      const taskQueue = uniqueTaskQueue('lost');
      const workerEnv = { ...rig.env, ROTATOR_TASK_QUEUE: taskQueue, ROTATOR_WORKFLOW_BUNDLE: f.bundle };
      let ok = 0;
      const outcomes: Record<string, number> = {};
      for (let round = 0; round < runs / BATCH; round++) {
        const apps: Array<Awaited<ReturnType<typeof addPgApp>>> = [];
        for (let i = 0; i < BATCH; i++) apps.push(await addPgApp(rig, f.pg, adminId, `l${round}${i}`));
        const rolesBefore = await prefixRoles(f.pg);
        const markers = mkdtempSync(join(f.tmp, 'markers-'));
        const holder = spawnWorker(
          { ...workerEnv, HOLD_AFTER: holdAfter, HOLD_MARKER_DIR: markers },
          HOLD_WORKER,
        );
        await holder.ready();
        const handles = await Promise.all(
          apps.map((app) =>
            rig.client.workflow.start('rotateCredential', {
              args: [{ credentialId: app.id, graceMs: 600_000, drainTimeoutMs: 0, consumerDiscoveryMs: 0 }],
              taskQueue,
              workflowId: rotationWorkflowId(app.id),
              // A killed worker's task is handed on after 2 s instead of 10 s.
              workflowTaskTimeout: '2s',
            }),
          ),
        );
        handles.forEach((h) => f.track(h));
        await waitFor('every rotation held after its store step', () =>
          apps.every((a) => existsSync(join(markers, markerName(a.id)))),
        );
        await holder.kill('SIGKILL');

        // The effect is real, and history does not know it.
        for (const app of apps) {
          expect((await rig.store.getVersion(app.id, 2))?.state).toBe(effect);
          const events =
            (await rig.client.workflow.getHandle(rotationWorkflowId(app.id)).fetchHistory()).events ?? [];
          // Only the markers of the local steps before the held one (audit, createPending); none of it.
          expect(events.filter((e) => e.markerRecordedEventAttributes)).toHaveLength(
            holdAfter === 'promote' ? 2 : 0,
          );
        }

        // The abort arrives while no worker runs; a fresh worker takes over.
        const aborts = handles.map((h) =>
          h.executeUpdate(abortUpdate, { args: [{ reason: 'lost step test', by: 'test' }] }),
        );
        const worker = spawnWorker(workerEnv);
        await worker.ready();
        const results = (await Promise.all(handles.map((h) => h.result()))) as RotationResult[];
        await Promise.all(aborts);

        for (const [i, app] of apps.entries()) {
          // Aborted before promote, or — when the fresh worker redid the idempotent store step
          // before the abort reached it — rolled back after promote. Either way: as before.
          expect(['aborted', 'rolled-back'], `${app.id}: ${results[i]!.error ?? ''}`).toContain(
            results[i]!.outcome,
          );
          outcomes[results[i]!.outcome] = (outcomes[results[i]!.outcome] ?? 0) + 1;
          const current = await rig.store.getSecret(app.id, 'CURRENT');
          expect(current).toMatchObject({ version: 1, username: app.login });
          expect(await pgLogsIn(f.pg.database, current.username, current.password)).toBe(true);
          expect(await rig.store.getVersion(app.id, 'PENDING')).toBeUndefined();
          expect((await rig.store.listVersions(app.id)).map((v) => [v.version, v.state])).toEqual([
            [1, 'current'],
          ]);
          // The local audit step ran twice (before and after the kill) but wrote once.
          const actions = (await rig.store.listAudit(app.id)).map((a) => a.action);
          expect(actions.filter((a) => a === 'rotation-started')).toHaveLength(1);
          expect(actions.filter((a) => a === `rotation-${results[i]!.outcome}`)).toHaveLength(1);
          await expectReplays(rig, rotationWorkflowId(app.id), f.bundle);
          ok++;
        }
        expect(await prefixRoles(f.pg)).toEqual(rolesBefore);
        await worker.kill('SIGTERM');
      }
      console.log(`lost ${holdAfter} + abort: ${JSON.stringify(outcomes)} of ${runs}`);
      expect(ok).toBe(runs);
    }, 300_000);
  }
});

describe('looking at a rotation while its sticky worker is dead (issue 11 item 2)', () => {
  it('status, rotate --wait and heartbeats go through describe(); the history replays and the rotation completes', async () => {
    const { rig, adminId } = await f.newRig();
    const app = await addPgApp(rig, f.pg, adminId, 'sticky');
    // A slow verification check makes the verify activity long enough to kill the worker inside it.
    const def = await rig.store.getDefinition(app.id);
    await rig.store.putDefinition({ ...def, verifyChecks: ['SELECT pg_sleep(2)'] }, 'test');
    const taskQueue = uniqueTaskQueue('sticky');
    const workerEnv = { ...rig.env, ROTATOR_TASK_QUEUE: taskQueue, ROTATOR_WORKFLOW_BUNDLE: f.bundle };
    const first = spawnWorker(workerEnv);
    await first.ready();
    const handle = await rig.client.workflow.start('rotateCredential', {
      args: [{ credentialId: app.id, graceMs: 1_000, drainTimeoutMs: 0, consumerDiscoveryMs: 0 }],
      taskQueue,
      workflowId: rotationWorkflowId(app.id),
    });
    f.track(handle);
    await waitFor('verify', async () => (await readRotation(rig.client, app.id)).phase === 'verify');
    await first.kill('SIGKILL');
    // The step's result lands in history while nobody runs the workflow; everyone keeps looking.
    const second = spawnWorker(workerEnv);
    const looks: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      looks.push(readRotation(rig.client, app.id));
      looks.push(handle.signal(consumerHeartbeatSignal, { consumerId: `look-${i % 3}`, version: 2 }));
      await sleep(150);
    }
    await Promise.all(looks);
    await second.ready();
    const result = (await Promise.race([
      handle.result(),
      sleep(60_000).then(async () => {
        throw new Error(
          `rotation stuck: ${JSON.stringify(await readRotation(rig.client, app.id))}\n${second.output().slice(-3000)}`,
        );
      }),
    ])) as RotationResult;
    expect(result.outcome).toBe('rotated');
    await expectReplays(rig, handle.workflowId, f.bundle);
    const view = await readRotation(rig.client, app.id);
    expect(view).toMatchObject({ execution: 'COMPLETED', outcome: 'rotated', phase: 'done' });
  }, 120_000);
});

describe('an undo never touches what the rotation did not create (review finding)', () => {
  it('abort in preflight with a login named like the new one already present: that login survives', async () => {
    const { rig, adminId } = await f.newRig();
    const app = await addPgApp(rig, f.pg, adminId, 'pre');
    // Somebody else's login with the name dual-user would pick next, owning a table.
    const other = `${app.login}_b`;
    await f.pg.admin.query(`CREATE ROLE ${escapeIdentifier(other)} LOGIN PASSWORD 'other-Pw-1'`);
    await f.pg.admin.query(`CREATE TABLE public.b_owned (v int)`);
    await f.pg.admin.query(`ALTER TABLE public.b_owned OWNER TO ${escapeIdentifier(other)}`);
    // The abort is sent at once and honoured at the first step boundary after preflight,
    // before anything was stored or applied.
    const h = await rig.start({ credentialId: app.id, graceMs: 600_000, drainTimeoutMs: 0 });
    f.track(h);
    await h.executeUpdate(abortUpdate, { args: [{ reason: 'changed my mind' }] });
    const result = (await h.result()) as RotationResult;
    expect(result.outcome).toBe('aborted');
    const roles = await f.pg.admin.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [other]);
    expect(roles.rowCount).toBe(1);
    const owner = await f.pg.admin.query<{ tableowner: string }>(
      `SELECT tableowner FROM pg_tables WHERE tablename = 'b_owned'`,
    );
    expect(owner.rows[0]!.tableowner).toBe(other);
    expect(await pgLogsIn(f.pg.database, app.login, app.password)).toBe(true);
  }, 120_000);
});
