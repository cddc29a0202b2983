import { MongoClient, type Document } from 'mongodb';
import { mongoTlsOptions } from '../../src/engines/tls';
import { services, sessions, testTls, uniqueSuffix, waitForService } from './services';

export interface MongoNamespace {
  /** A fresh database of this test; it is also the auth database of the users createUser() makes. */
  database: string;
  /** Prefix of user names of this test; users with it are dropped from `database` and `admin` by cleanup(). */
  prefix: string;
  /** Admin client (rotator_admin, authSource admin). */
  admin: MongoClient;
  /** Creates user prefix + suffix in `db` (default: the test database) with no roles; returns its name. */
  createUser(suffix: string, password: string, extra?: Document, db?: string): Promise<string>;
  /** usersInfo document of a user (null if missing). */
  userInfo(user: string, db?: string): Promise<Document | null>;
  /** An authenticated client as `user` (closed by cleanup()); rejects with the server's error. */
  connectAs(user: string, password: string, authSource?: string): Promise<MongoClient>;
  cleanup(): Promise<void>;
}

function hostUri(): string {
  return `mongodb://${services.mongo.host}:${services.mongo.port}/`;
}

/** A client authenticated as user/password, built with auth options (no password in a URI). */
export async function mongoConnect(
  user: string,
  password: string,
  authSource = 'admin',
): Promise<MongoClient> {
  const c = new MongoClient(hostUri(), {
    auth: { username: user, password },
    authSource,
    serverSelectionTimeoutMS: 3000,
    connectTimeoutMS: 3000,
    maxPoolSize: 2,
    ...mongoTlsOptions(testTls(services.mongo.host)),
  });
  try {
    await c.connect();
    await c.db(authSource).command({ ping: 1 });
    return c;
  } catch (err) {
    await c.close().catch(() => undefined);
    throw err;
  }
}

export function mongoAdmin(): Promise<MongoClient> {
  return mongoConnect(services.mongo.user, services.mongo.password, 'admin');
}

/** Waits for MongoDB/FerretDB (started by scripts/services.sh up). */
export function waitForMongo(): Promise<void> {
  return waitForService('MongoDB/FerretDB', async () => (await mongoAdmin()).close());
}

/** A fresh database and user-name prefix per test on the shared FerretDB. */
export async function freshMongo(): Promise<MongoNamespace> {
  const suffix = uniqueSuffix();
  const database = `t_${suffix}`;
  const prefix = `t_${suffix}_`;
  const admin = await mongoAdmin();
  const opened = sessions((c: MongoClient) => c.close());
  return {
    database,
    prefix,
    admin,
    async createUser(name, password, extra = {}, db = database) {
      const user = prefix + name;
      await admin.db(db).command({ createUser: user, pwd: password, roles: [], ...extra });
      return user;
    },
    async userInfo(user, db = database) {
      const reply = await admin.db(db).command({ usersInfo: { user, db } });
      return (reply.users as Document[])[0] ?? null;
    },
    connectAs: (user, password, authSource = database) =>
      opened.track(mongoConnect(user, password, authSource)),
    async cleanup() {
      await opened.closeAll();
      try {
        for (const db of [database, 'admin']) {
          const reply = await admin.db(db).command({ usersInfo: 1 });
          for (const u of reply.users as { user: string; db: string }[]) {
            if (u.db === db && u.user.startsWith(prefix)) {
              await admin.db(db).command({ dropUser: u.user });
            }
          }
        }
        await admin.db(database).dropDatabase();
      } finally {
        await admin.close();
      }
    },
  };
}
