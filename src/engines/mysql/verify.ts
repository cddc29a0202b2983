/**
 * verifyLogin: a fresh connection as the login (never the admin one), to
 * the credential's database if it has one, `SELECT 1`, then the configured
 * checks inside START TRANSACTION READ ONLY (rolled back). Errors name the
 * server's error code; never the password.
 */
import { createConnection, escape } from 'mysql2/promise';
import { ConfigError, TransientError, VerificationError } from '../../errors';
import type { Secret, VerifyOptions } from '../types';
import { lostConnection } from '../transient';
import { assertVerifyCheck } from '../verify-checks';
import { errorCode, hasErrno, mapMysqlError, type MysqlConnector } from './connection';

export async function verifyMysqlLogin(
  db: MysqlConnector,
  user: string,
  secret: Secret,
  options: VerifyOptions = {},
): Promise<void> {
  const who = escape(user);
  let client;
  try {
    client = await createConnection(db.options(user, secret.password));
  } catch (err) {
    if (hasErrno(err, 1045)) throw new VerificationError(`login failed for ${who}: ${errorCode(err)}`);
    const mapped = mapMysqlError(err, `logging in as ${who}`, { secret: true, admin: false });
    if (mapped instanceof TransientError || mapped instanceof ConfigError) throw mapped;
    // Locked (4151/3118), expired (1862/1820), no access to the database (1044), ...
    throw new VerificationError(`login failed for ${who}: ${errorCode(err)}`);
  }
  client.on('error', () => undefined);
  try {
    await client.query('SELECT 1').catch((err: unknown) => {
      throw (
        lostConnection(mapMysqlError(err, `SELECT 1 as ${who}`, { secret: true, admin: false })) ??
        new VerificationError(`SELECT 1 failed for ${who}: ${errorCode(err)}`)
      );
    });
    const checks = options.checks ?? [];
    checks.forEach((check, i) => assertVerifyCheck('mysql', check, i));
    // One statement each (no multipleStatements), each in its own read-only transaction.
    for (const [i, check] of checks.entries()) {
      try {
        await client.query('START TRANSACTION READ ONLY');
        await client.query(check);
      } catch (err) {
        const lost = lostConnection(
          mapMysqlError(err, `check ${i + 1} as ${who}`, { secret: true, admin: false }),
        );
        if (lost) throw lost;
        const e = err as { sqlMessage?: string; message?: string };
        throw new VerificationError(
          `check ${i + 1} (${check}) failed for ${who}: ${e.sqlMessage ?? e.message ?? ''} [${errorCode(err)}]`,
        );
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
      }
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
