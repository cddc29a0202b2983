/** Sessions of a login as the server sees them (pg_stat_activity), excluding our own admin backends. */
import { escapeLiteral } from 'pg';
import { TransientError } from '../../errors';
import type { SessionInfo } from '../types';
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
  if (db.dryRun) return recordEndSessions(db, login);
  const rows = await db.query(
    db.homeDatabase,
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS ended FROM pg_stat_activity WHERE ${SESSION_FILTER}`,
    [login, [...db.ownPids]],
    `ending sessions of "${login}"`,
  );
  const ended = Number(rows[0]?.ended ?? 0);
  // pg_terminate_backend only signals the backend.
  for (let i = 0; i < 50 && ended > 0; i++) {
    if ((await listSessions(db, login)).length === 0) break;
    await sleep(100);
  }
  return ended;
}

/** Ends the login's sessions until none remain; TransientError if some keep coming back. */
export async function drainSessions(db: PgConnector, login: string): Promise<void> {
  if (db.dryRun) {
    await recordEndSessions(db, login);
    return;
  }
  for (let attempt = 1; attempt <= DRAIN_ATTEMPTS; attempt++) {
    if ((await listSessions(db, login)).length === 0) return;
    await endSessions(db, login);
  }
  const left = (await listSessions(db, login)).length;
  if (left > 0) {
    throw new TransientError(
      `${left} sessions of "${login}" remain after ${DRAIN_ATTEMPTS} attempts to end them`,
    );
  }
}

/** Dry run: records the statement that ends the sessions and notes how many are open now. */
async function recordEndSessions(db: PgConnector, login: string): Promise<number> {
  const open = (await listSessions(db, login)).length;
  await db.execute(
    db.homeDatabase,
    [`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${escapeLiteral(login)}`],
    `ending sessions of "${login}"`,
  );
  if (open > 0) db.dryRun?.note(`${open} session(s) of "${login}" are open now; they would be ended`);
  return open;
}
