/**
 * A scratch PostgreSQL database with an application login for the workload:
 * schema `zd`, table `zd.items` (100 rows) readable by the login. Used by
 * the bench and scripts/workload.ts; dropped by cleanup().
 */
import { randomBytes } from 'node:crypto';
import { Client, escapeIdentifier, escapeLiteral } from 'pg';

export interface PgAdmin {
  host: string;
  port: number;
  user: string;
  password: string;
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
  /** Grants `login` what the application login has (the "same grants" a naive rotation gives a new user). */
  grantApp(login: string): Promise<void>;
  cleanup(): Promise<void>;
}

async function connect(admin: PgAdmin, database: string): Promise<Client> {
  const c = new Client({
    host: admin.host,
    port: admin.port,
    user: admin.user,
    password: admin.password,
    database,
  });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

export async function createPgFixture(admin: PgAdmin, name = 'zd'): Promise<PgFixture> {
  const suffix = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const database = `${name}_${suffix}`;
  const prefix = `${name}_${suffix}_`;
  const login = `${prefix}app`;
  const password = randomBytes(18).toString('base64url');
  const root = await connect(admin, 'postgres');
  await root.query(`CREATE DATABASE ${escapeIdentifier(database)}`);
  const db = await connect(admin, database);
  await db.query(`CREATE ROLE ${escapeIdentifier(login)} LOGIN PASSWORD ${escapeLiteral(password)}`);
  await db.query(`CREATE SCHEMA zd`);
  await db.query(`CREATE TABLE zd.items (id int PRIMARY KEY, payload text NOT NULL)`);
  await db.query(`INSERT INTO zd.items SELECT g, md5(g::text) FROM generate_series(1, 100) g`);
  const grantApp = async (role: string) => {
    const r = escapeIdentifier(role);
    await db.query(`GRANT CONNECT ON DATABASE ${escapeIdentifier(database)} TO ${r}`);
    await db.query(`GRANT USAGE ON SCHEMA zd TO ${r}`);
    await db.query(`GRANT SELECT ON zd.items TO ${r}`);
  };
  await grantApp(login);
  return {
    database,
    prefix,
    login,
    password,
    table: 'zd.items',
    admin: db,
    grantApp,
    async cleanup() {
      await db.end().catch(() => undefined);
      try {
        const { rows } = await root.query<{ rolname: string }>(
          `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`,
          [prefix],
        );
        await root.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(database)} WITH (FORCE)`);
        for (const { rolname } of rows) {
          await root.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [
            rolname,
          ]);
          await root.query(`DROP ROLE IF EXISTS ${escapeIdentifier(rolname)}`).catch(() => undefined);
        }
      } finally {
        await root.end();
      }
    },
  };
}

/** Sessions of a login right now (server's view). */
export async function countSessions(admin: Client, login: string): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`,
    [login],
  );
  return rows[0]?.n ?? 0;
}
