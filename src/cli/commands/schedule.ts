/** `schedule create|create-expiry-sweep|list|pause|unpause|trigger|delete`: periodic rotation through Temporal Schedules. */
import type { Command } from 'commander';
import type { ScheduleHandle } from '@temporalio/client';
import type { RotatorConfig } from '../../config';
import {
  createExpirySweepSchedule,
  createRotationSchedule,
  describeScheduleLine,
  firstRunAt,
  lastRotatedAt,
  rotationScheduleId,
} from '../../schedules';
import { withClient, withStore } from '../context';
import { duration, positiveInt } from '../options';

/** What `schedule <action> <credential>` does to the credential's schedule. */
const HANDLE_ACTIONS = [
  ['pause', (h: ScheduleHandle) => h.pause('paused from CLI')],
  ['unpause', (h: ScheduleHandle) => h.unpause('unpaused from CLI')],
  ['trigger', (h: ScheduleHandle) => h.trigger()],
  ['delete', (h: ScheduleHandle) => h.delete()],
] as const;

export function registerScheduleCommands(program: Command): void {
  const schedule = program.command('schedule').description('periodic rotation through Temporal Schedules');
  schedule
    .command('create <credential>')
    .option('--every-days <n>', "rotation period in days (default: the policy's rotateEveryDays)", (v) =>
      positiveInt(v),
    )
    .option('--jitter <duration>', 'random delay per run', duration)
    .option('--grace <duration>', 'grace period of each rotation', duration)
    .option('--paused', 'create it paused')
    .action(async (credentialId: string, opts) => {
      await withClient(async (client, cfg) => {
        // First run N days after the last rotation (or import), not aligned to the epoch.
        const { everyDays, firstRunAt } = await scheduleStart(cfg, credentialId, opts.everyDays);
        const handle = await createRotationSchedule(client, cfg, credentialId, {
          everyDays,
          firstRunAt,
          jitterMs: opts.jitter,
          rotation: opts.grace === undefined ? undefined : { graceMs: opts.grace },
          paused: opts.paused,
        });
        console.log(`schedule ${handle.scheduleId} created; first run ${firstRunAt.toISOString()}`);
      });
    });
  schedule
    .command('create-expiry-sweep')
    .description('daily: rotate every credential whose expiresAt is within N days')
    .option('--within-days <n>', 'days before expiry', (v) => positiveInt(v), 14)
    .action(async (opts) => {
      await withClient(async (client, cfg) => {
        const handle = await createExpirySweepSchedule(client, cfg, opts.withinDays);
        console.log(`schedule ${handle.scheduleId} created`);
      });
    });
  schedule.command('list').action(async () => {
    await withClient(async (client) => {
      for await (const s of client.schedule.list()) {
        if (!s.scheduleId.startsWith('rotation-schedule/')) continue;
        console.log(
          describeScheduleLine(s.scheduleId, await client.schedule.getHandle(s.scheduleId).describe()),
        );
      }
    });
  });
  for (const [name, act] of HANDLE_ACTIONS) {
    schedule.command(`${name} <credential>`).action(async (credentialId: string) => {
      await withClient(async (client) => {
        await act(client.schedule.getHandle(rotationScheduleId(credentialId)));
        console.log(`schedule ${rotationScheduleId(credentialId)}: ${name}`);
      });
    });
  }
}

/** The period (flag or the policy's rotateEveryDays) and first run of a credential's schedule. */
function scheduleStart(
  cfg: RotatorConfig,
  credentialId: string,
  everyDaysFlag: number | undefined,
): Promise<{ everyDays: number; firstRunAt: Date }> {
  return withStore(async (store) => {
    const def = await store.getDefinition(credentialId);
    const everyDays = everyDaysFlag ?? def.policy.rotateEveryDays;
    return { everyDays, firstRunAt: firstRunAt(await lastRotatedAt(store, credentialId), everyDays) };
  }, cfg);
}
