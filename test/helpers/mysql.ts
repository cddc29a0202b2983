import { createConnection, escape, escapeId, type Connection } from 'mysql2/promise';
import { services, sessions, testTls, uniqueSuffix, waitForService } from './services';

export interface MysqlNamespace {
  /** A fresh database, dropped by cleanup(). */
  database: string;
  /** Prefix for account and role names of this test; every one starting with it is dropped by cleanup(). */
  prefix: string;
  /** Admin connection (no default database). */
  admin: Connection;
  /** Creates the account prefix + name @ host with a password; returns the user name. */
  createLogin(name: string, password: string, extra?: string, host?: string): Promise<string>;
  /** Creates the role prefix + name; returns its name. */
  createRole(name: string): Promise<string>;
  /** Creates another database named database + suffix, dropped by cleanup(). */
  createDatabase(suffix: string): Promise<string>;
  /** A connection as `user`, closed by cleanup(). */
  connectAs(user: string, password: string, database?: string): Promise<Connection>;
  cleanup(): Promise<void>;
}

export async function mysqlConnect(
  user = services.mysql.user,
  password = services.mysql.password,
  database?: string,
): Promise<Connection> {
  const c = await createConnection({
    host: services.mysql.host,
    port: services.mysql.port,
    user,
    password,
    charset: 'utf8mb4',
    ssl: testTls(services.mysql.host) as never,
    ...(database ? { database } : {}),
  });
  c.on('error', () => undefined);
  return c;
}

/** Waits for MySQL/MariaDB (started by scripts/services.sh up). */
export function waitForMysql(timeoutMs = 30_000): Promise<void> {
  return waitForService('MySQL/MariaDB', async () => (await mysqlConnect()).end(), timeoutMs);
}

/** A fresh database and account-name prefix per test on the real MySQL/MariaDB. */
export async function freshMysql(): Promise<MysqlNamespace> {
  const suffix = uniqueSuffix();
  const database = `t_${suffix}`;
  const prefix = `t_${suffix}_`;
  const admin = await mysqlConnect();
  await admin.query(`CREATE DATABASE ${escapeId(database)}`);
  const opened = sessions((c: Connection) => c.end());
  const databases = [database];
  return {
    database,
    prefix,
    admin,
    async createLogin(name, password, attrs = '', host = '%') {
      const user = prefix + name;
      await admin.query(
        `CREATE USER ${escape(user)}@${escape(host)} IDENTIFIED BY ${escape(password)} ${attrs}`,
      );
      return user;
    },
    async createRole(name) {
      const role = prefix + name;
      await admin.query(`CREATE ROLE ${escape(role)}`);
      return role;
    },
    async createDatabase(name) {
      const db = database + name;
      databases.push(db);
      await admin.query(`CREATE DATABASE ${escapeId(db)}`);
      return db;
    },
    connectAs: (user, password, db) => opened.track(mysqlConnect(user, password, db)),
    async cleanup() {
      await opened.closeAll();
      try {
        for (const db of databases) await admin.query(`DROP DATABASE IF EXISTS ${escapeId(db)}`);
        const [rows] = await admin.query(
          'SELECT User AS user, Host AS host, is_role AS isRole FROM mysql.user WHERE LEFT(User, CHAR_LENGTH(?)) = ?',
          [prefix, prefix],
        );
        for (const r of rows as { user: string; host: string; isRole: string }[]) {
          const [sessions] = await admin.query(
            'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()',
            [r.user],
          );
          for (const s of sessions as { id: number }[]) {
            await admin.query(`KILL CONNECTION ${Number(s.id)}`).catch(() => undefined);
          }
          if (r.isRole === 'Y') await admin.query(`DROP ROLE IF EXISTS ${escape(r.user)}`);
          else await admin.query(`DROP USER IF EXISTS ${escape(r.user)}@${escape(r.host)}`);
        }
      } finally {
        await admin.end().catch(() => undefined);
      }
    },
  };
}
