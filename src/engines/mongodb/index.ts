/**
 * MongoDB engine (official driver; also FerretDB, which speaks the wire
 * protocol). Strategies:
 * - dual-user: a second user in the same auth database with the template's
 *   roles, mechanisms, authentication restrictions and customData.
 * - single: updateUser {pwd}.
 * - dual-password: not available; a MongoDB user has one set of SCRAM
 *   credentials (one password).
 *
 * `conn.database` is the auth database of the rotated logins (default
 * "admin"); the admin authenticates against `options.authSource` (default
 * "admin"). Passwords are sent inside createUser/updateUser with
 * digestPassword (passwordDigestor "server"): MongoDB accepts no precomputed
 * SCRAM credentials there, and SCRAM-SHA-256 requires server-side digesting,
 * so use TLS. Clients are built with `auth` options, never a URI holding the
 * password.
 *
 * Sessions: MongoDB cannot close another client's connection. listSessions
 * reads `$currentOp` (idle connections included) filtered by effectiveUsers;
 * endSessions kills the login's sessions (killAllSessionsByPattern) and
 * running operations (killOp). A dropped user's open connections lose their
 * authorization at their next operation. FerretDB 1.x implements none of
 * this ($currentOp, killOp, killAllSessionsByPattern) and keeps a dropped
 * user's connections authenticated: there listSessions returns [] and
 * endSessions 0, and the drain relies on consumer heartbeats.
 *
 * Connection options (EngineConnection.options): authSource, authMechanism
 * (admin only), replicaSet, directConnection, tlsCertificateKeyFile. TLS is
 * EngineConnection.tls (./tls.ts): verified by default.
 */
import {
  BSON,
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
  UnsupportedStrategyError,
  VerificationError,
} from '../../errors';
import { assertVerifyCheck } from '../verify-checks';
import { connectionTls, mongoTlsOptions, nodeTlsOptions } from '../tls';
import type { ResolvedStrategy } from '../../shared/types';
import { collectBlockers } from '../checks';
import { REDACTED } from '../redaction';
import type {
  Engine,
  PasswordChange,
  EngineConnection,
  PrivilegeDiff,
  Secret,
  ServerInfo,
  SessionInfo,
  VerifyOptions,
} from '../types';
import {
  allows,
  checkMongoDb,
  checkMongoUser,
  compareUsers,
  createUserCommand,
  describeNeeded,
  displayVersion,
  MONGO_MIN_VERSION,
  neededPrivileges,
  parseBuildInfo,
  specOf,
  updateUserCommand,
  versionAtLeast,
  type MongoServerFacts,
  type MongoUserDoc,
  type Privilege,
} from './users';

const DEFAULT_TIMEOUT_MS = 5000;
const VERIFY_TIMEOUT_MS = 3000;

const CODE_UNAUTHORIZED = 13;
const CODE_AUTH_FAILED = 18;
const CODE_USER_NOT_FOUND = 11;
const CODE_COMMAND_NOT_FOUND = 59;
/** "User ... already exists" (createUser), on MongoDB and FerretDB; 11000 from older servers. */
const CODES_USER_EXISTS = new Set([51003, 11000]);

/** TLS comes from EngineConnection.tls (./tls.ts), never from these free-form options. */
const PASSTHROUGH_OPTIONS = ['replicaSet', 'directConnection', 'tlsCertificateKeyFile'] as const;

export function createMongoEngine(conn: EngineConnection): MongoEngine {
  return new MongoEngine(conn);
}

/** The forms in which a password can appear in our commands: itself (updateUser/createUser pwd). */
export function secretForms(password: string): string[] {
  return password ? [password] : [];
}

const codeOf = (err: unknown): number | undefined =>
  err instanceof MongoServerError && typeof err.code === 'number' ? err.code : undefined;

/** A driver error as one of ours; only messages and code names are kept (never options or URIs). */
function mapMongoError(err: unknown, context: string, adminUser: string): Error {
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

export class MongoEngine implements Engine {
  readonly kind = 'mongodb' as const;
  private clientPromise?: Promise<MongoClient>;
  private client?: MongoClient;
  private closed = false;
  private factsCache?: MongoServerFacts;
  private mongos?: boolean;
  /** Auth database of the rotated logins. */
  private readonly authDb: string;
  private readonly adminAuthSource: string;

  constructor(private readonly conn: EngineConnection) {
    this.authDb = conn.database || 'admin';
    const src = conn.options?.authSource;
    this.adminAuthSource = typeof src === 'string' && src ? src : 'admin';
  }

  private get uri(): string {
    const host =
      this.conn.host.includes(':') && !this.conn.host.startsWith('[')
        ? `[${this.conn.host}]`
        : this.conn.host;
    return `mongodb://${host}:${this.conn.port}/`;
  }

  private clientOptions(
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

  private admin(): Promise<MongoClient> {
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

  private async run(db: string, command: Document, context: string): Promise<Document> {
    const client = await this.admin();
    try {
      return await client.db(db).command(command);
    } catch (err) {
      throw mapMongoError(err, context, this.conn.admin.username);
    }
  }

  /**
   * The one way commands that change the server are sent; in dry-run mode
   * they are recorded instead (pwd redacted) and answer { ok: 1 }.
   */
  private async mutate(db: string, command: Document, context: string): Promise<Document> {
    const recorder = this.conn.dryRun;
    if (!recorder) return this.run(db, command, context);
    const shown = 'pwd' in command ? { ...command, pwd: REDACTED } : command;
    recorder.record(`db.getSiblingDB(${JSON.stringify(db)}).runCommand(${JSON.stringify(shown)})`);
    return { ok: 1 };
  }

  private async facts(): Promise<MongoServerFacts> {
    this.factsCache ??= parseBuildInfo(await this.run('admin', { buildInfo: 1 }, 'read buildInfo'));
    return this.factsCache;
  }

  private async supportedServer(): Promise<MongoServerFacts> {
    const s = await this.facts();
    if (!s.ferretdb && !versionAtLeast(s, MONGO_MIN_VERSION)) {
      throw new UnsupportedServerError(
        `MongoDB ${s.version} is not supported (need ${MONGO_MIN_VERSION.join('.')} or newer)`,
      );
    }
    return s;
  }

  private checkAuthDb(): void {
    checkMongoDb(this.authDb, 'auth database');
    if (this.authDb === '$external') {
      throw new ConfigError(
        'users in $external authenticate externally (x.509, LDAP, Kerberos): no password to rotate',
      );
    }
  }

  private async getUser(login: string, extra: Document = {}): Promise<MongoUserDoc | null> {
    const reply = await this.run(
      this.authDb,
      { usersInfo: { user: login, db: this.authDb }, showAuthenticationRestrictions: true, ...extra },
      `read user "${login}"@${this.authDb}`,
    );
    const users = (reply.users ?? []) as MongoUserDoc[];
    return users.find((u) => u.user === login && u.db === this.authDb) ?? null;
  }

  private async requireUser(login: string, what = 'login', extra: Document = {}): Promise<MongoUserDoc> {
    const u = await this.getUser(login, extra);
    if (!u) throw new ConfigError(`${what} "${login}" does not exist in database "${this.authDb}"`);
    return u;
  }

  // ------------------------------------------------------------ capabilities

  async describe(): Promise<ServerInfo> {
    const s = await this.facts();
    const old = !s.ferretdb && !versionAtLeast(s, MONGO_MIN_VERSION);
    const no = (reason: string) => ({ supported: false, reason });
    const tooOld = `MongoDB ${s.version} is too old (need ${MONGO_MIN_VERSION.join('.')}+)`;
    const dualUserReason = s.ferretdb
      ? 'createUser with the template mechanisms (FerretDB: users have no roles, roles are not enforced)'
      : 'createUser with the template roles, mechanisms and authentication restrictions';
    return {
      engine: 'mongodb',
      version: displayVersion(s),
      variant: s.ferretdb ? 'ferretdb' : 'mongodb',
      strategies: {
        'dual-password': no('a MongoDB user has exactly one password (one set of SCRAM credentials)'),
        'dual-user': old ? no(tooOld) : { supported: true, reason: dualUserReason },
        single: old ? no(tooOld) : { supported: true, reason: 'updateUser replaces the password in place' },
      },
    };
  }

  async check(login: string, strategy: ResolvedStrategy): Promise<RotatorError[]> {
    return collectBlockers(() => this.preflight(login, strategy));
  }

  /** The checks, in order; throws the first problem. */
  private async preflight(login: string, strategy: ResolvedStrategy): Promise<void> {
    checkMongoUser(login);
    this.checkAuthDb();
    await this.supportedServer();
    if (strategy === 'dual-password') {
      throw new UnsupportedStrategyError(
        'dual-password is not supported: a MongoDB user has exactly one password; use dual-user',
      );
    }
    const user = await this.requireUser(login);
    const status = await this.run(
      this.adminAuthSource,
      { connectionStatus: 1, showPrivileges: true },
      'read the admin privileges',
    );
    const privileges = (status.authInfo as { authenticatedUserPrivileges?: Privilege[] } | undefined)
      ?.authenticatedUserPrivileges;
    // FerretDB reports no privileges (and enforces none): nothing to check there.
    if (!Array.isArray(privileges)) return;
    const needed = neededPrivileges(
      strategy,
      this.authDb,
      (user.roles ?? []).map((r) => r.db),
    );
    const missing = needed.filter((n) => !allows(privileges, n.action, n.target)).map(describeNeeded);
    if (missing.length > 0) {
      throw new AdminPrivilegeError(
        `admin "${this.conn.admin.username}" cannot rotate "${login}"@${this.authDb} with ${strategy}: missing ${missing.join(', ')}`,
      );
    }
  }

  async loginExists(login: string): Promise<boolean> {
    checkMongoUser(login);
    this.checkAuthDb();
    return (await this.getUser(login)) !== null;
  }

  // ------------------------------------------------------------ dual-user

  async createLoginLike(template: string, newLogin: string, password: string): Promise<void> {
    checkMongoUser(template, 'template login name');
    checkMongoUser(newLogin, 'new login name');
    this.checkAuthDb();
    if (template === newLogin) throw new ConfigError('the new login must differ from the template');
    if (newLogin === this.conn.admin.username && this.authDb === this.adminAuthSource) {
      throw new ConfigError(`refusing to overwrite the admin login "${newLogin}"`);
    }
    await this.supportedServer();
    const spec = specOf(await this.requireUser(template, 'template login'));
    let existing = await this.getUser(newLogin);
    if (!existing) {
      try {
        await this.mutate(
          this.authDb,
          createUserCommand(newLogin, password, spec),
          `create user "${newLogin}"`,
        );
        return;
      } catch (err) {
        // Created concurrently (or by an attempt whose reply was lost): re-sync it below.
        const code = (err as { code?: number }).code;
        if (code === undefined || !CODES_USER_EXISTS.has(code)) throw err;
        existing = await this.requireUser(newLogin, 'new login');
      }
    }
    await this.mutate(
      this.authDb,
      updateUserCommand(newLogin, password, spec, existing),
      `update user "${newLogin}"`,
    );
  }

  async comparePrivileges(reference: string, other: string): Promise<PrivilegeDiff> {
    checkMongoUser(reference);
    checkMongoUser(other);
    this.checkAuthDb();
    const ref = await this.requireUser(reference, 'login', { showPrivileges: true });
    const oth = await this.getUser(other, { showPrivileges: true });
    if (!oth && this.conn.dryRun) {
      // Dry run: a login the recorded createUser would make stands as one with no roles.
      return compareUsers(ref, {
        user: other,
        db: this.authDb,
        roles: [],
        mechanisms: [],
        ...(ref.inheritedPrivileges ? { inheritedPrivileges: [] } : {}),
      });
    }
    if (!oth) return { missing: [`login "${other}" does not exist in database "${this.authDb}"`], extra: [] };
    return compareUsers(ref, oth);
  }

  async dropLogin(login: string, _heir?: string): Promise<void> {
    // MongoDB users own no objects: there is nothing to hand to an heir.
    checkMongoUser(login);
    this.checkAuthDb();
    if (login === this.conn.admin.username && this.authDb === this.adminAuthSource) {
      throw new ConfigError(`refusing to drop the admin login "${login}"`);
    }
    if (await this.getUser(login)) {
      try {
        // Dropped first, so nothing can log in again between killing and dropping.
        await this.mutate(
          this.authDb,
          { dropUser: login, writeConcern: { w: 'majority' } },
          `drop user "${login}"`,
        );
      } catch (err) {
        if ((err as { code?: number }).code !== CODE_USER_NOT_FOUND) throw err;
      }
    }
    await this.endSessions(login);
  }

  // ------------------------------------------------------------ passwords

  async changePassword(login: string, change: PasswordChange): Promise<void> {
    if (change.mode !== 'replace') {
      throw new UnsupportedStrategyError(
        'dual-password is not supported: a MongoDB user has exactly one password; use dual-user',
      );
    }
    const { password } = change;
    checkMongoUser(login);
    this.checkAuthDb();
    await this.supportedServer();
    const user = await this.requireUser(login);
    const cmd: Document = { updateUser: login, pwd: password, digestPassword: true };
    // Keep the user's mechanisms (a SCRAM-SHA-1-only client must keep working).
    if (user.mechanisms && user.mechanisms.length > 0) cmd.mechanisms = user.mechanisms;
    cmd.writeConcern = { w: 'majority' };
    await this.mutate(this.authDb, cmd, `set the password of "${login}"`);
  }

  // ------------------------------------------------------------ verification

  async verifyLogin(secret: Secret, options: VerifyOptions = {}): Promise<void> {
    const user = secret.username;
    checkMongoUser(user);
    this.checkAuthDb();
    const checks = (options.checks ?? []).map((check, i) => ({
      check,
      i,
      ...parseCheck(check, i, this.authDb),
    }));
    const client = new MongoClient(
      this.uri,
      this.clientOptions(user, secret.password, this.authDb, this.conn.connectTimeoutMs ?? VERIFY_TIMEOUT_MS),
    );
    try {
      try {
        await client.connect();
        await client.db(this.authDb).command({ ping: 1 });
      } catch (err) {
        if (codeOf(err) === CODE_AUTH_FAILED) {
          throw new VerificationError(`login failed for ${user}@${this.authDb}: authentication failed`);
        }
        if (err instanceof MongoServerSelectionError || err instanceof MongoNetworkError) {
          throw new TransientError(
            `cannot reach MongoDB at ${this.conn.host}:${this.conn.port}: ${err.message}`,
          );
        }
        throw new VerificationError(`login failed for ${user}@${this.authDb}: ${(err as Error).message}`);
      }
      for (const { check, i, db, command } of checks) {
        try {
          await client.db(db).command(command);
        } catch (err) {
          const e = err as { message?: string; codeName?: string };
          throw new VerificationError(
            `check ${i + 1} (${check}) failed for ${user}: ${e.message ?? String(err)}${e.codeName ? ` (${e.codeName})` : ''}`,
          );
        }
      }
    } finally {
      await client.close().catch(() => undefined);
    }
  }

  // ------------------------------------------------------------ sessions

  /** The login's connections and operations from $currentOp; null where the server has none (FerretDB 1.x). */
  private async currentOps(login: string): Promise<Document[] | null> {
    checkMongoUser(login);
    this.checkAuthDb();
    if ((await this.facts()).ferretdb) return null;
    this.mongos ??= (await this.run('admin', { hello: 1 }, 'run hello')).msg === 'isdbgrid';
    const client = await this.admin();
    // On mongos, client connections are mongos-local; without localOps only shard operations are listed.
    const stage = {
      allUsers: true,
      idleConnections: true,
      idleSessions: false,
      ...(this.mongos ? { localOps: true } : {}),
    };
    try {
      return await client
        .db('admin')
        .aggregate([
          { $currentOp: stage },
          { $match: { effectiveUsers: { $elemMatch: { user: login, db: this.authDb } } } },
        ])
        .toArray();
    } catch (err) {
      if (codeOf(err) === CODE_COMMAND_NOT_FOUND) return null;
      throw mapMongoError(err, 'run $currentOp', this.conn.admin.username);
    }
  }

  async listSessions(login: string): Promise<SessionInfo[]> {
    const ops = await this.currentOps(login);
    return (ops ?? []).map((op) => ({
      id: String(op.connectionId ?? op.opid ?? op.desc ?? ''),
      username: login,
      clientAddress: typeof op.client === 'string' ? op.client : undefined,
      ageSeconds: typeof op.secs_running === 'number' ? op.secs_running : undefined,
      state: op.active ? `active: ${String(op.op ?? '')}` : 'idle',
    }));
  }

  /** Ends every session of `login`; returns how many it ended. Idempotent. (dropLogin, tests.) */
  async endSessions(login: string): Promise<number> {
    const ops = await this.currentOps(login);
    if (ops === null) return 0; // FerretDB 1.x: no killOp / killAllSessionsByPattern either
    await this.mutate(
      'admin',
      { killAllSessionsByPattern: [{ users: [{ user: login, db: this.authDb }] }] },
      `kill the sessions of "${login}"`,
    );
    for (const op of ops) {
      if (!op.active || op.opid === undefined) continue;
      try {
        await this.mutate(
          'admin',
          { killOp: 1, op: op.opid },
          `kill operation ${String(op.opid)} of "${login}"`,
        );
      } catch (err) {
        if (err instanceof AdminPrivilegeError) throw err; // an operation that already ended is fine
      }
    }
    return ops.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    this.clientPromise = undefined;
    await client?.close().catch(() => undefined);
  }
}

/**
 * A verification check: an Extended JSON command document run against the
 * auth database, e.g. {"find": "orders", "limit": 1}; a "$db" field runs it
 * against another database.
 */
export function parseCheck(check: string, i: number, defaultDb: string): { db: string; command: Document } {
  let doc: unknown;
  try {
    doc = BSON.EJSON.parse(check, { relaxed: true });
  } catch {
    throw new ConfigError(`check ${i + 1} is not a JSON command document: ${check}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || Object.keys(doc).length === 0) {
    throw new ConfigError(`check ${i + 1} is not a JSON command document: ${check}`);
  }
  const command = { ...(doc as Document) };
  assertVerifyCheck('mongodb', JSON.stringify(command), i);
  let db = defaultDb;
  if ('$db' in command) {
    if (typeof command.$db !== 'string') throw new ConfigError(`check ${i + 1}: "$db" must be a string`);
    db = command.$db;
    delete command.$db;
    checkMongoDb(db, `check ${i + 1} database`);
  }
  return { db, command };
}
