import { Redis, type RedisOptions } from 'ioredis';
import { services, testTls, uniqueSuffix, waitForService } from './services';

export interface RedisNamespace {
  /** Prefix of every ACL user and key of this test; cleanup() removes them all. */
  prefix: string;
  /** Admin connection (rotator_admin). */
  admin: Redis;
  /** Creates ACL user prefix + suffix with `rules` (e.g. `on`, `>pw`, `~app:*`); returns its name. */
  createUser(suffix: string, ...rules: string[]): Promise<string>;
  /** A connection as `user` (closed by cleanup()); rejects with the server's AUTH error. */
  connectAs(user: string, password: string): Promise<Redis>;
  cleanup(): Promise<void>;
}

const quick: RedisOptions = {
  lazyConnect: true,
  enableReadyCheck: false,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  retryStrategy: () => null,
  connectTimeout: 3000,
};

/** Where to connect: the shared server over TLS unless a test runs its own (plain) node. */
export interface RedisTarget {
  port?: number;
  tls?: false;
}

/**
 * A fail-fast connection to the shared server (or `target`) that has not
 * connected or authenticated yet; its 'error' events are ignored.
 */
export function redisClient(target: RedisTarget = {}): Redis {
  const host = services.redis.host;
  const c = new Redis({
    ...quick,
    host,
    port: target.port ?? services.redis.port,
    tls: target.tls === false ? undefined : testTls(host),
  });
  c.on('error', () => undefined);
  return c;
}

/**
 * Connects as `user` and authenticates explicitly (with the ready check off,
 * ioredis would resolve connect() before its AUTH is answered); rejects with
 * the server's error (WRONGPASS...).
 */
export async function redisConnect(user: string, password: string, target: RedisTarget = {}): Promise<Redis> {
  const c = redisClient(target);
  try {
    await c.connect();
    await c.call('AUTH', user, password);
    return c;
  } catch (err) {
    c.disconnect();
    throw err;
  }
}

export function redisAdmin(): Promise<Redis> {
  return redisConnect(services.redis.user, services.redis.password);
}

/** Waits for Redis (started by scripts/services.sh up). */
export function waitForRedis(): Promise<void> {
  return waitForService('Redis', async () => {
    const c = await redisAdmin();
    await c.ping();
    c.disconnect();
  });
}

/** Per-test ACL users and keys on the shared Redis, all named with one unique prefix. */
export async function freshRedis(): Promise<RedisNamespace> {
  const prefix = `t_${uniqueSuffix()}_`;
  const admin = await redisAdmin();
  const opened: Redis[] = [];
  return {
    prefix,
    admin,
    async createUser(suffix, ...rules) {
      const name = prefix + suffix;
      await admin.call('ACL', 'SETUSER', name, 'reset', ...rules);
      return name;
    },
    async connectAs(user, password) {
      const c = await redisConnect(user, password);
      opened.push(c);
      return c;
    },
    async cleanup() {
      for (const c of opened) c.disconnect();
      try {
        const users = (await admin.call('ACL', 'USERS')) as string[];
        for (const u of users.filter((n) => n.startsWith(prefix))) {
          await admin.call('ACL', 'DELUSER', u);
        }
        let cursor = '0';
        do {
          const [next, keys] = (await admin.call('SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)) as [
            string,
            string[],
          ];
          if (keys.length > 0) await admin.call('DEL', ...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        admin.disconnect();
      }
    },
  };
}

/** The ACL GETUSER reply as a plain object, without passwords (for "other rules unchanged" checks). */
export async function aclRulesWithoutPasswords(admin: Redis, user: string): Promise<Record<string, unknown>> {
  const reply = (await admin.call('ACL', 'GETUSER', user)) as unknown[] | null;
  if (!reply) throw new Error(`no ACL user ${user}`);
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const k = String(reply[i]);
    if (k !== 'passwords') out[k] = reply[i + 1];
  }
  return out;
}
