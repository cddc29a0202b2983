import { Pool, escapeIdentifier, type PoolClient } from 'pg';
import { connectionTls, nodeTlsOptions } from '../tls';
import { TRANSIENT_NETWORK_CODES } from '../transient';
import { adminBackendPids, leaseAdminPool, withSharedContext, type AdminPoolLease } from './admin-pools';
import {
  AdminPrivilegeError,
  ConfigError,
  RotatorError,
  TransientError,
  UnsafeIdentifierError,
} from '../../errors';
import { changeWriter, NOT_EXECUTED, type ChangeWriter, type NotExecuted } from '../recording';
import { REDACTED } from '../redaction';
import type { EngineConnection } from '../types';

/** Advisory lock key (per database) taken by every privilege-changing transaction. */
const ACL_CHANGE_LOCK = 0x726f7461; // "rota", within the safe-integer range

/** NAMEDATALEN - 1: PostgreSQL silently truncates longer identifiers, so we refuse them. */
export const PG_MAX_IDENTIFIER_BYTES = 63;

/** Checks a role/database name we were given (not read from the catalogs) and returns it quoted. */
export function quoteName(name: string, what = 'login name'): string {
  if (typeof name !== 'string' || name.length === 0) throw new UnsafeIdentifierError(`${what} is empty`);
  if (name.includes('\u0000')) throw new UnsafeIdentifierError(`${what} contains a NUL byte`);
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > PG_MAX_IDENTIFIER_BYTES) {
    throw new UnsafeIdentifierError(
      `${what} is ${bytes} bytes; PostgreSQL identifiers hold at most ${PG_MAX_IDENTIFIER_BYTES} bytes`,
    );
  }
  return escapeIdentifier(name);
}

/**
 * A statement as dry-run mode records it: the password literal of CREATE /
 * ALTER ROLE (a SCRAM verifier here) replaced by REDACTED.
 */
export function redactPgStatement(sql: string): string {
  return sql.replace(/\bPASSWORD\s+E?'(?:[^']|'')*'/gi, `PASSWORD '${REDACTED}'`);
}

/** A configuration parameter name for SET / GRANT ON PARAMETER: each dotted part quoted. */
export function quoteParameterName(name: string): string {
  return name.split('.').map(escapeIdentifier).join('.');
}

interface PgErrorLike {
  code?: string;
  message?: string;
  detail?: string;
}

/**
 * Classifies a driver/server error, keeping the SQLSTATE in the message.
 * Our SQL carries SCRAM verifiers, never passwords, and messages never echo
 * statements, so server text is safe to pass on.
 */
export function mapPgError(err: unknown, context: string, onAdminConnection = true): Error {
  if (err instanceof RotatorError) return err;
  const e = (err ?? {}) as PgErrorLike;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const text = `${context}: ${e.message ?? String(err)}${code ? ` (SQLSTATE ${code})` : ''}`;
  if (!code) {
    if (/timeout|terminated|ECONN|socket/i.test(e.message ?? '')) return new TransientError(text);
    return err instanceof Error ? err : new Error(text);
  }
  if (TRANSIENT_NETWORK_CODES.has(code)) return new TransientError(text);
  if (code === '42501') return new AdminPrivilegeError(text);
  if ((code === '28P01' || code === '28000') && onAdminConnection) {
    return new ConfigError(`${context}: admin credential rejected (SQLSTATE ${code})`);
  }
  if (code === '3D000') return new ConfigError(text);
  // 08: connection exception, 53: insufficient resources, 57P0x: shutdown / cannot connect now,
  // 40001/40P01: serialization failure / deadlock, 55P03: lock not available.
  if (/^(08|53|57P0)/.test(code) || code === '40001' || code === '40P01' || code === '55P03') {
    return new TransientError(text);
  }
  const mapped = new Error(text) as Error & { code?: string; detail?: string };
  mapped.code = code;
  if (e.detail) mapped.detail = e.detail;
  return mapped;
}

/** True if the error is a server error with one of the given SQLSTATEs. */
export function hasSqlState(err: unknown, ...codes: string[]): boolean {
  const code = (err as PgErrorLike | undefined)?.code;
  return typeof code === 'string' && codes.includes(code);
}

/**
 * Statements that change the server, as recorded; run on `client` when given,
 * else one by one on `database`, or by `send` when the real statement differs
 * from the recorded one (ending sessions: parameterised, counted).
 */
export interface PgChange {
  database: string;
  statements: string[];
  client?: PoolClient;
  send?: () => Promise<unknown>;
}

/**
 * Admin connections: a pool per database, opened on demand and shared with
 * the process's other engines of the same admin login (admin-pools.ts).
 */
export class PgConnector {
  readonly homeDatabase: string;
  /** Backend pids of our own admin connections (every pooled one of the process). */
  readonly ownPids: ReadonlySet<number> = adminBackendPids;
  /** Where changes go: the server, or (dry run) the recorder. The engine's one dry-run seam. */
  readonly writer: ChangeWriter<PgChange, unknown>;
  private readonly leases = new Map<string, AdminPoolLease>();
  private closed = false;
  private recordedDatabase: string;

  constructor(private readonly conn: EngineConnection) {
    this.homeDatabase = conn.database ?? 'postgres';
    this.recordedDatabase = this.homeDatabase;
    this.writer = changeWriter(
      conn.dryRun,
      (change, context) => this.send(change, context),
      (change) => this.show(change),
    );
  }

  /**
   * The one way statements that change the server are run: on `client` (a
   * transaction on `database`) or one by one on `database`. In dry-run mode the
   * writer records them instead (see show) and this answers NOT_EXECUTED.
   */
  async execute(
    database: string,
    statements: string[],
    context: string,
    client?: PoolClient,
  ): Promise<NotExecuted | undefined> {
    const reply = await this.writer.write({ database, statements, client }, context);
    return reply === NOT_EXECUTED ? reply : undefined;
  }

  private async send(change: PgChange, context: string): Promise<unknown> {
    if (change.send) return change.send();
    if (change.client) return runStatements(change.client, change.statements);
    for (const sql of change.statements) await this.query(change.database, sql, [], context);
    return undefined;
  }

  /** A change as dry-run mode records it: secrets redacted, `\connect` when the database changes. */
  private show({ database, statements }: PgChange): string[] {
    if (statements.length === 0) return [];
    const lines: string[] = [];
    if (database !== this.recordedDatabase) {
      lines.push(`\\connect ${escapeIdentifier(database)}`);
      this.recordedDatabase = database;
    }
    return [...lines, ...statements.map(redactPgStatement)];
  }

  /** Connection options shared by admin and verification clients. */
  clientOptions(database: string, user: string, password: string) {
    const ssl = withSharedContext(nodeTlsOptions(connectionTls(this.conn)) ?? false);
    return {
      host: this.conn.host,
      port: this.conn.port,
      database,
      user,
      password,
      ssl,
      connectionTimeoutMillis: this.conn.connectTimeoutMs ?? 10_000,
      application_name: 'db-rotator',
    };
  }

  /** The shared admin pool of `database` (src/engines/postgres/admin-pools.ts), leased until close(). */
  private pool(database: string): Pool {
    if (this.closed) throw new Error('postgres engine is closed');
    let lease = this.leases.get(database);
    if (!lease) {
      lease = leaseAdminPool(
        this.clientOptions(database, this.conn.admin.username, this.conn.admin.password),
      );
      this.leases.set(database, lease);
    }
    return lease.pool;
  }

  async query<R extends Record<string, unknown>>(
    database: string,
    sql: string,
    params: unknown[] = [],
    context = 'query',
  ): Promise<R[]> {
    try {
      const result = await this.pool(database).query<R>(sql, params);
      return result.rows;
    } catch (err) {
      throw mapPgError(err, context);
    }
  }

  /** Runs `work` inside one transaction on one connection to `database`, one such transaction per database at a time. */
  async transaction<T>(
    database: string,
    context: string,
    work: (client: PoolClient) => Promise<T>,
  ): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool(database).connect();
    } catch (err) {
      throw mapPgError(err, `${context}: connecting to database ${database}`);
    }
    let failed = false;
    try {
      await client.query('BEGIN');
      // Concurrent GRANT/REVOKE on one object fail with "tuple concurrently
      // updated"; rotations of many logins in one database take turns here.
      await client.query('SELECT pg_advisory_xact_lock($1)', [ACL_CHANGE_LOCK]);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      failed = true;
      await client.query('ROLLBACK').catch(() => undefined);
      throw mapPgError(err, context);
    } finally {
      // The pool is shared by later activities: a connection that failed mid-transaction
      // (possibly broken, or left in an aborted transaction) is closed, not handed on.
      client.release(failed);
    }
  }

  /** Gives the pools back (they stay open for the next engine of the same admin login). */
  async close(): Promise<void> {
    this.closed = true;
    const leases = [...this.leases.values()];
    this.leases.clear();
    await Promise.all(leases.map((l) => l.release()));
  }
}

const MAX_BATCH_STATEMENTS = 200;
const MAX_BATCH_CHARS = 512 * 1024;

/** Sends many utility statements in few round trips (simple query protocol). */
export async function runStatements(client: PoolClient, statements: string[]): Promise<void> {
  let batch: string[] = [];
  let size = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await client.query(batch.join(';\n'));
    batch = [];
    size = 0;
  };
  for (const stmt of statements) {
    if (batch.length >= MAX_BATCH_STATEMENTS || size + stmt.length > MAX_BATCH_CHARS) await flush();
    batch.push(stmt);
    size += stmt.length + 2;
  }
  await flush();
}

/** Splits a list into chunks of at most `size`. */
export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export interface ServerVersion {
  /** server_version_num, e.g. 150020. */
  num: number;
  /** e.g. "15.20". */
  text: string;
}

export interface ScopeDatabase {
  name: string;
  connectable: boolean;
  /** Oids (of the roles asked about) that own objects or hold privileges in it. */
  holders: string[];
}

/**
 * Databases where any of `roleOids` owns objects or holds privileges, from
 * pg_shdepend (what DROP ROLE itself consults), plus the home database.
 * Avoids connecting to every database of a large (or shared test) cluster.
 */
export async function scopeDatabases(db: PgConnector, roleOids: string[]): Promise<ScopeDatabase[]> {
  const rows = await db.query(
    db.homeDatabase,
    `SELECT d.datname, d.datallowconn,
            ARRAY(SELECT DISTINCT s.refobjid::text FROM pg_shdepend s
                   WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = ANY($1::oid[]) AND s.dbid = d.oid) AS holders
       FROM pg_database d
      WHERE d.datname <> 'template0'
        AND (d.datname = $2 OR EXISTS (
              SELECT 1 FROM pg_shdepend s
               WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = ANY($1::oid[])
                 AND (s.dbid = d.oid OR (s.dbid = 0 AND s.classid = 'pg_database'::regclass AND s.objid = d.oid))))
      ORDER BY d.datname = $2 DESC, d.datname`,
    [roleOids, db.homeDatabase],
    'listing databases',
  );
  return rows.map((r) => ({
    name: String(r.datname),
    connectable: Boolean(r.datallowconn),
    holders: r.holders as string[],
  }));
}
