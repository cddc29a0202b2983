import { Redis, type RedisOptions } from 'ioredis';
import { Rotating, type RotatingDriver, type RotatingOptions } from './rotating';
import { CredentialFollower } from './follower';
import { isAuthError } from './auth-errors';
import { consumerTls } from './tls';
import { errorMessage } from './source-base';
import type { ConsumerCredential, CredentialSource } from './types';

export interface RotatingRedisOptions extends RotatingOptions {
  source: CredentialSource;
  /** ioredis options except the credential (host, port, db, tls...). */
  redis?: Omit<RedisOptions, 'username' | 'password' | 'lazyConnect'>;
}

/**
 * Connects; a refused AUTH rejects with the server's WRONGPASS reply. ioredis
 * reports that reply only as an 'error' event and then reconnects (or, with
 * no retries, rejects with "Connection is closed"), so listen for it.
 */
function connectReportingAuth(client: Redis): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      if (!isAuthError('redis', err)) return;
      client.off('error', onError);
      reject(err);
    };
    client.on('error', onError);
    client.connect().then(
      () => {
        client.off('error', onError);
        resolve();
      },
      (err: unknown) => {
        client.off('error', onError);
        reject(err);
      },
    );
  });
}

/**
 * An ioredis connection that follows a credential source. On a new version a
 * new connection authenticates (same ACL user with its new password under
 * dual-password, or the new user under dual-user), answers PING, and takes
 * over; the old one QUITs once the commands sent on it have their replies.
 * WRONGPASS/NOAUTH re-reads the credential and retries once.
 */
export class RotatingRedis extends CredentialFollower<Redis> {
  private constructor(opts: RotatingRedisOptions) {
    const logger = opts.logger;
    const driver: RotatingDriver<Redis> = {
      engine: 'redis',
      create(cred: ConsumerCredential) {
        const client = new Redis({
          // The ready check runs INFO, which restricted ACL users may not run; check() proves the login instead.
          enableReadyCheck: false,
          ...opts.redis,
          tls: opts.redis?.tls ?? consumerTls(opts.tls, opts.redis?.host ?? 'localhost'),
          username: cred.username,
          password: cred.password,
          lazyConnect: true,
        });
        // ioredis reports connection trouble as events; commands fail on their own.
        client.on('error', (err) => logger?.debug?.({ err: errorMessage(err) }, 'redis: connection error'));
        return client;
      },
      async check(client) {
        await connectReportingAuth(client);
        // PING needs an authenticated connection when the default user is off; WHOAMI proves which user we are.
        await client.ping();
        const who = await client.call('ACL', 'WHOAMI').catch((err: unknown) => {
          if (/^NOPERM/.test(errorMessage(err))) return undefined; // the user may not run ACL WHOAMI
          throw err;
        });
        const expected = client.options.username;
        if (who !== undefined && expected && who !== expected) {
          throw Object.assign(
            new Error(`WRONGPASS connection is authenticated as "${String(who)}", not "${expected}"`),
            {
              name: 'ReplyError',
            },
          );
        }
      },
      async close(client) {
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
      },
      connections: (client) => ({ active: client.status === 'ready' ? 1 : 0, idle: 0 }),
    };
    super(new Rotating(opts.source, driver, opts));
  }

  static create(opts: RotatingRedisOptions): Promise<RotatingRedis> {
    return CredentialFollower.started(new RotatingRedis(opts));
  }

  /** Runs `op` with the current connection (use it for pipelines and several commands). */
  run<R>(op: (redis: Redis) => Promise<R>): Promise<R> {
    return this.core.run(op);
  }

  /** One command, e.g. `call('SET', 'k', 'v')`. */
  call(command: string, ...args: Array<string | number | Buffer>): Promise<unknown> {
    return this.core.run((redis) => redis.call(command, ...args));
  }

  close(): Promise<void> {
    return this.core.close();
  }
}
