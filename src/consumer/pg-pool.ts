import {
  Pool,
  type PoolClient,
  type PoolConfig,
  type QueryConfig,
  type QueryResult,
  type QueryResultRow,
} from 'pg';
import { consumerTls } from './tls';
import { Rotating, type RotatingDriver, type RotatingOptions } from './rotating';
import { CredentialFollower } from './follower';
import { errorMessage } from './source-base';
import type { ConsumerCredential, CredentialSource } from './types';

export interface RotatingPgPoolOptions extends RotatingOptions {
  source: CredentialSource;
  /** pg Pool settings except the credential (host, port, database, max, ssl...). */
  pool?: Omit<PoolConfig, 'user' | 'password' | 'connectionString'>;
  /** Query that proves a new pool works before it becomes current (default `SELECT 1`). */
  checkQuery?: string;
}

/**
 * A pg Pool that follows a credential source. Use `query()` and `connect()`
 * as with pg's Pool; on a new version a new pool is built and checked, new
 * work goes to it at once, and the old pool is ended only after every query
 * and checked-out client that started on it is done. A query refused with
 * 28P01/28000 re-reads the credential and runs once more on the new pool.
 *
 * Whether the login name changes (dual-user) or not (dual-password, single),
 * the same happens: the old pool's sessions stay valid until they are ended,
 * and new connections use the new credential.
 */
export class RotatingPgPool extends CredentialFollower<Pool> {
  private constructor(opts: RotatingPgPoolOptions) {
    const logger = opts.logger;
    const checkQuery = opts.checkQuery ?? 'SELECT 1';
    const driver: RotatingDriver<Pool> = {
      engine: 'postgres',
      create(cred: ConsumerCredential) {
        const ssl = opts.pool?.ssl ?? consumerTls(opts.tls, opts.pool?.host ?? 'localhost') ?? false;
        const pool = new Pool({ ...opts.pool, ssl, user: cred.username, password: cred.password });
        // Idle clients that die (terminated session, network) are dropped by pg; without a listener the process would crash.
        pool.on('error', (err) => logger?.debug?.({ err: errorMessage(err) }, 'pg pool: idle client error'));
        return pool;
      },
      async check(pool) {
        await pool.query(checkQuery);
      },
      close: (pool) => pool.end(),
      connections: (pool) => ({ active: pool.totalCount - pool.idleCount, idle: pool.idleCount }),
    };
    super(new Rotating(opts.source, driver, opts));
  }

  /** Builds, checks and returns the pool (rejects if the first credential does not work). */
  static create(opts: RotatingPgPoolOptions): Promise<RotatingPgPool> {
    return CredentialFollower.started(new RotatingPgPool(opts));
  }

  query<R extends QueryResultRow = QueryResultRow>(
    text: string | QueryConfig<unknown[]>,
    values?: unknown[],
  ): Promise<QueryResult<R>> {
    return this.core.run((pool) => pool.query<R>(text as string, values));
  }

  /**
   * Checks out a client from the current pool. Release it as usual
   * (`client.release()`); until then its pool is not ended.
   */
  async connect(): Promise<PoolClient> {
    const lease = await this.core.hold((pool) => pool.connect());
    const client = lease.value;
    // A checked-out client whose session is terminated between queries emits 'error'; keep the process alive.
    const onError = (): void => undefined;
    client.on('error', onError);
    const release = client.release;
    let released = false;
    client.release = (err?: Error | boolean) => {
      if (released) return release.call(client, err); // pg reports the double release
      released = true;
      client.removeListener('error', onError);
      try {
        release.call(client, err);
      } finally {
        lease.release();
      }
    };
    return client;
  }

  /** Drains and ends every pool (waits for in-flight work up to the drain timeout). */
  end(): Promise<void> {
    return this.core.close();
  }
}
