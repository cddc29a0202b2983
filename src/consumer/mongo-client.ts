import { MongoClient, type MongoClientOptions } from 'mongodb';
import { Rotating, type RotatingDriver, type RotatingOptions } from './rotating';
import { CredentialFollower } from './follower';
import type { ConsumerCredential, CredentialSource } from './types';
import { mongoTlsOptions } from '../engines/tls';
import { consumerTls } from './tls';

/** First host of a mongodb:// URL (for the certificate name check). */
function hostOf(url: string): string {
  const m = /^mongodb(?:\+srv)?:\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/,?]+)/.exec(url);
  return m?.[1] ?? 'localhost';
}

export interface RotatingMongoClientOptions extends RotatingOptions {
  source: CredentialSource;
  /** Connection string without credentials, e.g. `mongodb://db1:27017/?replicaSet=rs0`. */
  url: string;
  /** Database the login is defined in (default `admin`). */
  authSource?: string;
  /** Driver options except `auth`. */
  client?: Omit<MongoClientOptions, 'auth'>;
}

interface Counts {
  total: number;
  checkedOut: number;
}

/**
 * A MongoClient that follows a credential source. MongoClient.close() aborts
 * operations in flight, so every operation goes through `run()`, which
 * counts it; an old client is closed only after its operations finished.
 * Code 18 (AuthenticationFailed) re-reads the credential and retries once.
 * Cursors must be consumed inside the `run()` callback.
 */
export class RotatingMongoClient extends CredentialFollower<MongoClient> {
  private constructor(opts: RotatingMongoClientOptions) {
    const counts = new WeakMap<MongoClient, Counts>();
    const authSource = opts.authSource ?? 'admin';
    const driver: RotatingDriver<MongoClient> = {
      engine: 'mongodb',
      create(cred: ConsumerCredential) {
        const client = new MongoClient(opts.url, {
          ...(opts.client?.tls === undefined ? mongoTlsOptions(consumerTls(opts.tls, hostOf(opts.url))) : {}),
          ...opts.client,
          authSource,
          auth: { username: cred.username, password: cred.password },
        });
        const c: Counts = { total: 0, checkedOut: 0 };
        counts.set(client, c);
        client.on('connectionCreated', () => c.total++);
        client.on('connectionClosed', () => (c.total = Math.max(0, c.total - 1)));
        client.on('connectionCheckedOut', () => c.checkedOut++);
        client.on('connectionCheckedIn', () => (c.checkedOut = Math.max(0, c.checkedOut - 1)));
        return client;
      },
      async check(client) {
        await client.connect();
        await client.db(authSource).command({ ping: 1 });
      },
      close: (client) => client.close(),
      connections(client) {
        const c = counts.get(client) ?? { total: 0, checkedOut: 0 };
        return { active: c.checkedOut, idle: Math.max(0, c.total - c.checkedOut) };
      },
    };
    super(new Rotating(opts.source, driver, opts));
  }

  static create(opts: RotatingMongoClientOptions): Promise<RotatingMongoClient> {
    return CredentialFollower.started(new RotatingMongoClient(opts));
  }

  /** Runs `op` with the current client; the client stays open until `op` settles. */
  run<R>(op: (client: MongoClient) => Promise<R>): Promise<R> {
    return this.core.run(op);
  }

  close(): Promise<void> {
    return this.core.close();
  }
}
