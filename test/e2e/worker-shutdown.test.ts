/**
 * The worker as an orchestrator runs it: a real worker process (src/worker.ts)
 * on the real dev server, /healthz and /readyz, and SIGTERM while a rotation
 * is inside its apply step. The apply step is held by a real lock: an open
 * admin transaction that changed the ACL of the table the new login must be
 * granted, so the worker's GRANT waits on the row until the test releases it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Client as PgClient } from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rotationWorkflowId } from '../../src/shared/constants';
import type { RotationResult } from '../../src/shared/types';
import {
  freePort,
  sleep,
  spawnWorker,
  stopAllFaultProcesses,
  waitForPhase,
  workflowBundleCopy,
  type WorkerProcess,
} from '../helpers/faults';
import { freshPg, pgConnect, type PgNamespace } from '../helpers/pg';
import { addPgAdmin, addPgApp, eventually } from '../helpers/pg-rig';
import { createRotationRig, type RotationRig } from '../helpers/rotation';
import { devServerEnv, uniqueTaskQueue } from '../helpers/temporal';

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

describe('worker process: health endpoints and graceful shutdown', () => {
  let env: TestWorkflowEnvironment;
  let rig: RotationRig;
  let pg: PgNamespace;
  let dir: string;
  let blocker: PgClient | undefined;

  beforeAll(async () => {
    env = await devServerEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rotator-shutdown-'));
    pg = await freshPg();
    rig = await createRotationRig(env);
  });
  afterEach(async () => {
    await blocker?.query('ROLLBACK').catch(() => undefined);
    await blocker?.end().catch(() => undefined);
    blocker = undefined;
    await stopAllFaultProcesses();
    await rig?.close();
    await pg?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  function startWorker(taskQueue: string, healthPort: number, graceMs: number): WorkerProcess {
    return spawnWorker({
      ...rig.env,
      ROTATOR_TASK_QUEUE: taskQueue,
      ROTATOR_WORKFLOW_BUNDLE: workflowBundleCopy(dir),
      ROTATOR_HEALTH_PORT: String(healthPort),
      ROTATOR_SHUTDOWN_GRACE_MS: String(graceMs),
    });
  }

  it('SIGTERM during apply: polling stops, the step finishes, the process exits 0; another worker completes the rotation', async () => {
    const adminId = await addPgAdmin(rig, pg);
    const app = await addPgApp(rig, pg, adminId, 'term');
    const taskQueue = uniqueTaskQueue('term');
    const healthPort = await freePort();
    const worker = startWorker(taskQueue, healthPort, 60_000);
    await worker.ready();

    expect(await get(healthPort, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    const ready = await get(healthPort, '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({
      ready: true,
      checks: { worker: 'ok', temporal: 'ok', store: 'ok' },
    });

    // Hold the table's pg_class row: the worker's GRANT on it waits until we roll back.
    blocker = await pgConnect(pg.database);
    await blocker.query('BEGIN');
    await blocker.query('GRANT SELECT ON public.items TO PUBLIC');

    const handle = await rig.client.workflow.start('rotateCredential', {
      args: [{ credentialId: app.id, graceMs: 0, drainTimeoutMs: 0, migrationTimeoutMs: 0 }],
      taskQueue,
      workflowId: rotationWorkflowId(app.id),
    });
    await waitForPhase(handle, ['apply']);
    const waitingGrant = async () => {
      const { rows } = await pg.admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = $1 AND wait_event_type = 'Lock' AND query ILIKE 'GRANT%'`,
        [pg.database],
      );
      return rows[0]!.n > 0;
    };
    await eventually(waitingGrant, 30_000);

    worker.child.kill('SIGTERM');
    await eventually(async () => worker.output().includes('shutdown requested'), 10_000);
    // Not ready any more (an orchestrator stops sending work), but alive.
    const draining = await eventually(async () => {
      const r = await get(healthPort, '/readyz');
      return r.status === 503 ? r : undefined;
    }, 10_000);
    expect(JSON.parse(draining.body).checks.worker).toBe('shutting down');
    expect((await get(healthPort, '/healthz')).status).toBe(200);
    // The activity is still running: the process waits for it, longer than a worker
    // without a shutdown grace would (it gives up 5 s after its grace and exits 1).
    await sleep(6_500);
    expect(worker.child.exitCode).toBeNull();
    expect(await waitingGrant()).toBe(true);

    await blocker.query('ROLLBACK');
    await worker.exited;
    expect(worker.child.exitCode).toBe(0);
    expect(worker.output()).toContain('worker stopped');

    // The apply attempt that was in flight completed (no retry, no cancellation), and the
    // stopped worker took no further task: the workflow waits in the queue.
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    const applyScheduled = events.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'applyPending',
    );
    expect(applyScheduled).toBeDefined();
    const applyDone = events.filter(
      (e) =>
        e.activityTaskCompletedEventAttributes &&
        String(e.activityTaskCompletedEventAttributes.scheduledEventId) === String(applyScheduled!.eventId),
    );
    expect(applyDone).toHaveLength(1);
    expect(
      events.some((e) => e.activityTaskFailedEventAttributes || e.activityTaskCanceledEventAttributes),
    ).toBe(false);
    const started = events.find(
      (e) =>
        e.activityTaskStartedEventAttributes &&
        String(e.activityTaskStartedEventAttributes.scheduledEventId) === String(applyScheduled!.eventId),
    );
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(1);
    expect((await handle.describe()).status.name).toBe('RUNNING');

    // A new worker picks the rotation up where it stopped.
    const next = startWorker(taskQueue, 0, 5_000);
    await next.ready();
    const result = (await handle.result()) as RotationResult;
    expect(result.outcome).toBe('rotated');
    await next.kill('SIGTERM');
    expect(next.child.exitCode).toBe(0);
  });
});
