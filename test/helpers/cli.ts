import { vi } from 'vitest';
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
