import { escape, escapeId } from 'mysql2/promise';
import { createMysqlEngine } from '../../../src/engines/mysql';
import { freshMysql, waitForMysql, type MysqlNamespace } from '../../helpers/mysql';
import { adminConnection } from '../../helpers/engines';
import { describeEngine, onHelperNamespace } from '../conformance';

const grant = (ns: MysqlNamespace, what: string, login: string) =>
  ns.admin.query(`GRANT ${what} ON ${escapeId(ns.database)}.* TO ${escape(login)}@'%'`);

describeEngine('MySQL/MariaDB', {
  dualPassword: true,
  sessionsVisible: true,
  ...onHelperNamespace(() => waitForMysql(), freshMysql, {
    engine: (ns) => createMysqlEngine(adminConnection('mysql', { database: ns.database })),
    async createTemplate(ns, suffix, password) {
      const login = await ns.createLogin(suffix, password);
      await grant(ns, 'SELECT', login);
      return login;
    },
    async widen(ns, login) {
      await grant(ns, 'INSERT', login);
    },
  }),
});
