import { afterEach, beforeEach, vi } from 'vitest';
import { main } from '../../src/client';

export interface CliRun {
  code: number;
  /** What the CLI printed with console.log, one line per call. */
  out: string;
  /** What it printed with console.error. */
  err: string;
}

/**
 * Runs the CLI in this process (as `db-rotator …args`) and returns its exit
 * code and output. `env` is added to process.env for the run only;
 * process.exitCode is reset before and after.
 */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi
    .spyOn(console, 'error')
    .mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  process.exitCode = undefined;
  try {
    const code = await main(['node', 'db-rotator', ...args]);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    process.exitCode = undefined;
    process.env = saved;
    log.mockRestore();
    error.mockRestore();
  }
}

/**
 * For each test of the calling describe block: process.env points at the
 * rig (`rigEnv()`) as operator `actor`, and is restored after the test, with
 * any spies. Returns the in-process CLI run as that operator.
 */
export function cliAsOperator(
  rigEnv: () => Record<string, string>,
  actor: string,
): (...args: string[]) => Promise<CliRun> {
  const saved = { ...process.env };
  beforeEach(() => {
    Object.assign(process.env, rigEnv(), { ROTATOR_ACTOR: actor });
  });
  afterEach(() => {
    process.env = { ...saved };
    vi.restoreAllMocks();
  });
  return (...args) => runCli(args, { ...rigEnv(), ROTATOR_ACTOR: actor });
}
