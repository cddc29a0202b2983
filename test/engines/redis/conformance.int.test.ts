import { createRedisEngine } from '../../../src/engines/redis';
import { freshRedis, waitForRedis } from '../../helpers/redis';
import { adminConnection } from '../../helpers/engines';
import { describeEngine, onHelperNamespace } from '../conformance';

describeEngine('Redis', {
  dualPassword: true,
  sessionsVisible: true,
  ...onHelperNamespace(() => waitForRedis(), freshRedis, {
    // persist: 'none' — the shared server has a redis.conf; tests must not CONFIG REWRITE it.
    engine: () => createRedisEngine(adminConnection('redis', { options: { persist: 'none' } })),
    createTemplate: (ns, suffix, password) =>
      ns.createUser(suffix, 'on', `>${password}`, `~${ns.prefix}k:*`, '+ping', '+get'),
    async widen(ns, login) {
      await ns.admin.call('ACL', 'SETUSER', login, '+set');
    },
  }),
});
