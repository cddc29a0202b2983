import { createRedisEngine } from '../../../src/engines/redis';
import { freshRedis, waitForRedis } from '../../helpers/redis';
import { adminConnection } from '../../helpers/engines';
import { describeEngine } from '../conformance';

describeEngine('Redis', {
  dualPassword: true,
  sessionsVisible: true,
  ready: () => waitForRedis(),
  async fresh() {
    const ns = await freshRedis();
    return {
      // persist: 'none' — the shared server has a redis.conf; tests must not CONFIG REWRITE it.
      engine: createRedisEngine(adminConnection('redis', { options: { persist: 'none' } })),
      name: (suffix) => ns.prefix + suffix,
      createTemplate: (suffix, password) =>
        ns.createUser(suffix, 'on', `>${password}`, `~${ns.prefix}k:*`, '+ping', '+get'),
      async widen(login) {
        await ns.admin.call('ACL', 'SETUSER', login, '+set');
      },
      async connectAs(login, password) {
        await ns.connectAs(login, password);
      },
      cleanup: () => ns.cleanup(),
    };
  },
});
