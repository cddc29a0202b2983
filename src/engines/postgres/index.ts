/**
 * PostgreSQL engine (11+). Strategies: dual-user (a second role with cloned
 * privileges; the default) and single (ALTER ROLE ... PASSWORD). PostgreSQL
 * keeps one password per role, so dual-password is not available.
 *
 * Passwords reach the server only as SCRAM-SHA-256 verifiers computed here.
 *
 * Grace window: createLoginLike adds default privileges in both directions
 * (FOR ROLE template ... TO new and FOR ROLE new ... TO template, global, in
 * every database in scope, WITH GRANT OPTION), so whatever either login
 * creates while both are live is usable by the other; objects the template
 * already owns are granted to the new login (ALL WITH GRANT OPTION) until
 * dropLogin(template, heir=new) moves them with REASSIGN OWNED.
 */
import { Client, escapeLiteral } from 'pg';
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
import { lostConnection } from '../transient';
import type { ResolvedStrategy } from '../../shared/types';
import type {
  Engine,
  EngineConnection,
  PasswordChange,
  PrivilegeDiff,
  Secret,
  ServerInfo,
  SessionInfo,
  VerifyOptions,
} from '../types';
import { readObjectPrivileges, readSharedPrivileges, type Query } from './privileges';
import { emptyRole, readRole, type RoleInfo } from './roles';
import { cloneLogin, compareLogins } from './clone';
import { leftoverRevokeStatements } from './grants';
import { EngineAdapter } from '../adapter';
import { NOT_EXECUTED } from '../recording';
import { holdingsByDatabase, preflightGaps, unreachableHoldings } from './preflight';
import { drainSessions, endSessions, listSessions } from './sessions';
import { hasSqlState, mapPgError, PgConnector, quoteName, scopeDatabases, type ServerVersion } from './sql';
import { scramSha256Verifier } from './scram';

export { closeAdminPools } from './admin-pools';
export const POSTGRES_MIN_VERSION_NUM = 110000;

export function createPostgresEngine(conn: EngineConnection): PostgresEngine {
  return new PostgresEngine(conn);
}

/** A password appears in our statements only as itself (SCRAM verifiers are salted; ./sql.ts redacts them). */
export { passwordItself as secretForms } from '../redaction';

export class PostgresEngine extends EngineAdapter<PgConnector> implements Engine {
  readonly kind = 'postgres' as const;
  private version?: ServerVersion;

  constructor(private readonly conn: EngineConnection) {
    super(new PgConnector(conn));
  }

  private get home(): string {
    return this.db.homeDatabase;
  }

  private query(sql: string, params: unknown[], context: string) {
    return this.db.query(this.home, sql, params, context);
  }

  private homeQuery(context: string): Query {
    return (sql, params) => this.db.query(this.home, sql, params, context);
  }

  private async server(): Promise<ServerVersion> {
    if (!this.version) {
      const [row] = await this.query(
        `SELECT current_setting('server_version_num')::int AS num, current_setting('server_version') AS text, version() AS full`,
        [],
        'reading server version',
      );
      const full = String(row?.full ?? '');
      if (/cockroach|yugabyte/i.test(full)) {
        throw new UnsupportedServerError(
          `${full.split(' ').slice(0, 3).join(' ')} is not PostgreSQL; not supported`,
        );
      }
      this.version = { num: Number(row?.num), text: String(row?.text ?? '').split(' ')[0]! };
    }
    if (this.version.num < POSTGRES_MIN_VERSION_NUM) {
      throw new UnsupportedServerError(`PostgreSQL ${this.version.text} is not supported (need 11 or newer)`);
    }
    return this.version;
  }

  private async adminRole(): Promise<RoleInfo> {
    const [row] = await this.query('SELECT current_user AS name', [], 'reading admin role');
    const role = await readRole(this.homeQuery('reading admin role'), String(row?.name));
    if (!role) throw new ConfigError('admin role not found');
    return role;
  }

  private async requireRole(name: string, what: string): Promise<RoleInfo> {
    quoteName(name, `${what} name`);
    const role = await readRole(this.homeQuery(`reading ${what} "${name}"`), name);
    if (!role) throw new ConfigError(`${what} "${name}" does not exist`);
    return role;
  }

  async describe(): Promise<ServerInfo> {
    const v = await this.server();
    return {
      engine: 'postgres',
      version: v.text,
      variant: 'postgresql',
      strategies: {
        'dual-user': {
          supported: true,
          reason: 'a second role gets the cloned privileges; the old one is dropped after grace',
        },
        single: { supported: true, reason: 'ALTER ROLE ... PASSWORD (old clients fail until they refresh)' },
        'dual-password': { supported: false, reason: 'PostgreSQL has one password per role' },
      },
    };
  }

  async loginExists(login: string): Promise<boolean> {
    quoteName(login);
    const rows = await this.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [login], 'looking up login');
    return rows.length > 0;
  }

  // ------------------------------------------------------------ checks

  protected async findBlockers(
    login: string,
    strategy: ResolvedStrategy,
    found: RotatorError[],
  ): Promise<void> {
    const version = await this.server();
    if (strategy === 'dual-password') {
      found.push(
        new UnsupportedStrategyError('dual-password is not supported: PostgreSQL has one password per role'),
      );
      return;
    }
    const target = await this.requireRole(login, 'login');
    const admin = await this.adminRole();
    const missing = await preflightGaps(this.db, target, admin, version, strategy);
    if (missing.length > 0) {
      const shown = missing.slice(0, 20).join('; ');
      const more = missing.length > 20 ? `; and ${missing.length - 20} more` : '';
      found.push(
        new AdminPrivilegeError(
          `admin "${admin.name}" cannot rotate "${login}" with ${strategy}: missing ${shown}${more}`,
        ),
      );
    }
    if (strategy === 'dual-user') {
      found.push(...(await unreachableHoldings(this.db, target)).map((m) => new ConfigError(m)));
    }
  }

  // ------------------------------------------------------------ dual-user clone

  async createLoginLike(template: string, newLogin: string, password: string): Promise<void> {
    quoteName(template, 'template login name');
    quoteName(newLogin, 'new login name');
    if (template === newLogin) throw new ConfigError('the new login must differ from the template');
    const version = await this.server();
    const source = await this.requireRole(template, 'template login');
    const admin = await this.adminRole();
    if (source.superuser && !admin.superuser) {
      throw new AdminPrivilegeError(
        `admin "${admin.name}" is not a superuser and cannot clone superuser "${template}"`,
      );
    }
    await cloneLogin(this.db, { source, admin, newLogin, verifier: scramSha256Verifier(password), version });
  }

  // ------------------------------------------------------------ comparison

  async comparePrivileges(reference: string, other: string): Promise<PrivilegeDiff> {
    const version = await this.server();
    const ref = await this.requireRole(reference, 'login');
    // A login a recorded statement would create stands as one with nothing granted.
    const planned = this.db.writer.plannedLogin(other) && !(await this.loginExists(other));
    const ghost = planned ? emptyRole(other) : undefined;
    const oth = ghost ?? (await this.requireRole(other, 'login'));
    return compareLogins(this.db, version, ref, oth);
  }

  // ------------------------------------------------------------ drop

  async dropLogin(login: string, heir?: string): Promise<void> {
    const loginSql = quoteName(login);
    const heirSql = heir === undefined ? undefined : quoteName(heir, 'heir login name');
    const version = await this.server();
    const role = await readRole(this.homeQuery('looking up login'), login);
    if (!role) return;
    const admin = await this.adminRole();
    if (role.oid === admin.oid) throw new ConfigError(`refusing to drop the admin login "${login}"`);
    if (heir !== undefined) {
      if (heir === login) throw new ConfigError('a login cannot be its own heir');
      // The heir may be a login a recorded apply step would create.
      if (!this.db.writer.plannedLogin(heir) || (await this.loginExists(heir))) {
        await this.requireRole(heir, 'heir login');
      }
    } else {
      const [owned] = await this.query(
        `SELECT count(*)::int AS n FROM pg_shdepend
          WHERE refclassid = 'pg_authid'::regclass AND refobjid = $1::oid AND deptype = 'o'
            AND classid <> 'pg_default_acl'::regclass`,
        [role.oid],
        'counting owned objects',
      );
      if (Number(owned?.n) > 0) {
        throw new ConfigError(
          `login "${login}" owns ${owned?.n} objects; give an heir to move them to (refusing to drop them)`,
        );
      }
    }

    // No new sessions from here on, so the drained state cannot change under us.
    const disabled = await this.db.execute(
      this.home,
      [`ALTER ROLE ${loginSql} NOLOGIN`],
      `disabling login "${login}"`,
    );
    await drainSessions(this.db, login);
    // Recorded, not done: tell what the recorded REASSIGN/DROP OWNED would move or miss.
    if (disabled === NOT_EXECUTED) await this.noteHoldings(role, heir);
    for (const database of await scopeDatabases(this.db, [role.oid])) {
      if (!database.connectable) continue;
      const context = `moving objects of "${login}" in database ${database.name}`;
      await this.db.transaction(database.name, context, async (client) => {
        const q: Query = async (sql, params) => (await client.query(sql, params)).rows;
        const dropped = await this.db.execute(
          database.name,
          [...(heirSql ? [`REASSIGN OWNED BY ${loginSql} TO ${heirSql}`] : []), `DROP OWNED BY ${loginSql}`],
          context,
          client,
        );
        const leftovers = await readObjectPrivileges(q, database.name, [role.oid], null);
        const shared =
          database.name === this.home
            ? await readSharedPrivileges(q, version.num, [role.oid], null)
            : undefined;
        let facts = [...leftovers.reference, ...(shared?.reference ?? [])];
        // DROP OWNED was recorded, not run; what it would leave are the grants not made by the owner.
        if (dropped === NOT_EXECUTED) facts = facts.filter((f) => !f.grantedByOwner);
        await this.db.execute(database.name, leftoverRevokeStatements(facts, loginSql), context, client);
      });
    }
    await drainSessions(this.db, login);
    try {
      await this.db.execute(this.home, [`DROP ROLE IF EXISTS ${loginSql}`], `dropping login "${login}"`);
    } catch (err) {
      if (hasSqlState(err, '2BP01')) {
        const detail = (err as { detail?: string }).detail;
        throw new ConfigError(
          `cannot drop login "${login}": objects still depend on it${detail ? ` (${detail.replace(/\n/g, '; ')})` : ''}`,
        );
      }
      throw err;
    }
  }

  /** For a recorded dropLogin: what it would move or could not reach, per database. */
  private async noteHoldings(role: RoleInfo, heir: string | undefined): Promise<void> {
    for (const h of await holdingsByDatabase(this.db, role.oid)) {
      if (!h.connectable) {
        this.db.writer.note(
          `database ${h.database} does not allow connections: objects and privileges of "${role.name}" there stay, and DROP ROLE would fail`,
        );
      } else if (h.owned > 0) {
        this.db.writer.note(
          `"${role.name}" owns ${h.owned} object(s) in database ${h.database}; REASSIGN OWNED gives them to ${heir === undefined ? '(no heir: refused)' : `"${heir}"`}`,
        );
      }
    }
  }

  // ------------------------------------------------------------ passwords

  async changePassword(login: string, change: PasswordChange): Promise<void> {
    if (change.mode !== 'replace') {
      throw new UnsupportedStrategyError(
        'dual-password is not supported: PostgreSQL has one password per role',
      );
    }
    const { password } = change;
    const loginSql = quoteName(login);
    await this.server();
    await this.requireRole(login, 'login');
    await this.db.execute(
      this.home,
      [`ALTER ROLE ${loginSql} PASSWORD ${escapeLiteral(scramSha256Verifier(password))}`],
      `setting the password of "${login}"`,
    );
  }

  async verifyLogin(secret: Secret, options: VerifyOptions = {}): Promise<void> {
    quoteName(secret.username);
    const user = secret.username;
    const client = new Client(this.db.clientOptions(this.home, user, secret.password));
    client.on('error', () => undefined);
    try {
      try {
        await client.connect();
        await client.query('SELECT 1');
      } catch (err) {
        if (hasSqlState(err, '28P01', '28000')) {
          throw new VerificationError(`login failed for ${user}: ${(err as { code: string }).code}`);
        }
        const mapped = mapPgError(err, `logging in as ${user}`, false);
        if (mapped instanceof TransientError || mapped instanceof ConfigError) throw mapped;
        throw new VerificationError(
          `login failed for ${user}: ${(err as { code?: string }).code ?? mapped.message}`,
        );
      }
      const checks = options.checks ?? [];
      checks.forEach((check, i) => assertVerifyCheck('postgres', check, i));
      // One statement each (extended protocol refuses a second one), each in its own
      // read-only transaction, rolled back.
      for (const [i, check] of checks.entries()) {
        try {
          await client.query('BEGIN TRANSACTION READ ONLY');
          await client.query({ text: check, queryMode: 'extended' } as never);
        } catch (err) {
          const lost = lostConnection(mapPgError(err, `check ${i + 1} as ${user}`, false));
          if (lost) throw lost;
          const e = err as { code?: string; message?: string };
          throw new VerificationError(
            `check ${i + 1} (${check}) failed for ${user}: ${e.message ?? String(err)}${e.code ? ` (SQLSTATE ${e.code})` : ''}`,
          );
        } finally {
          await client.query('ROLLBACK').catch(() => undefined);
        }
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  // ------------------------------------------------------------ sessions

  async listSessions(login: string): Promise<SessionInfo[]> {
    quoteName(login);
    return listSessions(this.db, login);
  }

  /** Ends every session of `login`; returns how many it ended. Idempotent. (Tests; dropLogin drains.) */
  async endSessions(login: string): Promise<number> {
    quoteName(login);
    return endSessions(this.db, login);
  }
}
