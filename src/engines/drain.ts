/**
 * Ending a login's sessions, for every engine that must (PostgreSQL, MySQL):
 * signal, wait until they are gone, repeat until none come back. A signal the
 * ChangeWriter recorded instead of sending (dry run) answers NOT_EXECUTED, and
 * then nothing is waited for (see ./recording.ts).
 */
import { TransientError } from '../errors';
import { NOT_EXECUTED, type NotExecuted } from './recording';

const DRAIN_ATTEMPTS = 6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface SessionEnder {
  /** Signals every session to end; how many were signalled, or NOT_EXECUTED when recorded. */
  signal(): Promise<number | NotExecuted>;
  /** How many sessions are open now. */
  open(): Promise<number>;
  /** After a recorded signal: tells who would be ended; returns how many are open. */
  note(): Promise<number>;
  /** The login, as error messages name it. */
  name: string;
}

/** Signals, then waits (up to ~5 s) until the signalled sessions are gone; returns how many were signalled. */
export async function endSessionsOf(ender: SessionEnder): Promise<number> {
  const ended = await signalAndWait(ender);
  return ended === NOT_EXECUTED ? ender.note() : ended;
}

/** Ends sessions until none remain; TransientError if some keep coming back. */
export async function drainSessionsOf(ender: SessionEnder): Promise<void> {
  for (let attempt = 1; attempt <= DRAIN_ATTEMPTS; attempt++) {
    if (attempt > 1 && (await ender.open()) === 0) return;
    if ((await signalAndWait(ender)) === NOT_EXECUTED) {
      // Recorded, not done: nothing to wait for; say who would be ended.
      await ender.note();
      return;
    }
  }
  const left = await ender.open();
  if (left > 0) {
    throw new TransientError(
      `${left} sessions of ${ender.name} remain after ${DRAIN_ATTEMPTS} attempts to end them`,
    );
  }
}

/** Ending only signals the session (pg_terminate_backend, KILL): it is gone when the server notices. */
async function signalAndWait(ender: SessionEnder): Promise<number | NotExecuted> {
  const ended = await ender.signal();
  if (ended === NOT_EXECUTED) return ended;
  for (let i = 0; i < 50 && ended > 0; i++) {
    if ((await ender.open()) === 0) break;
    await sleep(100);
  }
  return ended;
}
