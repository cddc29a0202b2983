import {
  createPool,
  type FieldPacket,
  type Pool,
  type PoolConnection,
  type PoolOptions,
  type QueryResult,
} from 'mysql2/promise';
import { mysqlTlsOptions, resolveTls } from '../engines/tls';
import { Rotating, type RotatingDriver, type RotatingOptions } from './rotating';
import { CredentialFollower } from './follower';
import type { ConsumerCredential, CredentialSource } from './types';

export interface RotatingMysqlPoolOptions extends RotatingOptions {
  source: CredentialSource;
  /** mysql2 pool settings except the credential (host, port, database, connectionLimit...). */
  pool?: Omit<PoolOptions, 'user' | 'password' | 'uri'>;
}

/** Private queue sizes of mysql2's core pool, read defensively (metrics only). */
function queueLength(pool: Pool, field: '_allConnections' | '_freeConnections'): number {
  const q = (pool.pool as unknown as Record<string, { length?: number } | undefined>)[field];
  return typeof q?.length === 'number' ? q.length : 0;
}

/**
 * A mysql2/promise pool that follows a credential source (dual-password on
 * one account or dual-user). `query`/`execute` run on the current pool;
 * `getConnection()` checks out a connection that keeps its pool open until
 * released. Errno 1045 re-reads the credential and retries once.
 */
export class RotatingMysqlPool extends CredentialFollower<Pool> {
  private constructor(opts: RotatingMysqlPoolOptions) {
    const driver: RotatingDriver<Pool> = {
      engine: 'mysql',
      create: (cred: ConsumerCredential) => {
        const host = opts.pool?.host ?? 'localhost';
        const ssl =
          opts.pool?.ssl ??
          (opts.tls === false
            ? undefined
            : (mysqlTlsOptions(resolveTls(opts.tls, host), host) as PoolOptions['ssl']));
        return createPool({
          ...opts.pool,
          ...(ssl ? { ssl } : {}),
          user: cred.username,
          password: cred.password,
        });
      },
      async check(pool) {
        const conn = await pool.getConnection();
        try {
          await conn.ping();
        } finally {
          conn.release();
        }
      },
      close: (pool) => pool.end(),
      connections(pool) {
        const all = queueLength(pool, '_allConnections');
        const idle = queueLength(pool, '_freeConnections');
        return { active: all - idle, idle };
      },
    };
    super(new Rotating(opts.source, driver, opts));
  }

  static create(opts: RotatingMysqlPoolOptions): Promise<RotatingMysqlPool> {
    return CredentialFollower.started(new RotatingMysqlPool(opts));
  }

  query<T extends QueryResult>(sql: string, values?: unknown): Promise<[T, FieldPacket[]]> {
    return this.core.run((pool) => pool.query<T>(sql, values as never));
  }

  execute<T extends QueryResult>(sql: string, values?: unknown): Promise<[T, FieldPacket[]]> {
    return this.core.run((pool) => pool.execute<T>(sql, values as never));
  }

  /** A connection from the current pool; call `release()` when done. */
  async getConnection(): Promise<PoolConnection> {
    const lease = await this.core.hold((pool) => pool.getConnection());
    const conn = lease.value;
    const release = conn.release.bind(conn);
    conn.release = () => {
      try {
        release();
      } finally {
        lease.release();
      }
    };
    return conn;
  }

  end(): Promise<void> {
    return this.core.close();
  }
}
