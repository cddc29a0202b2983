/**
 * Dry-run recording as a seam around any engine's writes (Vault's middleware
 * pattern, applied where changes leave the engine). Each engine sends every
 * change through one connector method, and that method hands the change to a
 * ChangeWriter chosen once, when the engine is created from its connection
 * (`changeWriter(conn.dryRun, …)`): the real writer sends it, the recording
 * writer records it (secrets redacted by the engine's `show`, one line per
 * statement) and answers
 * NOT_EXECUTED. Engine methods never ask whether this is a dry run; they ask
 * the writer the few questions whose answer differs (below). The contract this
 * implements is DryRunRecorder's (./types.ts).
 */
import type { DryRunRecorder } from './types';

/** What a recorded change answers: it did not happen, so waits on its effect (drains) are skipped. */
export const NOT_EXECUTED: unique symbol = Symbol('not executed');
export type NotExecuted = typeof NOT_EXECUTED;

export interface ChangeWriter<C, R> {
  /** Sends `change` and answers the server's reply, or records it and answers NOT_EXECUTED. */
  write(change: C, context: string): Promise<R | NotExecuted>;
  /** Tells the operator something beyond the changes (a dry run's notes); a real run says nothing. */
  note(message: string): void;
  /**
   * Whether a login the server lacks stands in for one a recorded change would
   * have created: existing, with nothing granted. Never in a real run; always in
   * a dry run, because a rotation's steps run on separate recording engines
   * (apply, revoke) and the revoke engine never saw the CREATE of the new login.
   */
  plannedLogin(login: string): boolean;
  /**
   * Stored state a decision may rely on: `read()` in a real run; `unknown` in a
   * dry run, where an earlier step of the rotation that would change it was
   * recorded, not made (MySQL keep-only after add takes the full path).
   */
  storedOr<T>(read: () => T, unknown: T): T;
}

/** The writer for a connection: real without a recorder, recording with one. */
export function changeWriter<C, R>(
  recorder: DryRunRecorder | undefined,
  send: (change: C, context: string) => Promise<R>,
  show: (change: C) => string | string[],
): ChangeWriter<C, R> {
  if (!recorder) {
    return { write: send, note: () => undefined, plannedLogin: () => false, storedOr: (read) => read() };
  }
  return {
    write: (change) => {
      for (const line of ([] as string[]).concat(show(change))) recorder.record(line);
      return Promise.resolve(NOT_EXECUTED);
    },
    note: (message) => recorder.note(message),
    plannedLogin: () => true,
    storedOr: (_read, unknown) => unknown,
  };
}
