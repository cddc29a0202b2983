/** `fleet rotate`: many credentials, bounded concurrency, one fleet workflow. */
import type { Command } from 'commander';
import type { FleetInput } from '../../shared/types';
import { rotateFleet } from '../../workflows/rotate-fleet';
import { withClient } from '../context';
import { CliError, EXIT } from '../exit-codes';
import { duration, positiveInt } from '../options';

interface FleetRotateOptions {
  ids?: string;
  engine?: string;
  label?: string[];
  expiringWithinDays?: number;
  concurrency: number;
  grace?: number;
  wait?: boolean;
}

export function registerFleetCommands(program: Command): void {
  program
    .command('fleet')
    .description('rotate many credentials with bounded concurrency')
    .command('rotate')
    .option('--ids <ids>', 'comma-separated credential ids')
    .option('--engine <engine>', 'only this engine')
    .option('--label <k=v...>', 'label selector (repeatable)', (v, acc: string[] = []) => [...acc, v])
    .option('--expiring-within-days <n>', 'only credentials expiring soon', (v) => positiveInt(v))
    .option('--concurrency <n>', 'rotations at once', (v) => positiveInt(v), 5)
    .option('--grace <duration>', 'grace period of each rotation', duration)
    .option('--wait', 'wait for the summary')
    .action(async (opts: FleetRotateOptions) => {
      const input = fleetInput(opts);
      await withClient(async (client, cfg) => {
        const handle = await client.workflow.start(rotateFleet, {
          args: [input],
          taskQueue: cfg.temporal.taskQueue,
          workflowId: `fleet/${new Date().toISOString()}`,
        });
        console.log(`started ${handle.workflowId}`);
        if (!opts.wait) return;
        const summary = await handle.result();
        console.log(JSON.stringify(summary, null, 2));
        if (summary.counts.failed > 0 || summary.cancelled) process.exitCode = EXIT.notRotated;
      });
    });
}

function fleetInput(opts: FleetRotateOptions): FleetInput {
  const labels = Object.fromEntries(
    (opts.label ?? []).map((kv) => {
      const i = kv.indexOf('=');
      if (i <= 0) throw new CliError(`--label expects key=value, got "${kv}"`, EXIT.usage);
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
  return {
    selector: {
      ids: opts.ids ? String(opts.ids).split(',').filter(Boolean) : undefined,
      engine: opts.engine as FleetInput['selector']['engine'],
      labels: Object.keys(labels).length ? labels : undefined,
      expiringWithinDays: opts.expiringWithinDays,
    },
    concurrency: opts.concurrency,
    rotation: opts.grace === undefined ? undefined : { graceMs: opts.grace },
  };
}
