/**
 * The admin connection of the MySQL/MariaDB engine and error classification.
 *
 * One connection, opened on demand and re-opened after a fatal error. Its
 * session is set up so that our quoting is exact: sql_mode without
 * NO_BACKSLASH_ESCAPES and ANSI_QUOTES, identifiers always quoted in SHOW
 * output, and (MySQL 8.0.17+) binary auth strings printed as hex.
 *
 * Statements that carry a credential (plaintext on MySQL 8, or a hash) are
 * run with `secret: true`: their errors are reported by error code only,
 * because server messages may quote the statement ("near '...'") and driver
 * errors carry it in `sql`. Driver errors are never passed on as they are.
 */
import {
  createConnection,
  type Connection,
  type ConnectionOptions,
  type RowDataPacket,
} from 'mysql2/promise';
import { AdminPrivilegeError, ConfigError, RotatorError, TransientError } from '../../errors';
import { changeWriter, NOT_EXECUTED, type ChangeWriter, type NotExecuted } from '../recording';
import { REDACTED } from '../redaction';
import { connectionTls, mysqlTlsOptions } from '../tls';
import { TRANSIENT_NETWORK_CODES } from '../transient';
import type { EngineConnection } from '../types';

export interface MysqlErrorLike {
  code?: string;
  errno?: number;
  sqlState?: string;
  sqlMessage?: string;
  message?: string;
  fatal?: boolean;
}

/** Driver codes of trouble that may pass, beside the shared network table (../transient.ts). */
const TRANSIENT_DRIVER_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
]);

/** Server errors that may pass: too many connections, shutdown, lock wait, deadlock, interrupted, read-only replica. */
const TRANSIENT_ERRNOS = new Set([1040, 1053, 1203, 1205, 1213, 1317, 2006, 2013]);

/** Access denied to the admin: missing privilege (1044, 1142, 1143, 1227, 1370, 1698, 1095 kill denied, 1045 at login). */
export const ACCESS_DENIED_ERRNOS = new Set([1044, 1045, 1095, 1142, 1143, 1227, 1370, 1698, 3530]);

export const ER_NO_SUCH_THREAD = 1094;

export function errorCode(err: unknown): string {
  const e = (err ?? {}) as MysqlErrorLike;
  if (e.errno !== undefined && e.code) return `${e.code} (${e.errno})`;
  return e.code ?? 'unknown error';
}

/**
 * Classifies a driver/server error. `secret`: the statement held a
 * credential, keep only the error code.
 */
export function mapMysqlError(
  err: unknown,
  context: string,
  opts: { secret?: boolean; admin?: boolean } = {},
): Error {
  if (err instanceof RotatorError) return err;
  const e = (err ?? {}) as MysqlErrorLike;
  const detail = opts.secret
    ? errorCode(err)
    : `${e.sqlMessage ?? e.message ?? String(err)} [${errorCode(err)}]`;
  const text = `${context}: ${detail}`;
  if (
    (e.code && (TRANSIENT_NETWORK_CODES.has(e.code) || TRANSIENT_DRIVER_CODES.has(e.code))) ||
    (e.errno !== undefined && TRANSIENT_ERRNOS.has(e.errno))
  ) {
    return new TransientError(text);
  }
  if (e.errno !== undefined && ACCESS_DENIED_ERRNOS.has(e.errno) && opts.admin !== false) {
    if (e.errno === 1045)
      return new AdminPrivilegeError(`${context}: admin credential rejected [${errorCode(err)}]`);
    return new AdminPrivilegeError(text);
  }
  if (e.errno === 1049) return new ConfigError(text);
  if (!e.errno && /timeout|ECONN|socket|closed state/i.test(e.message ?? '')) return new TransientError(text);
  const mapped = new Error(text) as Error & { code?: string; errno?: number };
  if (e.code) mapped.code = e.code;
  if (e.errno !== undefined) mapped.errno = e.errno;
  return mapped;
}

export function hasErrno(err: unknown, ...errnos: number[]): boolean {
  const e = err as MysqlErrorLike | undefined;
  return e?.errno !== undefined && errnos.includes(e.errno);
}

export type Row = Record<string, unknown>;

/**
 * A statement that carries a credential, as dry-run mode records it: every
 * literal after BY / AS / USING [PASSWORD] (plaintext, native hash, hex auth
 * string) replaced by REDACTED. Attribute clauses (COMMENT, ATTRIBUTE,
 * REQUIRE ...) are left as they are.
 */
export function redactMysqlStatement(sql: string): string {
  return sql.replace(
    /\b(BY|AS|USING)(\s+PASSWORD)?(\s*\(\s*|\s+)(?:'(?:[^'\\]|\\.|'')*'|0x[0-9A-Fa-f]+)(\s*\))?/gi,
    (_m, kw: string, pw: string | undefined, open: string, close: string | undefined) =>
      `${kw}${pw ?? ''}${open}'${REDACTED}'${close ?? ''}`,
  );
}

/**
 * Statements that change the server, as recorded (`secret`: they hold a
 * credential); run one by one, or by `send` when the real statements are
 * only known then (a KILL per session found).
 */
export interface MysqlChange {
  statements: string[];
  secret?: boolean;
  send?: () => Promise<unknown>;
}

function showMysqlChange({ statements, secret }: MysqlChange): string[] {
  return secret ? statements.map(redactMysqlStatement) : statements;
}

export class MysqlConnector {
  private connection?: Promise<Connection>;
  private closed = false;
  /** Where changes go: the server, or (dry run) the recorder. The engine's one dry-run seam. */
  readonly writer: ChangeWriter<MysqlChange, unknown>;

  constructor(private readonly conn: EngineConnection) {
    this.writer = changeWriter(conn.dryRun, (change, context) => this.send(change, context), showMysqlChange);
  }

  /** Options shared by admin and verification connections. */
  options(user: string, password: string, database = this.conn.database): ConnectionOptions {
    const ssl = mysqlTlsOptions(connectionTls(this.conn), this.conn.host) as
      ConnectionOptions['ssl'] | undefined;
    return {
      host: this.conn.host,
      port: this.conn.port,
      user,
      password,
      ...(database ? { database } : {}),
      ...(ssl ? { ssl } : {}),
      charset: 'utf8mb4',
      connectTimeout: this.conn.connectTimeoutMs ?? 10_000,
      multipleStatements: false,
      supportBigNumbers: true,
      dateStrings: true,
    };
  }

  private async open(): Promise<Connection> {
    const { admin } = this.conn;
    // The admin connection needs no database; that keeps a missing one from blocking account work.
    const c = await createConnection(this.options(admin.username, admin.password, undefined));
    c.on('error', () => this.forget(c));
    try {
      const [rows] = await c.query<RowDataPacket[]>(
        'SELECT @@SESSION.sql_mode AS mode, VERSION() AS version',
      );
      const row = rows[0]!;
      const mode = String(row.mode ?? '')
        .split(',')
        .filter((m) => m && !['NO_BACKSLASH_ESCAPES', 'ANSI_QUOTES', 'ANSI'].includes(m.toUpperCase()))
        .join(',');
      await c.query('SET SESSION sql_mode = ?, SESSION sql_quote_show_create = 1', [mode]);
      if (
        !/mariadb/i.test(String(row.version)) &&
        /^(8\.0\.(1[7-9]|[2-9]\d)|8\.[1-9]|9\.)/.test(String(row.version))
      ) {
        await c.query('SET SESSION print_identified_with_as_hex = ON');
      }
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    return c;
  }

  private async get(): Promise<Connection> {
    if (this.closed) throw new Error('mysql engine is closed');
    if (!this.connection) {
      const pending = this.open();
      this.connection = pending;
      pending.then(
        (c) => {
          this.live = c;
        },
        () => {
          if (this.connection === pending) this.connection = undefined;
        },
      );
    }
    return this.connection;
  }

  /** The open admin connection, once established. */
  private live?: Connection;

  /** Stops using `c` (it failed); the next query opens a new connection. */
  private forget(c: Connection): void {
    if (this.live !== c) return;
    this.live = undefined;
    this.connection = undefined;
    c.destroy();
  }

  /**
   * Runs one statement on the admin connection. With `params`, `?` are
   * filled in by the driver; statements built here pass none.
   */
  async query(
    sql: string,
    params: unknown[] | undefined,
    context: string,
    opts: { secret?: boolean } = {},
  ): Promise<Row[]> {
    let c: Connection;
    try {
      c = await this.get();
    } catch (err) {
      throw mapMysqlError(err, `${context} (connecting as admin)`);
    }
    try {
      const [rows] = params === undefined ? await c.query(sql) : await c.query(sql, params);
      return Array.isArray(rows) ? (rows as Row[]) : [];
    } catch (err) {
      this.forgetIfBroken(c, err);
      throw mapMysqlError(err, context, opts);
    }
  }

  /**
   * Runs statements built here (no parameters) one by one: the one way
   * statements that change the server are sent. In dry-run mode the writer
   * records them instead, credentials redacted, and this answers NOT_EXECUTED.
   */
  async run(
    statements: string[],
    context: string,
    opts: { secret?: boolean } = {},
  ): Promise<NotExecuted | undefined> {
    const reply = await this.writer.write({ statements, secret: opts.secret }, context);
    return reply === NOT_EXECUTED ? reply : undefined;
  }

  private async send(change: MysqlChange, context: string): Promise<unknown> {
    if (change.send) return change.send();
    for (const sql of change.statements) await this.query(sql, undefined, context, { secret: change.secret });
    return undefined;
  }

  /** After a fatal or client-side error the connection is not reused. */
  private forgetIfBroken(c: Connection, err: unknown): void {
    const e = err as MysqlErrorLike;
    if (e.fatal || e.errno === undefined) this.forget(c);
  }

  /** Rows as arrays: for SHOW statements whose column name embeds the account. */
  async firstColumn(sql: string, params: unknown[], context: string): Promise<string[]> {
    const c = await this.get().catch((err: unknown) => {
      throw mapMysqlError(err, `${context} (connecting as admin)`);
    });
    try {
      const [rows] = await c.query({ sql, values: params, rowsAsArray: true });
      return (rows as unknown[][]).map((r) => String(r[0]));
    } catch (err) {
      this.forgetIfBroken(c, err);
      // SHOW GRANTS / SHOW CREATE USER output may hold hashes, but errors do not echo output.
      throw mapMysqlError(err, context);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.connection;
    this.connection = undefined;
    if (pending) await (await pending.catch(() => undefined))?.end().catch(() => undefined);
  }
}
