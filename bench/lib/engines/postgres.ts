/**
 * PostgreSQL for the workload: RotatingPgPool reading `SELECT ... WHERE id = $1`
 * from a table of 100 items, on the scratch database of ../pg-fixture.
 */
import { escapeIdentifier, escapeLiteral, type PoolClient, type PoolConfig } from 'pg';
import { RotatingPgPool } from '../../../src/consumer/pg-pool';
import { services } from '../../../test/helpers/services';
import { createPgFixture } from '../pg-fixture';
import {
  rotatingOptions,
  workloadClient,
  type EngineFixture,
  type OpenClient,
  type WorkloadEngine,
} from './types';

/** Rotating pg pools on `pg` (host, port, database) reading `table` (quoted; ids 1..100). */
export function openPg(pg: Omit<PoolConfig, 'user' | 'password'>, table: string): OpenClient {
  const sql = `SELECT id, payload FROM ${table} WHERE id = $1`;
  return async (source, o) => {
    const pool = await RotatingPgPool.create({
      ...rotatingOptions(source, o),
      pool: { max: o.poolMax, idleTimeoutMillis: 30_000, ...pg },
    });
    return workloadClient(pool, {
      read: async (id) => void (await pool.query(sql, [id])),
      async session(body) {
        const client: PoolClient = await pool.connect();
        let failed: unknown;
        try {
          await body(async (id) => void (await client.query(sql, [id])));
        } catch (err) {
          failed = err;
          throw err;
        } finally {
          client.release(failed instanceof Error ? failed : undefined);
        }
      },
      close: () => pool.end(),
    });
  };
}

async function setup(): Promise<EngineFixture> {
  const fx = await createPgFixture();
  const db = fx.admin;
  const where = { host: services.postgres.host, port: services.postgres.port, database: fx.database };
  const terminate = async (role: string) => {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE usename = $1`,
      [role],
    );
    return rows[0]?.n ?? 0;
  };
  return {
    engine: 'postgres',
    where,
    admin: { username: services.postgres.user, password: services.postgres.password },
    login: fx.login,
    password: fx.password,
    open: openPg(where, fx.table),
    async createLike(role, pw) {
      await db.query(`CREATE ROLE ${escapeIdentifier(role)} LOGIN PASSWORD ${escapeLiteral(pw)}`);
      await fx.grantApp(role);
    },
    async dropLogin(role) {
      const ended = await terminate(role);
      await db.query(`DROP OWNED BY ${escapeIdentifier(role)}`);
      await db.query(`DROP ROLE ${escapeIdentifier(role)}`);
      return ended + (await terminate(role)); // sessions that logged in between terminate and drop
    },
    async setPassword(role, pw) {
      await db.query(`ALTER ROLE ${escapeIdentifier(role)} PASSWORD ${escapeLiteral(pw)}`);
    },
    async sessionsOf(role) {
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`,
        [role],
      );
      return rows[0]?.n ?? 0;
    },
    cleanup: () => fx.cleanup(),
  };
}

export const postgresWorkload: WorkloadEngine = {
  name: 'postgres',
  strategies: ['dual-user'],
  setup,
};
