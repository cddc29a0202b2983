/**
 * The `db-rotator` program: one commander program, each command group
 * registered from its own file in commands/, and one place that maps every
 * failure to a message and a stable exit code (exit-codes.ts).
 */
import { Command, CommanderError } from 'commander';
import { WorkflowNotFoundError } from '@temporalio/client';
import { RotatorError } from '../errors';
import { registerCodecServerCommand } from './commands/codec-server';
import { registerCredentialCommands } from './commands/credentials';
import { registerFleetCommands } from './commands/fleet';
import { registerHistoryCommand } from './commands/history';
import { registerKeysCommand } from './commands/keys';
import { registerOperatorCommands } from './commands/operator';
import { registerRotateCommands } from './commands/rotate';
import { registerScheduleCommands } from './commands/schedule';
import { registerStoreCommands } from './commands/store';
import { registerTargetCommands } from './commands/targets';
import { registerWindowCommand } from './commands/window';
import { registerWorkerCommand } from './commands/worker';
import { CliError, EXIT } from './exit-codes';

export function buildCli(): Command {
  const program = new Command('db-rotator')
    .description('Zero-downtime database credential rotation on Temporal')
    .exitOverride()
    .showHelpAfterError();
  // In this order in --help.
  registerRotateCommands(program);
  registerOperatorCommands(program);
  registerTargetCommands(program);
  registerCredentialCommands(program);
  registerHistoryCommand(program);
  registerScheduleCommands(program);
  registerFleetCommands(program);
  registerStoreCommands(program);
  registerCodecServerCommand(program);
  registerWorkerCommand(program);
  registerKeysCommand(program);
  registerWindowCommand(program);
  return program;
}

/** Runs the CLI and maps every failure to a message and a stable exit code. */
export async function main(argv = process.argv): Promise<number> {
  try {
    await buildCli().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    return exitCodeOfFailure(err);
  }
}

function exitCodeOfFailure(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (err instanceof CliError) {
    console.error(`error: ${err.message}`);
    return err.exitCode;
  }
  if (err instanceof WorkflowNotFoundError) {
    console.error('error: no rotation found for that credential');
    return EXIT.notFound;
  }
  if (err instanceof RotatorError) {
    console.error(`error: ${err.message}`);
    return err.code === 'UnknownCredentialError' ? EXIT.notFound : EXIT.error;
  }
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  return EXIT.error;
}
