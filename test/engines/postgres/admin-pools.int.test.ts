/**
 * Admin connections are pooled across engine objects (one per activity), but
 * never across admin passwords: after the admin's password is rotated, no
 * session that logged in with the old one is used again, and shutdown closes
 * every pool.
 */
import { escapeIdentifier, escapeLiteral } from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { closeSharedConnections } from '../../../src/engines';
import { createPostgresEngine, type PostgresEngine } from '../../../src/engines/postgres';
import { adminPoolCount } from '../../../src/engines/postgres/admin-pools';
import { PgConnector } from '../../../src/engines/postgres/sql';
import { ConfigError } from '../../../src/errors';
import { generatePassword } from '../../../src/engines/password';
import { adminConnection } from '../../helpers/engines';
import { freshPg, type PgNamespace } from '../../helpers/pg';
import { eventually } from '../../helpers/pg-rig';

let ns: PgNamespace | undefined;
afterEach(async () => {
  await closeSharedConnections();
  await ns?.cleanup();
  ns = undefined;
});

/** Admin work through a new engine object, closed afterwards (as an activity does). */
async function oneActivity<T>(
  ns: PgNamespace,
  username: string,
  password: string,
  work: (engine: PostgresEngine) => Promise<T> = (e) => e.listSessions(`${ns.prefix}nobody`) as Promise<T>,
): Promise<T> {
  const engine = createPostgresEngine(
    adminConnection('postgres', { database: ns.database, admin: { username, password } }),
  );
  try {
    return await work(engine);
  } finally {
    await engine.close();
  }
}

/** A fresh database with a CREATEROLE admin login that one activity has used (its pool is open). */
async function usedAdmin() {
  ns = await freshPg();
  const password = generatePassword();
  const admin = await ns.createLogin('adm', password, 'CREATEROLE');
  await oneActivity(ns, admin, password);
  return { ns, admin, password, pooled: await rotatorBackends(ns, admin) };
}

/** Backends of `user` opened by the rotator (application_name db-rotator). */
async function rotatorBackends(ns: PgNamespace, user: string): Promise<number[]> {
  const { rows } = await ns.admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE usename = $1 AND application_name = 'db-rotator' ORDER BY pid`,
    [user],
  );
  return rows.map((r) => r.pid);
}

describe('PostgreSQL admin connection pools', () => {
  it('reuses the admin session between engines, never after the admin password changed', async () => {
    const { ns, admin, password: pwA, pooled: first } = await usedAdmin();
    expect(first).toHaveLength(1); // still open after the engine closed: pooled
    await oneActivity(ns, admin, pwA);
    expect(await rotatorBackends(ns, admin)).toEqual(first); // the next engine used it, no new login

    const pwB = generatePassword();
    await ns.admin.query(`ALTER ROLE ${escapeIdentifier(admin)} PASSWORD ${escapeLiteral(pwB)}`);
    await oneActivity(ns, admin, pwB);
    // The session that logged in with the old password is closed, the new password logged in afresh.
    const after = await eventually(async () => {
      const pids = await rotatorBackends(ns, admin);
      return pids.length === 1 && !first.includes(pids[0]!) && pids;
    }, 10_000);
    expect(after).toHaveLength(1);
    // And the old password is really tried against the server again: refused, not served from a pool.
    await expect(oneActivity(ns, admin, pwA)).rejects.toBeInstanceOf(ConfigError);
  });

  it('closes every pool on shutdown', async () => {
    const { ns, admin, pooled } = await usedAdmin();
    expect(pooled).toHaveLength(1);
    expect(adminPoolCount()).toBeGreaterThan(0);

    await closeSharedConnections();
    expect(adminPoolCount()).toBe(0);
    await eventually(async () => (await rotatorBackends(ns, admin)).length === 0, 10_000);
  });

  it('skips the pooled admin sessions of other engines when listing sessions', async () => {
    const { ns, admin, password } = await usedAdmin();
    const nobody = `${ns.prefix}nobody`;
    // Two at once: the pool holds two sessions, one of them idle while the next engine lists.
    await oneActivity(ns, admin, password, (e) =>
      Promise.all([e.listSessions(nobody), e.listSessions(nobody)]),
    );
    const pooled = await rotatorBackends(ns, admin);
    expect(pooled).toHaveLength(2);
    const listed = await oneActivity(ns, admin, password, (e) => e.listSessions(admin));
    expect(listed.filter((s) => pooled.includes(Number(s.id)))).toEqual([]);
  });

  it('closes a connection whose transaction failed instead of handing it to the next engine', async () => {
    const { ns, admin, password } = await usedAdmin();
    const conn = adminConnection('postgres', { database: ns.database, admin: { username: admin, password } });
    const db = new PgConnector(conn);
    try {
      const pidOf = async (run: (sql: string) => Promise<Array<Record<string, unknown>>>) =>
        Number((await run('SELECT pg_backend_pid() AS pid'))[0]!.pid);
      const ok = await db.transaction(ns.database, 'ok', async (c) =>
        pidOf(async (q) => (await c.query(q)).rows),
      );
      expect(await pidOf((q) => db.query(ns.database, q))).toBe(ok); // a good one is reused
      let failedPid = 0;
      await expect(
        db.transaction(ns.database, 'failing', async (c) => {
          failedPid = await pidOf(async (q) => (await c.query(q)).rows);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await pidOf((q) => db.query(ns.database, q))).not.toBe(failedPid);
      await eventually(async () => !(await rotatorBackends(ns, admin)).includes(failedPid), 10_000);
    } finally {
      await db.close();
    }
  });
});
