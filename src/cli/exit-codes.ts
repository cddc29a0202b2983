import type { RotationView } from '../rotation-view';

/** Exit codes a script can rely on. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  notRotated: 3,
  conflict: 4,
  notFound: 5,
  /** A dry run found blockers: the rotation would not go through. */
  blocked: 6,
  /** The rotation failed, or its run was terminated, timed out or cancelled. */
  failed: 7,
  /** The rotation waits for an operator (`resolve`). */
  needsOperator: 8,
} as const;

/** The exit code that describes a rotation's state (status, history and rotate --wait). */
export function exitCodeFor(view: Pick<RotationView, 'outcome' | 'phase' | 'stuck'>): number {
  if (view.stuck) return EXIT.failed;
  if (view.phase === 'needs-operator') return EXIT.needsOperator;
  switch (view.outcome) {
    case undefined:
    case 'rotated':
    case 'planned':
      return EXIT.ok;
    case 'aborted':
    case 'rolled-back':
      return EXIT.notRotated;
    default:
      return EXIT.failed;
  }
}

/** A failure the CLI reports as `error: <message>` with its own exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Runs a local validation; its error becomes a usage error (nothing was sent). */
export function checked<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err), EXIT.usage);
  }
}
