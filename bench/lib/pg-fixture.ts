/**
 * A scratch PostgreSQL database with an application login for the
 * benchmarks and the workload: schema `zd`, table `zd.items` (100 rows)
 * readable by the login. Built on the tests' freshPg(), so tests and
 * benchmarks share one teardown (database and every role of its prefix).
 */
import { escapeIdentifier } from 'pg';
import type { Client } from 'pg';
import { freshPg } from '../../test/helpers/pg';

/** The PostgreSQL admin login of scripts/services.sh (its defaults when the env is not loaded). */
export function pgAdminFromEnv(env: NodeJS.ProcessEnv = process.env): {
  host: string;
  port: number;
  user: string;
  password: string;
} {
  return {
    host: env.PGHOST ?? '127.0.0.1',
    port: Number(env.PGPORT ?? 5432),
    user: env.ROTATOR_PG_ADMIN_USER ?? 'rotator_admin',
    password: env.ROTATOR_PG_ADMIN_PASSWORD ?? 'rotator_admin_pw',
  };
}

export interface PgFixture {
  database: string;
  /** Role name prefix: every role starting with it is dropped by cleanup(). */
  prefix: string;
  login: string;
  password: string;
  /** Quoted table name for the workload. */
  table: string;
  /** Admin client connected to `database`. */
  admin: Client;
  /**
   * Grants `login` what the application login has (the "same grants" a naive rotation gives a new user);
   * `table` (quoted, in schema zd) instead of zd.items for fleets: one table holds ~500 direct grantees at most.
   */
  grantApp(login: string, table?: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** `name` prefixes the database and role names (e.g. `bench_fleet`). */
export async function createPgFixture(name = 'zd'): Promise<PgFixture> {
  const ns = await freshPg(name);
  try {
    const password = `Init-${ns.prefix}Pw1`;
    const login = await ns.createLogin('app', password);
    const db = ns.admin;
    await db.query(`CREATE SCHEMA zd`);
    await db.query(`CREATE TABLE zd.items (id int PRIMARY KEY, payload text NOT NULL)`);
    await db.query(`INSERT INTO zd.items SELECT g, md5(g::text) FROM generate_series(1, 100) g`);
    const grantApp = async (role: string, table = 'zd.items') => {
      const r = escapeIdentifier(role);
      await db.query(`GRANT CONNECT ON DATABASE ${escapeIdentifier(ns.database)} TO ${r}`);
      await db.query(`GRANT USAGE ON SCHEMA zd TO ${r}`);
      await db.query(`GRANT SELECT ON ${table} TO ${r}`);
    };
    await grantApp(login);
    return {
      database: ns.database,
      prefix: ns.prefix,
      login,
      password,
      table: 'zd.items',
      admin: db,
      grantApp,
      cleanup: () => ns.cleanup(),
    };
  } catch (err) {
    await ns.cleanup().catch(() => undefined);
    throw err;
  }
}
