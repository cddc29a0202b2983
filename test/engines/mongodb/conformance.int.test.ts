import { createMongoEngine } from '../../../src/engines/mongodb';
import { freshMongo, waitForMongo } from '../../helpers/mongo';
import { adminConnection } from '../../helpers/engines';
import { describeEngine } from '../conformance';

describeEngine('MongoDB (FerretDB)', {
  dualPassword: false,
  // FerretDB 1.x has no $currentOp: listSessions is always empty there (docs/engine-notes-mongodb.md).
  sessionsVisible: false,
  ready: () => waitForMongo(),
  async fresh() {
    const ns = await freshMongo();
    return {
      engine: createMongoEngine(adminConnection('mongo', { database: ns.database })),
      name: (suffix) => ns.prefix + suffix,
      createTemplate: (suffix, password) =>
        ns.createUser(suffix, password, { mechanisms: ['SCRAM-SHA-256'] }),
      async widen(login, password) {
        await ns.admin.db(ns.database).command({
          updateUser: login,
          pwd: password,
          mechanisms: ['SCRAM-SHA-1', 'SCRAM-SHA-256'],
        });
      },
      async connectAs(login, password) {
        await ns.connectAs(login, password);
      },
      cleanup: () => ns.cleanup(),
    };
  },
});
