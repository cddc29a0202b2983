import { InvalidArgumentError } from 'commander';
import { msToNumber } from '@temporalio/common/lib/time';

/**
 * A commander parser for durations: milliseconds as digits, or Temporal's
 * forms (90s, 15m, 24h, 7d). `examples` is what the error suggests.
 */
export function durationOption(examples = '90s, 15m, 24h, 7d'): (value: string) => number {
  return (value) => {
    try {
      const ms = /^\d+$/.test(value) ? Number(value) : msToNumber(value as never);
      if (!Number.isFinite(ms) || ms < 0) throw new Error();
      return ms;
    } catch {
      throw new InvalidArgumentError(`not a duration: "${value}" (examples: ${examples})`);
    }
  };
}

/** The duration parser of rotation options (grace, timeouts). */
export const duration = durationOption();

export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError(`expected a positive whole number, got "${v}"`);
  return n;
}
