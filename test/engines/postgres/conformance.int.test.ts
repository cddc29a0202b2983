import { escapeIdentifier } from 'pg';
import type { Client } from 'pg';
import { createPostgresEngine } from '../../../src/engines/postgres';
import { freshPg, pgConnect } from '../../helpers/pg';
import { adminConnection } from '../../helpers/engines';
import { describeEngine } from '../conformance';

describeEngine('PostgreSQL', {
  dualPassword: false,
  sessionsVisible: true,
  ready: async () => undefined,
  async fresh() {
    const ns = await freshPg();
    await ns.admin.query('CREATE TABLE orders (id int)');
    const sessions: Client[] = [];
    return {
      engine: createPostgresEngine(adminConnection('postgres', { database: ns.database })),
      name: (suffix) => ns.prefix + suffix,
      async createTemplate(suffix, password) {
        const login = await ns.createLogin(suffix, password);
        await ns.admin.query(`GRANT SELECT ON orders TO ${escapeIdentifier(login)}`);
        return login;
      },
      async widen(login) {
        await ns.admin.query(`GRANT INSERT ON orders TO ${escapeIdentifier(login)}`);
      },
      async connectAs(login, password) {
        sessions.push(await pgConnect(ns.database, login, password));
      },
      async cleanup() {
        await Promise.all(sessions.map((c) => c.end().catch(() => undefined)));
        await ns.cleanup();
      },
    };
  },
});
