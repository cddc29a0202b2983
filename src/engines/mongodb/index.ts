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
 * EngineConnection.tls (../tls.ts): verified by default.
 */
import { type Document } from 'mongodb';
import { AdminPrivilegeError, ConfigError, UnsupportedStrategyError } from '../../errors';
import type { ResolvedStrategy } from '../../shared/types';
import { EngineAdapter } from '../adapter';
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
  checkMongoUser,
  compareUsers,
  createUserCommand,
  describeNeeded,
  displayVersion,
  MONGO_MIN_VERSION,
  neededPrivileges,
  specOf,
  updateUserCommand,
  versionAtLeast,
  type Privilege,
} from './users';
import {
  CODE_COMMAND_NOT_FOUND,
  CODE_USER_NOT_FOUND,
  CODES_USER_EXISTS,
  codeOf,
  mapMongoError,
  MongoConnector,
} from './connection';
import { verifyMongoLogin } from './verify';

export { parseCheck } from './verify';

export function createMongoEngine(conn: EngineConnection): MongoEngine {
  return new MongoEngine(conn);
}

/** A password appears in our statements only as itself (updateUser/createUser pwd). */
export { passwordItself as secretForms } from '../redaction';
/** The MongoDB engine (contract in ../types.ts); the admin connection is ./connection.ts. */
export class MongoEngine extends EngineAdapter<MongoConnector> implements Engine {
  readonly kind = 'mongodb' as const;
  private mongos?: boolean;

  constructor(conn: EngineConnection) {
    super(new MongoConnector(conn));
  }

  private get authDb(): string {
    return this.db.authDb;
  }

  // ------------------------------------------------------------ capabilities

  async describe(): Promise<ServerInfo> {
    const s = await this.db.facts();
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

  /** The checks, in order; throws the first problem. */
  protected async findBlockers(login: string, strategy: ResolvedStrategy): Promise<void> {
    checkMongoUser(login);
    this.db.checkAuthDb();
    await this.db.supportedServer();
    if (strategy === 'dual-password') {
      throw new UnsupportedStrategyError(
        'dual-password is not supported: a MongoDB user has exactly one password; use dual-user',
      );
    }
    const user = await this.db.requireUser(login);
    const status = await this.db.run(
      this.db.adminAuthSource,
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
        `admin "${this.db.conn.admin.username}" cannot rotate "${login}"@${this.authDb} with ${strategy}: missing ${missing.join(', ')}`,
      );
    }
  }

  async loginExists(login: string): Promise<boolean> {
    checkMongoUser(login);
    this.db.checkAuthDb();
    return (await this.db.getUser(login)) !== null;
  }

  // ------------------------------------------------------------ dual-user

  async createLoginLike(template: string, newLogin: string, password: string): Promise<void> {
    checkMongoUser(template, 'template login name');
    checkMongoUser(newLogin, 'new login name');
    this.db.checkAuthDb();
    if (template === newLogin) throw new ConfigError('the new login must differ from the template');
    if (newLogin === this.db.conn.admin.username && this.authDb === this.db.adminAuthSource) {
      throw new ConfigError(`refusing to overwrite the admin login "${newLogin}"`);
    }
    await this.db.supportedServer();
    const spec = specOf(await this.db.requireUser(template, 'template login'));
    let existing = await this.db.getUser(newLogin);
    if (!existing) {
      try {
        await this.db.mutate(
          this.authDb,
          createUserCommand(newLogin, password, spec),
          `create user "${newLogin}"`,
        );
        return;
      } catch (err) {
        // Created concurrently (or by an attempt whose reply was lost): re-sync it below.
        const code = (err as { code?: number }).code;
        if (code === undefined || !CODES_USER_EXISTS.has(code)) throw err;
        existing = await this.db.requireUser(newLogin, 'new login');
      }
    }
    await this.db.mutate(
      this.authDb,
      updateUserCommand(newLogin, password, spec, existing),
      `update user "${newLogin}"`,
    );
  }

  async comparePrivileges(reference: string, other: string): Promise<PrivilegeDiff> {
    checkMongoUser(reference);
    checkMongoUser(other);
    this.db.checkAuthDb();
    const ref = await this.db.requireUser(reference, 'login', { showPrivileges: true });
    const oth = await this.db.getUser(other, { showPrivileges: true });
    if (!oth && this.db.writer.plannedLogin(other)) {
      // A login a recorded createUser would make stands as one with no roles.
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
    this.db.checkAuthDb();
    if (login === this.db.conn.admin.username && this.authDb === this.db.adminAuthSource) {
      throw new ConfigError(`refusing to drop the admin login "${login}"`);
    }
    if (await this.db.getUser(login)) {
      try {
        // Dropped first, so nothing can log in again between killing and dropping.
        await this.db.mutate(
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
    this.db.checkAuthDb();
    await this.db.supportedServer();
    const user = await this.db.requireUser(login);
    const cmd: Document = { updateUser: login, pwd: password, digestPassword: true };
    // Keep the user's mechanisms (a SCRAM-SHA-1-only client must keep working).
    if (user.mechanisms && user.mechanisms.length > 0) cmd.mechanisms = user.mechanisms;
    cmd.writeConcern = { w: 'majority' };
    await this.db.mutate(this.authDb, cmd, `set the password of "${login}"`);
  }
  async verifyLogin(secret: Secret, options: VerifyOptions = {}): Promise<void> {
    await verifyMongoLogin(this.db, secret, options);
  }

  // ------------------------------------------------------------ sessions

  /** The login's connections and operations from $currentOp; null where the server has none (FerretDB 1.x). */
  private async currentOps(login: string): Promise<Document[] | null> {
    checkMongoUser(login);
    this.db.checkAuthDb();
    if ((await this.db.facts()).ferretdb) return null;
    this.mongos ??= (await this.db.run('admin', { hello: 1 }, 'run hello')).msg === 'isdbgrid';
    const client = await this.db.admin();
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
      throw mapMongoError(err, 'run $currentOp', this.db.conn.admin.username);
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
    await this.db.mutate(
      'admin',
      { killAllSessionsByPattern: [{ users: [{ user: login, db: this.authDb }] }] },
      `kill the sessions of "${login}"`,
    );
    for (const op of ops) {
      if (!op.active || op.opid === undefined) continue;
      try {
        await this.db.mutate(
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
}
