import type { Command } from 'commander';
import { registerKeysCommand } from './keys-command';
import { registerWindowCommand } from './window';
import { registerWorkerCommand } from './worker-command';

/** Command groups that live in their own files (src/cli/), added to the CLI in one place. */
export function registerCommands(program: Command): void {
  registerWorkerCommand(program);
  registerKeysCommand(program);
  registerWindowCommand(program);
}
