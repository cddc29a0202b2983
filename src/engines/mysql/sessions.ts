/**
 * Sessions of a user, from the server's processlist. The processlist names
 * the user, not the account: sessions of 'app'@'a' and 'app'@'b' look the
 * same. The admin connection itself is always skipped.
 */
import { escape } from 'mysql2/promise';
import { drainSessionsOf, endSessionsOf, type SessionEnder } from '../drain';
import { NOT_EXECUTED } from '../recording';
import type { SessionInfo } from '../types';
import { ER_NO_SUCH_THREAD, hasErrno, type MysqlConnector } from './connection';

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
export function endUserSessions(db: MysqlConnector, user: string): Promise<number> {
  return endSessionsOf(ender(db, user));
}

/** Ends sessions until none remain; TransientError if some keep coming back. */
export function drainUser(db: MysqlConnector, user: string): Promise<void> {
  return drainSessionsOf(ender(db, user));
}

/**
 * One KILL CONNECTION per session found, through the writer. Which sessions
 * exist is only known when it runs, so a dry run records the rule and notes
 * the sessions open now.
 */
function ender(db: MysqlConnector, user: string): SessionEnder {
  return {
    name: escape(user),
    open: async () => (await listUserSessions(db, user)).length,
    signal: async () => {
      const reply = await db.writer.write(
        {
          statements: [`KILL CONNECTION <id> -- for each session of ${escape(user)} in the processlist`],
          send: () => killSessions(db, user),
        },
        `ending sessions of ${escape(user)}`,
      );
      return reply === NOT_EXECUTED ? reply : Number(reply);
    },
    note: () => noteOpenSessions(db, user),
  };
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
