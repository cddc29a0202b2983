/**
 * Schedules on the real dev server, created through the CLI: an "every N
 * days" schedule's next run is N days after the credential's import (plus at
 * most the jitter), not wherever the epoch-aligned interval happens to fall,
 * and `schedule list` shows it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/client';
import { rotationScheduleId } from '../../src/schedules';
import { uniqueCredentialId } from '../helpers/rotation';
import { withRotationRig } from '../helpers/with-pg-rig';
import { runCli } from '../helpers/cli';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

describe('rotation schedules (dev server)', () => {
  const t = withRotationRig();
  const created: string[] = [];
  const savedEnv = { ...process.env };

  beforeEach(() => {
    Object.assign(process.env, t.rig.env);
  });
  afterEach(async () => {
    for (const id of created.splice(0))
      await t.rig.client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    process.env = { ...savedEnv };
  });

  const cli = (...args: string[]) => runCli(args, t.rig.env);

  /**
   * A credential whose policy rotates it every `days` days, imported now, and its schedule
   * created through the CLI with `jitter`; returns its id, import time and schedule.
   */
  async function scheduled(days: number, jitter: string) {
    const id = uniqueCredentialId('sched');
    await t.rig.addCredential(
      { id, engine: 'postgres', host: '127.0.0.1', port: 5432, policy: { rotateEveryDays: days } },
      { username: 'app', password: 'not-used-Pw1' },
    );
    const importedAt = Date.parse((await t.rig.store.getVersion(id, 'CURRENT'))!.updatedAt);
    expect((await cli('schedule', 'create', id, '--jitter', jitter)).code).toBe(EXIT.ok);
    created.push(rotationScheduleId(id));
    const d = await t.rig.client.schedule.getHandle(rotationScheduleId(id)).describe();
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
