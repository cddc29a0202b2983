/** Sessions of a login as the server sees them (pg_stat_activity), excluding our own admin backends. */
import { escapeLiteral } from 'pg';
import type { SessionInfo } from '../types';
import { drainSessionsOf, endSessionsOf, type SessionEnder } from '../drain';
import { NOT_EXECUTED } from '../recording';
import type { PgConnector } from './sql';

const SESSION_FILTER = `usename = $1 AND pid <> pg_backend_pid() AND NOT (pid = ANY($2::int[]))
  AND backend_type IN ('client backend', 'walsender')`;

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
export function endSessions(db: PgConnector, login: string): Promise<number> {
  return endSessionsOf(ender(db, login));
}

/** Ends the login's sessions until none remain; TransientError if some keep coming back. */
export function drainSessions(db: PgConnector, login: string): Promise<void> {
  return drainSessionsOf(ender(db, login));
}

/** pg_terminate_backend through the writer: recorded with the login as a literal, run with our own backends excluded. */
function ender(db: PgConnector, login: string): SessionEnder {
  const context = `ending sessions of "${login}"`;
  const open = async () => (await listSessions(db, login)).length;
  const terminate = async () => {
    const rows = await db.query(
      db.homeDatabase,
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS ended FROM pg_stat_activity WHERE ${SESSION_FILTER}`,
      [login, [...db.ownPids]],
      context,
    );
    return Number(rows[0]?.ended ?? 0);
  };
  return {
    name: `"${login}"`,
    open,
    signal: async () => {
      const statement = `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${escapeLiteral(login)}`;
      const reply = await db.writer.write(
        { database: db.homeDatabase, statements: [statement], send: terminate },
        context,
      );
      return reply === NOT_EXECUTED ? reply : Number(reply);
    },
    note: async () => {
      const n = await open();
      if (n > 0) db.writer.note(`${n} session(s) of "${login}" are open now; they would be ended`);
      return n;
    },
  };
}
