import type { Command } from 'commander';
import { runWorker } from '../../worker';

/** `db-rotator worker`: runs a worker in this process until SIGTERM/SIGINT (then exits 0). */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description(
      'run a worker (configuration from ROTATOR_CONFIG and the environment; /healthz and /readyz on ROTATOR_HEALTH_PORT)',
    )
    .action(async () => {
      await runWorker();
    });
}
