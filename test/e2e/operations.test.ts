import { beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { escapeIdentifier } from 'pg';
import { EXIT } from '../../src/client';
import type { RotationView } from '../../src/rotation-view';
import { rotationWorkflowId } from '../../src/shared/constants';
import { statusQuery } from '../../src/shared/messages';
import type { FleetSummary, LaunchResult } from '../../src/shared/types';
import { loadConfig } from '../../src/config';
import { createRotationSchedule, rotationScheduleId } from '../../src/schedules';
import { addPgAdmin, addPgApp, eventually } from '../helpers/pg-rig';
import { withPgRig } from '../helpers/with-pg-rig';
import { REPO_ROOT } from '../helpers/services';
import { cliAsOperator } from '../helpers/cli';

describe('operations on the dev server with real PostgreSQL', () => {
  const t = withPgRig();
  let adminId: string;

  beforeEach(async () => {
    adminId = await addPgAdmin(t.rig, t.pg);
  });

  /** Runs the CLI in-process as this test's operator. */
  const cli = cliAsOperator(() => t.rig.env, 'cli-test');

  it('CLI: rotate, status --json, rollback, abort, exit codes', async () => {
    const app = await addPgApp(t.rig, t.pg, adminId, 'cli');
    expect((await cli('rotate', app.id, '--grace', '10m', '--drain-timeout', '0s')).code).toBe(EXIT.ok);
    // A second start while one runs is refused with its own exit code.
    const dup = await cli('rotate', app.id);
    expect(dup.code).toBe(EXIT.conflict);
    expect(dup.err).toMatch(/already running/);

    const status = await eventually(async () => {
      const r = await cli('status', app.id, '--json');
      const v = JSON.parse(r.out) as RotationView;
      return v.phase === 'grace' ? v.status! : undefined;
    });
    expect(status.plan).toMatchObject({
      engine: 'postgres',
      strategy: 'dual-user',
      fromVersion: 1,
      toVersion: 2,
    });
    const human = await cli('status', app.id);
    expect(human.out).toMatch(/phase\s+grace/);
    expect(human.out).not.toContain(app.password);

    expect((await cli('rollback', app.id, '--reason', 'cli test')).code).toBe(EXIT.ok);
    const h = t.rig.client.workflow.getHandle(rotationWorkflowId(app.id));
    expect(((await h.result()) as { outcome: string }).outcome).toBe('rolled-back');

    // abort before promote: the next rotation is aborted at a step boundary.
    const started = await cli('rotate', app.id, '--grace', '10m');
    expect(started.code).toBe(EXIT.ok);
    expect((await cli('abort', app.id, '--reason', 'changed my mind')).code).toBe(EXIT.ok);
    const r2 = (await t.rig.client.workflow.getHandle(rotationWorkflowId(app.id)).result()) as {
      outcome: string;
    };
    expect(['aborted', 'rolled-back']).toContain(r2.outcome);
    expect((await t.rig.store.getSecret(app.id, 'CURRENT')).username).toBe(app.login);

    expect((await cli('status', 'no/such')).code).toBe(EXIT.notFound);
    expect((await cli('rotate')).code).toBe(EXIT.usage);
    const shown = await cli('credentials', 'show', app.id, '--json');
    expect(shown.out).toContain(app.login);
    expect(shown.out).not.toContain(app.password);
    const history = JSON.parse((await cli('history', app.id, '--json')).out) as Array<
      Record<string, unknown>
    >;
    expect(history.map((h) => h.outcome)).toEqual(['rolled-back', r2.outcome]);
    expect(history[0]).toMatchObject({
      strategy: 'dual-user',
      fromVersion: 1,
      toVersion: 2,
      requestedBy: 'cli-test',
    });
    expect(typeof history[0]!.durationMs).toBe('number');
    expect((await cli('history', 'no/such')).code).toBe(EXIT.notFound);
  });

  it('a failed rotation says why everywhere an operator looks: rotate --wait, status, history, exit codes', async () => {
    // Unknown credential: refused before anything starts.
    const unknown = await cli('rotate', 'no/such-credential');
    expect(unknown.code).toBe(EXIT.notFound);
    await expect(
      t.rig.client.workflow.getHandle(rotationWorkflowId('no/such-credential')).describe(),
    ).rejects.toThrow();

    // A login that no longer exists on the server: preflight fails.
    const app = await addPgApp(t.rig, t.pg, adminId, 'gone');
    const login = escapeIdentifier(app.login);
    await t.pg.admin.query(
      `REASSIGN OWNED BY ${login} TO CURRENT_USER; DROP OWNED BY ${login}; DROP ROLE ${login}`,
    );
    const waited = await cli('rotate', app.id, '--wait');
    expect(waited.code).toBe(EXIT.failed);
    expect(waited.out).toMatch(/outcome: failed — \w+Error: .*/);
    expect(waited.out).toContain(app.login);

    const status = await cli('status', app.id);
    expect(status.code).toBe(EXIT.failed);
    expect(status.out).toMatch(/outcome\s+failed/);
    expect(status.out).toMatch(/cause\s+\w+Error: /);
    expect(status.out).toMatch(/phase\s+done/);

    const history = JSON.parse((await cli('history', app.id, '--json')).out) as Array<
      Record<string, unknown>
    >;
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ outcome: 'failed', requestedBy: 'cli-test' });
    expect(String(history[0]!.error)).toMatch(/^\w+Error: /);
    expect((await cli('history', app.id)).code).toBe(EXIT.failed);

    // A run that Temporal ended (terminated): status and history say so, with the reason.
    const ok = await addPgApp(t.rig, t.pg, adminId, 'term');
    expect((await cli('rotate', ok.id, '--grace', '10m')).code).toBe(EXIT.ok);
    const h = t.rig.client.workflow.getHandle(rotationWorkflowId(ok.id));
    await eventually(async () => (await h.describe()).memo?.status !== undefined);
    await h.terminate('operator pulled the plug');
    const termStatus = await cli('status', ok.id);
    expect(termStatus.code).toBe(EXIT.failed);
    expect(termStatus.out).toMatch(/cause\s+terminated: operator pulled the plug/);
    const termHistory = JSON.parse((await cli('history', ok.id, '--json')).out) as Array<
      Record<string, unknown>
    >;
    expect(termHistory[termHistory.length - 1]).toMatchObject({
      outcome: 'terminated',
      error: 'terminated: operator pulled the plug',
    });
  });

  it('the bin entry point runs', () => {
    const out = execFileSync(join(REPO_ROOT, 'bin', 'db-rotator'), ['--help'], { encoding: 'utf8' });
    expect(out).toMatch(/rotate \[options\] <credential>/);
    expect(out).toMatch(/schedule/);
  });

  it('a scheduled run and a manual rotation of one credential never overlap', async () => {
    const app = await addPgApp(t.rig, t.pg, adminId, 'sched');
    const cfg = loadConfig();
    const manual = await t.rig.start({ credentialId: app.id, graceMs: 600_000, drainTimeoutMs: 0 });
    await eventually(async () => (await manual.query(statusQuery)).phase === 'grace');

    const schedule = await createRotationSchedule(t.rig.client, cfg, app.id, {
      paused: true,
      rotation: { graceMs: 0, drainTimeoutMs: 0 },
    });
    try {
      expect(schedule.scheduleId).toBe(rotationScheduleId(app.id));
      await schedule.trigger();
      const skipped = await eventually(async () => launcherResult(schedule.scheduleId, 0));
      expect(skipped).toMatchObject({ outcome: 'skipped', reason: expect.stringMatching(/already running/) });
      // The manual rotation is untouched and still the only one.
      expect((await manual.query(statusQuery)).phase).toBe('grace');

      await manual.executeUpdate('finishGrace', { args: [{}] });
      expect(((await manual.result()) as { outcome: string }).outcome).toBe('rotated');

      await schedule.trigger();
      const ran = await eventually(async () => launcherResult(schedule.scheduleId, 1), 60_000);
      expect(ran).toMatchObject({ outcome: 'rotated', fromVersion: 2, toVersion: 3 });
      const d = await schedule.describe();
      expect(d.policies.overlap).toBe('SKIP');
      expect(d.policies.pauseOnFailure).toBe(true);
    } finally {
      await schedule.delete();
    }

    async function launcherResult(scheduleId: string, index: number): Promise<LaunchResult | undefined> {
      const d = await t.rig.client.schedule.getHandle(scheduleId).describe();
      const action = d.info.recentActions[index];
      if (!action) return undefined;
      const h = t.rig.client.workflow.getHandle(
        action.action.workflow.workflowId,
        action.action.workflow.firstExecutionRunId,
      );
      const desc = await h.describe();
      if (desc.status.name === 'RUNNING') return undefined;
      return (await h.result()) as LaunchResult;
    }
  });

  it('fleet: 20 credentials, one broken — the rest rotate and the summary names the broken one', async () => {
    const apps = [];
    for (let i = 0; i < 20; i++)
      apps.push(await addPgApp(t.rig, t.pg, adminId, `f${i}`, { labels: { team: 'orders' } }));
    // Broken: its login does not exist on the server.
    const broken = apps[7]!;
    await t.pg.admin.query(`DROP OWNED BY ${escapeIdentifier(broken.login)}`);
    await t.pg.admin.query(`DROP ROLE ${escapeIdentifier(broken.login)}`);
    const started = Date.now();
    const handle = await t.rig.client.workflow.start('rotateFleet', {
      args: [
        {
          selector: { labels: { team: 'orders' } },
          concurrency: 5,
          rotation: { graceMs: 0, drainTimeoutMs: 0 },
        },
      ],
      taskQueue: t.rig.taskQueue,
      workflowId: `fleet/test-${Date.now()}`,
    });
    const summary = (await handle.result()) as FleetSummary;
    console.log(`fleet of 20 rotated in ${Date.now() - started} ms`);
    expect(summary.total).toBe(20);
    expect(summary.rotated).toHaveLength(19);
    expect(summary.failed).toEqual([
      { credentialId: broken.id, error: expect.stringMatching(/does not exist|ConfigError/) },
    ]);
    for (const a of apps.filter((x) => x !== broken)) {
      expect((await t.rig.store.getVersion(a.id, 'CURRENT'))?.version).toBe(2);
    }
  });

  it('cancelling a fleet stops launching, leaves running rotations alone, does not continue, and says cancelled', async () => {
    const apps: Array<Awaited<ReturnType<typeof addPgApp>>> = [];
    for (let i = 0; i < 6; i++)
      apps.push(await addPgApp(t.rig, t.pg, adminId, `fc${i}`, { labels: { team: 'cancel' } }));
    const handle = await t.rig.client.workflow.start('rotateFleet', {
      args: [
        {
          selector: { labels: { team: 'cancel' } },
          concurrency: 2,
          rotation: { graceMs: 600_000, drainTimeoutMs: 0, consumerDiscoveryMs: 0 },
        },
      ],
      taskQueue: t.rig.taskQueue,
      workflowId: `fleet/cancel-${Date.now()}`,
    });
    // Two rotations reach grace (they hold their lanes); the fleet is cancelled then.
    const inGrace = async () => {
      const phases = await Promise.all(
        apps.map(async (a) => {
          const d = await t.rig.client.workflow
            .getHandle(rotationWorkflowId(a.id))
            .describe()
            .catch(() => undefined);
          return (d?.memo?.status as { phase?: string } | undefined)?.phase;
        }),
      );
      return phases.filter((p) => p === 'grace').length === 2;
    };
    await eventually(inGrace);
    await handle.cancel();
    const summary = (await handle.result()) as FleetSummary;
    expect(summary.cancelled).toBe(true);
    expect(summary.counts).toMatchObject({ leftRunning: 2, notStarted: 4, rotated: 0, failed: 0 });
    expect(summary.leftRunning).toHaveLength(2);
    // The fleet ended in this run: no continue-as-new.
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    // The running rotations were not cancelled (that would roll them back): still in grace.
    for (const id of summary.leftRunning) {
      const h = t.rig.client.workflow.getHandle(rotationWorkflowId(id));
      expect(((await h.describe()).memo?.status as { phase: string }).phase).toBe('grace');
      await h.executeUpdate('finishGrace', { args: [{}] });
      expect(((await h.result()) as { outcome: string }).outcome).toBe('rotated');
    }
    // The others never started.
    const untouched = apps.filter((a) => !summary.leftRunning.includes(a.id));
    for (const a of untouched) expect((await t.rig.store.getVersion(a.id, 'CURRENT'))?.version).toBe(1);
  });
});
