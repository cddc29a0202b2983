import { execFileSync } from 'node:child_process';
import { Client, escapeIdentifier, escapeLiteral } from 'pg';
import { services, testTls, uniqueSuffix, waitForService } from './services';

export interface PgNamespace {
  /** A fresh database owned by the admin, dropped by cleanup(). */
  database: string;
  /** Prefix for role names of this test; every role starting with it is dropped by cleanup(). */
  prefix: string;
  /** Admin client connected to `database`. */
  admin: Client;
  /** Admin client connected to a database, opened on demand and closed by cleanup(). */
  adminOn(database: string): Promise<Client>;
  /** Creates a LOGIN role named prefix + suffix with a password. */
  createLogin(suffix: string, password: string, extra?: string): Promise<string>;
  cleanup(): Promise<void>;
}

export async function pgConnect(
  database: string,
  user = services.postgres.user,
  password = services.postgres.password,
) {
  const c = new Client({
    host: services.postgres.host,
    port: services.postgres.port,
    user,
    password,
    database,
    ssl: testTls(services.postgres.host),
  });
  // A session the test ends on purpose (pg_terminate_backend) must not crash the run.
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** A fresh database and role prefix per test (or benchmark: `name`) on the real PostgreSQL. */
export async function freshPg(name = 't'): Promise<PgNamespace> {
  const suffix = uniqueSuffix();
  const database = `${name}_${suffix}`;
  const prefix = `${name}_${suffix}_`;
  const root = await pgConnect('postgres');
  await root.query(`CREATE DATABASE ${escapeIdentifier(database)}`);
  const admin = await pgConnect(database);
  const extra: Client[] = [];
  return {
    database,
    prefix,
    admin,
    async adminOn(db: string) {
      const c = await pgConnect(db);
      extra.push(c);
      return c;
    },
    async createLogin(name: string, password: string, attrs = '') {
      const role = prefix + name;
      await admin.query(
        `CREATE ROLE ${escapeIdentifier(role)} LOGIN PASSWORD ${escapeLiteral(password)} ${attrs}`,
      );
      return role;
    },
    async cleanup() {
      await Promise.all(extra.map((c) => c.end().catch(() => undefined)));
      await admin.end().catch(() => undefined);
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
          // Owned objects elsewhere (e.g. in postgres db) would block DROP ROLE.
          await root.query(`DROP OWNED BY ${escapeIdentifier(rolname)} CASCADE`).catch(() => undefined);
          await root.query(`DROP ROLE IF EXISTS ${escapeIdentifier(rolname)}`);
        }
      } finally {
        await root.end();
      }
    },
  };
}

/** The role that owns a relation (`schema.name`), as the database reports it. */
export async function ownerOf(c: Client, relation: string): Promise<string> {
  const { rows } = await c.query<{ o: string }>(
    `SELECT pg_get_userbyid(relowner) AS o FROM pg_class WHERE oid = $1::regclass`,
    [relation],
  );
  return rows[0]!.o;
}

/** Another engineer starts the services: waits (up to `timeoutMs`) until PostgreSQL answers pg_isready. */
export function waitForPostgres(timeoutMs = 30_000): Promise<void> {
  return waitForService(
    'PostgreSQL',
    async () => {
      execFileSync('pg_isready', ['-h', services.postgres.host, '-p', String(services.postgres.port)], {
        stdio: 'ignore',
      });
    },
    timeoutMs,
  );
}
