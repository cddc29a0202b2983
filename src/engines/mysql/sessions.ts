/**
 * Sessions of a user, from the server's processlist. The processlist names
 * the user, not the account: sessions of 'app'@'a' and 'app'@'b' look the
 * same. The admin connection itself is always skipped.
 */
import { escape } from 'mysql2/promise';
import { TransientError } from '../../errors';
import { NOT_EXECUTED, type NotExecuted } from '../recording';
import type { SessionInfo } from '../types';
import { ER_NO_SUCH_THREAD, hasErrno, type MysqlConnector } from './connection';

const DRAIN_ATTEMPTS = 6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function listUserSessions(db: MysqlConnector, user: string): Promise<SessionInfo[]> {
  const rows = await db.query(
    `SELECT ID AS id, USER AS user, HOST AS host, COMMAND AS command, TIME AS time, STATE AS state
       FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID() ORDER BY ID`,
    [user],
    `listing sessions of ${escape(user)}`,
  );
  return rows.map((r) => ({
    id: String(r.id),
    username: String(r.user),
    ...(r.host ? { clientAddress: String(r.host) } : {}),
    ...(r.time != null ? { ageSeconds: Number(r.time) } : {}),
    state: [r.command, r.state].filter((s) => s != null && s !== '').join(': '),
  }));
}

/** KILL CONNECTION for each session of `user`; waits (up to 5 s) until they are gone. */
export async function endUserSessions(db: MysqlConnector, user: string): Promise<number> {
  const ended = await killAll(db, user);
  return ended === NOT_EXECUTED ? noteOpenSessions(db, user) : ended;
}

/** Ends sessions until none remain; TransientError if some keep coming back. */
export async function drainUser(db: MysqlConnector, user: string): Promise<void> {
  for (let attempt = 1; attempt <= DRAIN_ATTEMPTS; attempt++) {
    if (attempt > 1 && (await listUserSessions(db, user)).length === 0) return;
    if ((await killAll(db, user)) === NOT_EXECUTED) {
      // Recorded, not done: nothing to wait for; say who would be ended.
      await noteOpenSessions(db, user);
      return;
    }
  }
  const left = (await listUserSessions(db, user)).length;
  if (left > 0) {
    throw new TransientError(
      `${left} sessions of ${escape(user)} remain after ${DRAIN_ATTEMPTS} attempts to end them`,
    );
  }
}

/**
 * One KILL CONNECTION per session found, then waits until they are gone (KILL
 * only flags the thread; it leaves the processlist when it notices). Which
 * sessions exist is only known when it runs, so a dry run records the rule.
 */
async function killAll(db: MysqlConnector, user: string): Promise<number | NotExecuted> {
  const reply = await db.writer.write(
    {
      statements: [`KILL CONNECTION <id> -- for each session of ${escape(user)} in the processlist`],
      send: () => killSessions(db, user),
    },
    `ending sessions of ${escape(user)}`,
  );
  if (reply === NOT_EXECUTED) return reply;
  const ended = Number(reply);
  for (let i = 0; i < 50 && ended > 0; i++) {
    if ((await listUserSessions(db, user)).length === 0) break;
    await sleep(100);
  }
  return ended;
}

async function killSessions(db: MysqlConnector, user: string): Promise<number> {
  let ended = 0;
  for (const s of await listUserSessions(db, user)) {
    const id = Number(s.id);
    if (!Number.isSafeInteger(id)) continue;
    try {
      await db.run([`KILL CONNECTION ${id}`], `ending session ${id} of ${escape(user)}`);
      ended++;
    } catch (err) {
      if (!hasErrno(err, ER_NO_SUCH_THREAD)) throw err; // already gone
    }
  }
  return ended;
}

/** The sessions open now, as a note (which exist when the step really runs is only known then). */
async function noteOpenSessions(db: MysqlConnector, user: string): Promise<number> {
  const sessions = await listUserSessions(db, user);
  if (sessions.length > 0) {
    db.writer.note(
      `${sessions.length} session(s) of ${escape(user)} are open now (${sessions.map((s) => s.id).join(', ')}); they would be ended`,
    );
  }
  return sessions.length;
}
