import { createMongoEngine } from '../../../src/engines/mongodb';
import { freshMongo, waitForMongo } from '../../helpers/mongo';
import { adminConnection } from '../../helpers/engines';
import { describeEngine, onHelperNamespace } from '../conformance';

describeEngine('MongoDB (FerretDB)', {
  dualPassword: false,
  // FerretDB 1.x has no $currentOp: listSessions is always empty there (docs/engine-notes-mongodb.md).
  sessionsVisible: false,
  ...onHelperNamespace(() => waitForMongo(), freshMongo, {
    engine: (ns) => createMongoEngine(adminConnection('mongo', { database: ns.database })),
    createTemplate: (ns, suffix, password) =>
      ns.createUser(suffix, password, { mechanisms: ['SCRAM-SHA-256'] }),
    async widen(ns, login, password) {
      await ns.admin.db(ns.database).command({
        updateUser: login,
        pwd: password,
        mechanisms: ['SCRAM-SHA-1', 'SCRAM-SHA-256'],
      });
    },
  }),
});
