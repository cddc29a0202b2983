/**
 * MariaDB/MySQL for the workload: RotatingMysqlPool reading one of 100 items
 * by id, on a scratch database from test/helpers/mysql. Dual-password keeps
 * the account (two passwords during grace); dual-user adds a second account.
 */
import { escape, escapeId } from 'mysql2/promise';
import { RotatingMysqlPool } from '../../../src/consumer/mysql-pool';
import { freshMysql } from '../../../test/helpers/mysql';
import { services } from '../../../test/helpers/services';
import type { OpenClient } from './types';
import { rotatingOptions, workloadClient, type EngineFixture, type WorkloadEngine } from './types';

const SQL = 'SELECT id, payload FROM items WHERE id = ?';

/** Rotating mysql2 pools on `where` reading the fixture's items table. */
export function openMysql(where: { host: string; port: number; database: string }): OpenClient {
  return async (source, o) => {
    const pool = await RotatingMysqlPool.create({
      ...rotatingOptions(source, o),
      pool: { ...where, connectionLimit: o.poolMax },
    });
    return workloadClient(pool, {
      read: async (id) => void (await pool.execute(SQL, [id])),
      async session(body) {
        const conn = await pool.getConnection();
        try {
          await body(async (id) => void (await conn.execute(SQL, [id])));
        } finally {
          conn.release();
        }
      },
      close: () => pool.end(),
    });
  };
}

async function setup(): Promise<EngineFixture> {
  const ns = await freshMysql();
  const password = `Init-${ns.prefix}Pw1`;
  const login = await ns.createLogin('app', password);
  const items = `${escapeId(ns.database)}.items`;
  await ns.admin.query(`CREATE TABLE ${items} (id int PRIMARY KEY, payload varchar(64) NOT NULL)`);
  const rows = Array.from({ length: 100 }, (_, i) => [i + 1, `payload-${i + 1}`]);
  await ns.admin.query(`INSERT INTO ${items} (id, payload) VALUES ?`, [rows]);
  const grantApp = (user: string) => ns.admin.query(`GRANT SELECT ON ${items} TO ${escape(user)}@'%'`);
  await grantApp(login);
  const where = { host: services.mysql.host, port: services.mysql.port, database: ns.database };
  return {
    engine: 'mysql',
    where,
    admin: { username: services.mysql.user, password: services.mysql.password },
    login,
    password,
    open: openMysql(where),
    async createLike(user, pw) {
      await ns.admin.query(`CREATE USER ${escape(user)}@'%' IDENTIFIED BY ${escape(pw)}`);
      await grantApp(user);
    },
    async dropLogin(user) {
      const ended = await killSessions(ns.admin, user);
      await ns.admin.query(`DROP USER ${escape(user)}@'%'`);
      return ended + (await killSessions(ns.admin, user));
    },
    async setPassword(user, pw) {
      await ns.admin.query(`ALTER USER ${escape(user)}@'%' IDENTIFIED BY ${escape(pw)}`);
    },
    async sessionsOf(user) {
      const [rows] = await ns.admin.query(
        'SELECT count(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?',
        [user],
      );
      return Number((rows as Array<{ n: number }>)[0]?.n ?? 0);
    },
    cleanup: () => ns.cleanup(),
  };
}

async function killSessions(admin: Awaited<ReturnType<typeof freshMysql>>['admin'], user: string) {
  const [rows] = await admin.query('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?', [
    user,
  ]);
  for (const { id } of rows as Array<{ id: number }>) {
    await admin.query(`KILL CONNECTION ${Number(id)}`).catch(() => undefined); // already gone
  }
  return (rows as unknown[]).length;
}

export const mysqlWorkload: WorkloadEngine = {
  name: 'mysql',
  strategies: ['dual-password', 'dual-user'],
  setup,
};
