import { escape, escapeId } from 'mysql2/promise';
import { createMysqlEngine } from '../../../src/engines/mysql';
import { freshMysql, waitForMysql } from '../../helpers/mysql';
import { adminConnection } from '../../helpers/engines';
import { describeEngine } from '../conformance';

describeEngine('MySQL/MariaDB', {
  dualPassword: true,
  sessionsVisible: true,
  ready: () => waitForMysql(),
  async fresh() {
    const ns = await freshMysql();
    const grant = (what: string, login: string) =>
      ns.admin.query(`GRANT ${what} ON ${escapeId(ns.database)}.* TO ${escape(login)}@'%'`);
    return {
      engine: createMysqlEngine(adminConnection('mysql', { database: ns.database })),
      name: (suffix) => ns.prefix + suffix,
      async createTemplate(suffix, password) {
        const login = await ns.createLogin(suffix, password);
        await grant('SELECT', login);
        return login;
      },
      async widen(login) {
        await grant('INSERT', login);
      },
      async connectAs(login, password) {
        await ns.connectAs(login, password);
      },
      cleanup: () => ns.cleanup(),
    };
  },
});
