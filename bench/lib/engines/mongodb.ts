/**
 * The MongoDB wire protocol (FerretDB here) for the workload:
 * RotatingMongoClient reading one of 100 documents by _id, as a user defined
 * in the scratch database of test/helpers/mongo. Dual-user only (MongoDB
 * users hold one password).
 */
import { RotatingMongoClient } from '../../../src/consumer/mongo-client';
import { freshMongo } from '../../../test/helpers/mongo';
import { services } from '../../../test/helpers/services';
import { rotatingOptions, workloadClient, type EngineFixture, type WorkloadEngine } from './types';

async function setup(): Promise<EngineFixture> {
  const ns = await freshMongo();
  const password = `Init-${ns.prefix}Pw1`;
  const login = await ns.createUser('app', password);
  const items = () => ns.admin.db(ns.database).collection<{ _id: number; payload: string }>('items');
  await items().insertMany(
    Array.from({ length: 100 }, (_, i) => ({ _id: i + 1, payload: `payload-${i + 1}` })),
  );
  return {
    engine: 'mongodb',
    where: { host: services.mongo.host, port: services.mongo.port, database: ns.database },
    admin: { database: 'admin', username: services.mongo.user, password: services.mongo.password },
    login,
    password,
    async open(source, o) {
      const m = await RotatingMongoClient.create({
        ...rotatingOptions(source, o),
        url: `mongodb://${services.mongo.host}:${services.mongo.port}/`,
        authSource: ns.database,
        client: { maxPoolSize: o.poolMax, serverSelectionTimeoutMS: 5000 },
      });
      const find = (client: Parameters<Parameters<typeof m.run>[0]>[0], id: number) =>
        client.db(ns.database).collection<{ _id: number }>('items').findOne({ _id: id });
      return workloadClient(m, {
        read: (id) => m.run(async (client) => void (await find(client, id))),
        // The driver has no checkout API: a held session is a run() that keeps this client in use.
        session: (body) => m.run((client) => body(async (id) => void (await find(client, id)))),
        close: () => m.close(),
      });
    },
    async createLike(user, pw) {
      await ns.admin.db(ns.database).command({ createUser: user, pwd: pw, roles: [] });
    },
    async dropLogin(user) {
      // FerretDB keeps authenticated connections; new logins of the user fail from here on.
      await ns.admin.db(ns.database).command({ dropUser: user });
      return 0;
    },
    async setPassword(user, pw) {
      await ns.admin.db(ns.database).command({ updateUser: user, pwd: pw });
    },
    sessionsOf: async () => undefined,
    cleanup: () => ns.cleanup(),
  };
}

export const mongodbWorkload: WorkloadEngine = {
  name: 'mongodb',
  strategies: ['dual-user'],
  setup,
};
