/**
 * The MongoDB admin connection, as the engine (./index.ts) uses it: client
 * options and TLS, commands and the one path for changes (`mutate`), server
 * facts and user documents of the auth database.
 */
import {
  MongoClient,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  type Document,
  type MongoClientOptions,
} from 'mongodb';
import {
  AdminPrivilegeError,
  ConfigError,
  RotatorError,
  TransientError,
  UnsupportedServerError,
} from '../../errors';
import { changeWriter, type ChangeWriter, type NotExecuted } from '../recording';
import { REDACTED } from '../redaction';
import { connectionTls, mongoTlsOptions, nodeTlsOptions } from '../tls';
import type { EngineConnection } from '../types';
import {
  checkMongoDb,
  MONGO_MIN_VERSION,
  parseBuildInfo,
  versionAtLeast,
  type MongoServerFacts,
  type MongoUserDoc,
} from './users';

export const DEFAULT_TIMEOUT_MS = 5000;
export const VERIFY_TIMEOUT_MS = 3000;

export const CODE_UNAUTHORIZED = 13;
export const CODE_AUTH_FAILED = 18;
export const CODE_USER_NOT_FOUND = 11;
export const CODE_COMMAND_NOT_FOUND = 59;
/** "User ... already exists" (createUser), on MongoDB and FerretDB; 11000 from older servers. */
export const CODES_USER_EXISTS = new Set([51003, 11000]);

/** TLS comes from EngineConnection.tls (../tls.ts), never from these free-form options. */
const PASSTHROUGH_OPTIONS = ['replicaSet', 'directConnection', 'tlsCertificateKeyFile'] as const;

export const codeOf = (err: unknown): number | undefined =>
  err instanceof MongoServerError && typeof err.code === 'number' ? err.code : undefined;

/** A driver error as one of ours; only messages and code names are kept (never options or URIs). */
export function mapMongoError(err: unknown, context: string, adminUser: string): Error {
  if (err instanceof RotatorError) return err;
  if (err instanceof MongoServerSelectionError || err instanceof MongoNetworkError) {
    return new TransientError(`${context}: ${err.message}`);
  }
  if (err instanceof MongoServerError) {
    const text = `${context}: ${err.message}${err.codeName ? ` (${err.codeName})` : ''}`;
    if (err.code === CODE_UNAUTHORIZED)
      return new AdminPrivilegeError(`admin "${adminUser}" may not ${text}`);
    if (err.hasErrorLabel?.('RetryableWriteError') || err.hasErrorLabel?.('TransientTransactionError')) {
      return new TransientError(text);
    }
    const mapped = new Error(text) as Error & { code?: number };
    mapped.code = err.code as number | undefined;
    return mapped;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new Error(`${context}: ${message}`);
}

/** A command that changes the server, and the database it runs in. */
interface MongoChange {
  db: string;
  command: Document;
}

/** A change as dry-run mode records it: as the shell would run it, pwd redacted. */
function showMongoChange({ db, command }: MongoChange): string {
  const shown = 'pwd' in command ? { ...command, pwd: REDACTED } : command;
  return `db.getSiblingDB(${JSON.stringify(db)}).runCommand(${JSON.stringify(shown)})`;
}

export class MongoConnector {
  private clientPromise?: Promise<MongoClient>;
  private client?: MongoClient;
  private closed = false;
  private factsCache?: MongoServerFacts;
  /** Auth database of the rotated logins. */
  readonly authDb: string;
  readonly adminAuthSource: string;
  /** Where changes go: the server, or (dry run) the recorder. The engine's one dry-run seam. */
  readonly writer: ChangeWriter<MongoChange, Document>;

  constructor(readonly conn: EngineConnection) {
    this.authDb = conn.database || 'admin';
    const src = conn.options?.authSource;
    this.adminAuthSource = typeof src === 'string' && src ? src : 'admin';
    this.writer = changeWriter(
      conn.dryRun,
      (c, context) => this.run(c.db, c.command, context),
      showMongoChange,
    );
  }

  get uri(): string {
    const host =
      this.conn.host.includes(':') && !this.conn.host.startsWith('[')
        ? `[${this.conn.host}]`
        : this.conn.host;
    return `mongodb://${host}:${this.conn.port}/`;
  }

  clientOptions(
    username: string,
    password: string,
    authSource: string,
    timeoutMs: number,
  ): MongoClientOptions {
    const opts: MongoClientOptions = {
      auth: { username, password },
      authSource,
      serverSelectionTimeoutMS: timeoutMs,
      connectTimeoutMS: timeoutMs,
      maxPoolSize: 2,
      appName: 'db-rotator',
      retryWrites: false,
      ...mongoTlsOptions(nodeTlsOptions(connectionTls(this.conn))),
    };
    const o = this.conn.options ?? {};
    for (const key of PASSTHROUGH_OPTIONS) {
      if (o[key] !== undefined) (opts as Record<string, unknown>)[key] = o[key];
    }
    return opts;
  }

  admin(): Promise<MongoClient> {
    if (this.closed) return Promise.reject(new Error('MongoDB engine is closed'));
    this.clientPromise ??= (async () => {
      const { username, password } = this.conn.admin;
      const opts = this.clientOptions(
        username,
        password,
        this.adminAuthSource,
        this.conn.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      );
      const mech = this.conn.options?.authMechanism;
      if (typeof mech === 'string') opts.authMechanism = mech as MongoClientOptions['authMechanism'];
      const client = new MongoClient(this.uri, opts);
      try {
        await client.connect();
      } catch (err) {
        this.clientPromise = undefined;
        await client.close().catch(() => undefined);
        if (codeOf(err) === CODE_AUTH_FAILED) {
          throw new ConfigError(
            `MongoDB rejected the admin login "${username}" (authSource ${this.adminAuthSource})`,
          );
        }
        throw mapMongoError(err, `connecting to MongoDB at ${this.conn.host}:${this.conn.port}`, username);
      }
      if (this.closed) {
        await client.close().catch(() => undefined);
        throw new Error('MongoDB engine is closed');
      }
      this.client = client;
      return client;
    })();
    return this.clientPromise;
  }

  async run(db: string, command: Document, context: string): Promise<Document> {
    const client = await this.admin();
    try {
      return await client.db(db).command(command);
    } catch (err) {
      throw mapMongoError(err, context, this.conn.admin.username);
    }
  }

  /**
   * The one way commands that change the server are sent: through the writer,
   * which in dry-run mode records them (pwd redacted) and answers NOT_EXECUTED.
   */
  mutate(db: string, command: Document, context: string): Promise<Document | NotExecuted> {
    return this.writer.write({ db, command }, context);
  }

  async facts(): Promise<MongoServerFacts> {
    this.factsCache ??= parseBuildInfo(await this.run('admin', { buildInfo: 1 }, 'read buildInfo'));
    return this.factsCache;
  }

  async supportedServer(): Promise<MongoServerFacts> {
    const s = await this.facts();
    if (!s.ferretdb && !versionAtLeast(s, MONGO_MIN_VERSION)) {
      throw new UnsupportedServerError(
        `MongoDB ${s.version} is not supported (need ${MONGO_MIN_VERSION.join('.')} or newer)`,
      );
    }
    return s;
  }

  checkAuthDb(): void {
    checkMongoDb(this.authDb, 'auth database');
    if (this.authDb === '$external') {
      throw new ConfigError(
        'users in $external authenticate externally (x.509, LDAP, Kerberos): no password to rotate',
      );
    }
  }

  async getUser(login: string, extra: Document = {}): Promise<MongoUserDoc | null> {
    const reply = await this.run(
      this.authDb,
      { usersInfo: { user: login, db: this.authDb }, showAuthenticationRestrictions: true, ...extra },
      `read user "${login}"@${this.authDb}`,
    );
    const users = (reply.users ?? []) as MongoUserDoc[];
    return users.find((u) => u.user === login && u.db === this.authDb) ?? null;
  }

  async requireUser(login: string, what = 'login', extra: Document = {}): Promise<MongoUserDoc> {
    const u = await this.getUser(login, extra);
    if (!u) throw new ConfigError(`${what} "${login}" does not exist in database "${this.authDb}"`);
    return u;
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    this.clientPromise = undefined;
    await client?.close().catch(() => undefined);
  }
}
