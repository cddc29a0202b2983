import { vi } from 'vitest';
import { main } from '../../src/client';

export interface CliRun {
  code: number;
  /** What the command printed with console.log, one call a line. */
  out: string;
  /** What it printed with console.error. */
  err: string;
}

/**
 * Runs the CLI in-process, as `db-rotator ...args` with `env` added to the process environment
 * for the call (a rig's store, keys and task queue; ROTATOR_ACTOR), and returns its exit code and
 * output. The environment, console and process.exitCode are as they were afterwards.
 */
export async function runCli(env: Record<string, string>, ...args: string[]): Promise<CliRun> {
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
