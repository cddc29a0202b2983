/**
 * Redis for the workload: RotatingRedis (one connection per instance, as
 * ioredis applications have) running GET on one of 100 keys, as an ACL user
 * that may only read those keys. Dual-password keeps the ACL user (two
 * passwords during grace); dual-user adds a second one with the same rules.
 */
import { RotatingRedis } from '../../../src/consumer/redis-client';
import { freshRedis } from '../../../test/helpers/redis';
import { services } from '../../../test/helpers/services';
import { rotatingOptions, workloadClient, type EngineFixture, type WorkloadEngine } from './types';

async function setup(): Promise<EngineFixture> {
  const ns = await freshRedis();
  const rules = ['on', `~${ns.prefix}item:*`, '+get', '+ping'];
  const password = `Init-${ns.prefix}Pw1`;
  const login = await ns.createUser('app', `>${password}`, ...rules);
  const key = (id: number) => `${ns.prefix}item:${id}`;
  for (let id = 1; id <= 100; id++) await ns.admin.call('SET', key(id), `payload-${id}`);
  const clientsOf = async (user: string) => {
    const list = String(await ns.admin.call('CLIENT', 'LIST'));
    return list.split('\n').filter((l) => l.includes(` user=${user} `)).length;
  };
  return {
    engine: 'redis',
    where: { host: services.redis.host, port: services.redis.port },
    admin: { username: services.redis.user, password: services.redis.password },
    login,
    password,
    async open(source, o) {
      const r = await RotatingRedis.create({
        ...rotatingOptions(source, o),
        redis: { host: services.redis.host, port: services.redis.port },
      });
      return workloadClient(r, {
        read: async (id) => void (await r.call('GET', key(id))),
        session: (body) => r.run((redis) => body(async (id) => void (await redis.get(key(id))))),
        close: () => r.close(),
      });
    },
    async createLike(user, pw) {
      await ns.admin.call('ACL', 'SETUSER', user, 'reset', `>${pw}`, ...rules);
    },
    async dropLogin(user) {
      const ended = await clientsOf(user);
      await ns.admin.call('ACL', 'DELUSER', user); // also closes the user's connections
      return ended;
    },
    async setPassword(user, pw) {
      await ns.admin.call('ACL', 'SETUSER', user, 'resetpass', `>${pw}`);
    },
    sessionsOf: clientsOf,
    cleanup: () => ns.cleanup(),
  };
}

export const redisWorkload: WorkloadEngine = {
  name: 'redis',
  strategies: ['dual-password', 'dual-user'],
  setup,
};
