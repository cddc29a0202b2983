/** Sessions of a login as the server sees them (pg_stat_activity), excluding our own admin backends. */
import { escapeLiteral } from 'pg';
import { TransientError } from '../../errors';
import type { SessionInfo } from '../types';
import { NOT_EXECUTED, type NotExecuted } from '../recording';
import type { PgConnector } from './sql';

const SESSION_FILTER = `usename = $1 AND pid <> pg_backend_pid() AND NOT (pid = ANY($2::int[]))
  AND backend_type IN ('client backend', 'walsender')`;

const DRAIN_ATTEMPTS = 6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function listSessions(db: PgConnector, login: string): Promise<SessionInfo[]> {
  const rows = await db.query(
    db.homeDatabase,
    `SELECT pid, usename, host(client_addr) AS client_addr, state,
            extract(epoch FROM now() - backend_start)::float8 AS age
       FROM pg_stat_activity WHERE ${SESSION_FILTER} ORDER BY backend_start`,
    [login, [...db.ownPids]],
    `listing sessions of "${login}"`,
  );
  return rows.map((r) => ({
    id: String(r.pid),
    username: String(r.usename),
    ...(r.client_addr ? { clientAddress: String(r.client_addr) } : {}),
    ...(r.age != null ? { ageSeconds: Math.round(Number(r.age)) } : {}),
    ...(r.state ? { state: String(r.state) } : {}),
  }));
}

/** Terminates every session of `login` and waits (up to ~5 s) until they are gone; returns how many it ended. */
export async function endSessions(db: PgConnector, login: string): Promise<number> {
  const ended = await terminate(db, login);
  return ended === NOT_EXECUTED ? noteOpenSessions(db, login) : ended;
}

/** Ends the login's sessions until none remain; TransientError if some keep coming back. */
export async function drainSessions(db: PgConnector, login: string): Promise<void> {
  for (let attempt = 1; attempt <= DRAIN_ATTEMPTS; attempt++) {
    if (attempt > 1 && (await listSessions(db, login)).length === 0) return;
    if ((await terminate(db, login)) === NOT_EXECUTED) {
      // Recorded, not done: nothing to wait for; say who would be ended.
      await noteOpenSessions(db, login);
      return;
    }
  }
  const left = (await listSessions(db, login)).length;
  if (left > 0) {
    throw new TransientError(
      `${left} sessions of "${login}" remain after ${DRAIN_ATTEMPTS} attempts to end them`,
    );
  }
}

/**
 * Terminates the sessions (recorded with the login as a literal, run with our
 * own backends excluded) and waits until they are gone; pg_terminate_backend
 * only signals the backend.
 */
async function terminate(db: PgConnector, login: string): Promise<number | NotExecuted> {
  const context = `ending sessions of "${login}"`;
  const reply = await db.writer.write(
    {
      database: db.homeDatabase,
      statements: [
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${escapeLiteral(login)}`,
      ],
      send: async () => {
        const rows = await db.query(
          db.homeDatabase,
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS ended FROM pg_stat_activity WHERE ${SESSION_FILTER}`,
          [login, [...db.ownPids]],
          context,
        );
        return Number(rows[0]?.ended ?? 0);
      },
    },
    context,
  );
  if (reply === NOT_EXECUTED) return reply;
  const ended = Number(reply);
  for (let i = 0; i < 50 && ended > 0; i++) {
    if ((await listSessions(db, login)).length === 0) break;
    await sleep(100);
  }
  return ended;
}

/** The sessions a recorded termination would end, as a note; returns how many are open. */
async function noteOpenSessions(db: PgConnector, login: string): Promise<number> {
  const open = (await listSessions(db, login)).length;
  if (open > 0) db.writer.note(`${open} session(s) of "${login}" are open now; they would be ended`);
  return open;
}
