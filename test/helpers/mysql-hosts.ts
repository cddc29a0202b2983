/**
 * Host variants of one MySQL/MariaDB login (issue 13): 'app'@'%' and
 * 'app'@'localhost' with different privileges, and what the server says of
 * each variant. Shared by the engine test and the whole-rotation test.
 */
import { escape, type Connection } from 'mysql2/promise';
import type { MysqlNamespace } from './mysql';

export const HOSTS = ['%', 'localhost'];

/** Creates `app` at both hosts with `password`: SELECT on t1 at '%', SELECT, INSERT on t2 at 'localhost'. */
export async function createHostVariants(my: MysqlNamespace, password: string): Promise<string> {
  const app = await my.createLogin('app', password, '', '%');
  await my.createLogin('app', password, '', 'localhost');
  const db = my.database;
  await my.admin.query(`CREATE TABLE \`${db}\`.t1 (id int)`);
  await my.admin.query(`CREATE TABLE \`${db}\`.t2 (id int)`);
  await my.admin.query(`GRANT SELECT ON \`${db}\`.t1 TO ${escape(app)}@'%'`);
  await my.admin.query(`GRANT SELECT, INSERT ON \`${db}\`.t2 TO ${escape(app)}@'localhost'`);
  return app;
}

/** The password hashes an account accepts (SHOW CREATE USER lists each), sorted. */
export async function hashes(admin: Connection, user: string, host: string): Promise<string[]> {
  const [rows] = await admin.query(`SHOW CREATE USER ${escape(user)}@${escape(host)}`);
  const text = Object.values((rows as Record<string, string>[])[0]!)[0]!;
  return [...text.matchAll(/\*[0-9A-F]{40}/g)].map((m) => m[0]).sort();
}

/** The server's native hash of a password. */
export async function hashOf(admin: Connection, password: string): Promise<string> {
  const [rows] = await admin.query('SELECT PASSWORD(?) AS h', [password]);
  return (rows as Array<{ h: string }>)[0]!.h;
}

/** SHOW GRANTS of one variant, without any IDENTIFIED BY part. */
export async function grants(admin: Connection, user: string, host: string): Promise<string[]> {
  const [rows] = await admin.query(`SHOW GRANTS FOR ${escape(user)}@${escape(host)}`);
  return (rows as Record<string, string>[]).map((r) => Object.values(r)[0]!.replace(/ IDENTIFIED BY .*/, ''));
}
