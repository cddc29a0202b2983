/** verifyLogin of the Redis engine: log in as the application would, PING, SELECT, the checks. */
import { ConfigError, TransientError, VerificationError } from '../../errors';
import type { Secret, VerifyOptions } from '../types';
import { lostConnection } from '../transient';
import { assertVerifyCheck } from '../verify-checks';
import { checkRedisLogin, hasAcl, splitCommandLine } from './acl';
import { AUTH_FAILURE, mapRedisError, type RedisConnector } from './connection';

export async function verifyRedisLogin(
  db: RedisConnector,
  secret: Secret,
  options: VerifyOptions = {},
): Promise<void> {
  const user = secret.username || 'default';
  checkRedisLogin(user);
  const s = await db.facts();
  const username = hasAcl(s) && user !== 'default' ? user : undefined;
  const { client, error } = await db.open(username, secret.password);
  try {
    if (error) {
      if (AUTH_FAILURE.test(error.message)) {
        throw new VerificationError(
          `login failed for ${user}: Redis rejected the password (or the user is disabled)`,
        );
      }
      throw new TransientError(
        `cannot connect to Redis at ${db.conn.host}:${db.conn.port}: ${error.message}`,
      );
    }
    try {
      await client.call('PING');
    } catch (err) {
      // NOPERM proves the login worked; the user may just not be allowed PING.
      const message = (err as Error).message ?? String(err);
      if (!/^NOPERM/.test(message)) {
        throw (
          lostConnection(mapRedisError(err, `PING as ${user}`, '')) ??
          new VerificationError(`PING failed for ${user}: ${message}`)
        );
      }
    }
    if (db.db !== 0) {
      try {
        await client.call('SELECT', db.db);
      } catch (err) {
        throw (
          lostConnection(mapRedisError(err, `SELECT ${db.db} as ${user}`, '')) ??
          new VerificationError(`SELECT ${db.db} failed for ${user}: ${(err as Error).message}`)
        );
      }
    }
    for (const [i, check] of (options.checks ?? []).entries()) {
      let args: string[];
      try {
        args = splitCommandLine(check);
      } catch {
        throw new ConfigError(`check ${i + 1} (${check}) has unbalanced quotes`);
      }
      if (args.length === 0) throw new ConfigError(`check ${i + 1} is empty`);
      assertVerifyCheck('redis', args[0]!, i);
      try {
        await client.call(args[0]!, ...args.slice(1));
      } catch (err) {
        throw (
          lostConnection(mapRedisError(err, `check ${i + 1} as ${user}`, '')) ??
          new VerificationError(`check ${i + 1} (${check}) failed for ${user}: ${(err as Error).message}`)
        );
      }
    }
  } finally {
    client.disconnect();
  }
}
