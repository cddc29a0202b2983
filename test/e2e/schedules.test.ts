/**
 * Schedules on the real dev server, created through the CLI: an "every N
 * days" schedule's next run is N days after the credential's import (plus at
 * most the jitter), not wherever the epoch-aligned interval happens to fall,
 * and `schedule list` shows it.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/client';
import { rotationScheduleId } from '../../src/schedules';
import { createRotationRig, uniqueCredentialId, type RotationRig } from '../helpers/rotation';
import { devServerEnv } from '../helpers/temporal';
import { runCli } from '../helpers/cli';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await devServerEnv();
});
afterAll(async () => {
  await env?.teardown();
});

describe('rotation schedules (dev server)', () => {
  let rig: RotationRig;
  const created: string[] = [];
  const savedEnv = { ...process.env };

  beforeEach(async () => {
    rig = await createRotationRig(env);
    Object.assign(process.env, rig.env);
  });
  afterEach(async () => {
    for (const id of created.splice(0))
      await rig.client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    process.env = { ...savedEnv };
    await rig?.close();
  });

  const cli = (...args: string[]) => runCli(args, rig.env);

  /**
   * A credential whose policy rotates it every `days` days, imported now, and its schedule
   * created through the CLI with `jitter`; returns its id, import time and schedule.
   */
  async function scheduled(days: number, jitter: string) {
    const id = uniqueCredentialId('sched');
    await rig.addCredential(
      { id, engine: 'postgres', host: '127.0.0.1', port: 5432, policy: { rotateEveryDays: days } },
      { username: 'app', password: 'not-used-Pw1' },
    );
    const importedAt = Date.parse((await rig.store.getVersion(id, 'CURRENT'))!.updatedAt);
    expect((await cli('schedule', 'create', id, '--jitter', jitter)).code).toBe(EXIT.ok);
    created.push(rotationScheduleId(id));
    const d = await rig.client.schedule.getHandle(rotationScheduleId(id)).describe();
    return { id, importedAt, d };
  }

  it('every 30 days: the first run is 30 days after the import, with jitter; schedule list shows it', async () => {
    const { id, importedAt, d } = await scheduled(30, '2h');
    const next = d.info.nextActionTimes[0]!.getTime();
    const due = Math.ceil((importedAt + 30 * DAY_MS) / 1000) * 1000;
    expect(next).toBeGreaterThanOrEqual(due);
    expect(next).toBeLessThanOrEqual(due + 2 * HOUR_MS);
    // and every 30 days after that
    const second = d.info.nextActionTimes[1]!.getTime();
    expect(second).toBeGreaterThanOrEqual(due + 30 * DAY_MS);
    expect(second).toBeLessThanOrEqual(due + 30 * DAY_MS + 2 * HOUR_MS);

    const list = await cli('schedule', 'list');
    const line = list.out.split('\n').find((l) => l.startsWith(`${rotationScheduleId(id)}\t`));
    expect(line).toContain(`next run ${new Date(next).toISOString()} (+ up to 2h jitter)`);
    expect(line).toContain(`first run ${new Date(due).toISOString()}`);
  });

  it("the policy's rotateEveryDays is the default period", async () => {
    const { importedAt, d } = await scheduled(7, '0s');
    expect(d.info.nextActionTimes[0]!.getTime()).toBe(Math.ceil((importedAt + 7 * DAY_MS) / 1000) * 1000);
  });
});
