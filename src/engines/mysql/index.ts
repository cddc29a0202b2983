/**
 * MySQL (5.7.8+) and MariaDB (10.2+) engine, driver mysql2/promise.
 *
 * Strategies: dual-password on MySQL 8.0.14+ (RETAIN CURRENT PASSWORD /
 * DISCARD OLD PASSWORD) and MariaDB 10.4+ (an authentication chain of two
 * mysql_native_password hashes); dual-user everywhere; single always.
 *
 * Logins (./accounts.ts): a bare login is the user name clients send
 * ('@' is an ordinary character in it); its host is `options.accountHost`,
 * else the one existing account with that user name, else '%'.
 * `'user'@'host'` (SQL quoting) names both explicitly. Logins made by
 * createLoginLike get the template's host. The processlist names sessions by
 * user name only, so sessions of 'app'@'a' and 'app'@'b' look the same.
 *
 * Passwords (./auth.ts, ./passwords.ts): MariaDB and
 * mysql_native_password accounts get hashes computed here; MySQL RETAIN
 * CURRENT PASSWORD and caching_sha2_password need the plaintext in the
 * statement. Non-password plugins (unix_socket, ed25519, gssapi, pam...) are
 * refused, never replaced.
 *
 * createLoginLike clones the attributes of SHOW CREATE USER (REQUIRE,
 * resource limits, password lifetime, account lock; on MySQL also password
 * options, COMMENT/ATTRIBUTE and default roles) and every line of SHOW
 * GRANTS (global, database, table, column and routine privileges, grant
 * options, proxy grants, roles with admin option, the default role).
 * Privileges the new login has beyond the template are revoked, so retries
 * converge.
 *
 * Accounts own no objects here, so dropLogin has nothing to hand to an heir;
 * but views and routines (SQL SECURITY DEFINER), triggers and events run as
 * their DEFINER and break once it is dropped. preflight (dual-user) and
 * dropLogin refuse such logins with a ConfigError listing the objects;
 * re-pointing DEFINERs is out of scope.
 */
import { escape } from 'mysql2/promise';
import { AdminPrivilegeError, ConfigError, RotatorError, UnsupportedStrategyError } from '../../errors';
import { EngineAdapter } from '../adapter';
import { NOT_EXECUTED } from '../recording';
import type { ResolvedStrategy } from '../../shared/types';
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
  checkName,
  describeAccount,
  MAX_HOST_CHARS,
  parseLogin,
  parsed,
  quoteAccount,
  sameAccount,
  type Account,
} from './accounts';
import { adminGaps } from './admin';
import { mariadbIdentifiedClause, mysqlIdentifiedClause, nativePasswordHash } from './auth';
import { hasErrno, MysqlConnector } from './connection';
import {
  describeGrant,
  diffGrants,
  grantStatements,
  parseGrants,
  revokeStatements,
  type GrantFact,
} from './grants';
import * as passwords from './passwords';
import {
  ACCOUNT_LOCK_VERSION,
  passwordPlugin,
  readServerVersion,
  strategiesFor,
  type ServerVersion,
} from './server';
import { drainUser, endUserSessions, listUserSessions } from './sessions';
import { attributeClauses, attributeFacts, parseCreateUser, type UserDefinition } from './user';
import { verifyMysqlLogin } from './verify';
import { definerProblem } from './definers';

export { parseServerVersion, strategiesFor } from './server';

/** The engine factory for EngineKind "mysql" (MySQL and MariaDB). */
export function createMysqlEngine(conn: EngineConnection): MysqlEngine {
  return new MysqlEngine(conn);
}

/** The forms in which a password can appear in our statements: itself and its mysql_native_password hash (with and without "*"). */
export function secretForms(password: string): string[] {
  if (!password) return [];
  return [password, nativePasswordHash(password), nativePasswordHash(password).slice(1)];
}

/** Longest user name any supported server stores; verifyLogin checks names without asking the server. */
const MAX_ANY_USER_CHARS = 128;

export class MysqlEngine extends EngineAdapter<MysqlConnector> implements Engine {
  readonly kind = 'mysql' as const;
  private readonly accountHost?: string;
  private server?: ServerVersion;

  constructor(conn: EngineConnection) {
    super(new MysqlConnector(conn));
    const host = conn.options?.accountHost;
    if (host !== undefined) {
      if (typeof host !== 'string') throw new ConfigError('option accountHost must be a string');
      checkName(host, MAX_HOST_CHARS, 'option accountHost', true);
      this.accountHost = host;
    }
  }

  private async version(): Promise<ServerVersion> {
    this.server ??= await readServerVersion(this.db);
    return this.server;
  }

  /** What ./passwords.ts needs. */
  private async access(): Promise<passwords.AccountAccess> {
    return { db: this.db, server: await this.version(), definition: (a) => this.definition(a) };
  }

  async describe(): Promise<ServerInfo> {
    const v = await this.version();
    return {
      engine: 'mysql',
      version: v.text,
      variant: v.variant,
      strategies: strategiesFor(v.variant, v.num),
    };
  }

  // ------------------------------------------------------------ accounts

  /** The account a login string names, and whether it exists. */
  private async resolve(login: string, what = 'login'): Promise<{ account: Account; exists: boolean }> {
    const v = await this.version();
    const spec = parseLogin(login, v.maxUserChars, `${what} name`);
    const host = spec.host ?? this.accountHost;
    if (host !== undefined) {
      const account = { user: spec.user, host };
      return { account, exists: await this.accountExists(account) };
    }
    const rows = await this.db.query(
      `SELECT Host AS host FROM mysql.user WHERE User = ?${v.variant === 'mariadb' ? " AND is_role <> 'Y'" : ''} ORDER BY Host`,
      [spec.user],
      `looking up ${what} ${escape(spec.user)}`,
    );
    if (rows.length > 1) {
      const hosts = rows.map((r) => escape(String(r.host))).join(', ');
      throw new ConfigError(
        `${what} ${escape(spec.user)} exists for several hosts (${hosts}); set option accountHost or write the login as 'user'@'host'`,
      );
    }
    if (rows.length === 0) return { account: { user: spec.user, host: '%' }, exists: false };
    return { account: { user: spec.user, host: String(rows[0]!.host) }, exists: true };
  }

  private async accountExists(account: Account): Promise<boolean> {
    const rows = await this.db.query(
      'SELECT 1 AS found FROM mysql.user WHERE User = ? AND Host = ?',
      [account.user, account.host],
      `looking up ${describeAccount(account)}`,
    );
    return rows.length > 0;
  }

  private async requireAccount(login: string, what = 'login'): Promise<Account> {
    const { account, exists } = await this.resolve(login, what);
    if (!exists) throw new ConfigError(`${what} ${describeAccount(account)} does not exist`);
    return account;
  }

  async loginExists(login: string): Promise<boolean> {
    return (await this.resolve(login)).exists;
  }

  private async definition(account: Account): Promise<UserDefinition> {
    const lines = await this.db.firstColumn(
      'SHOW CREATE USER ?@?',
      [account.user, account.host],
      `reading ${describeAccount(account)}`,
    );
    return parsed(account, 'SHOW CREATE USER', () => parseCreateUser(lines));
  }

  /** SHOW GRANTS as facts; on MySQL plus the default roles of SHOW CREATE USER. */
  private async grants(account: Account, def?: UserDefinition): Promise<GrantFact[]> {
    const lines = await this.db.firstColumn(
      'SHOW GRANTS FOR ?@?',
      [account.user, account.host],
      `reading the grants of ${describeAccount(account)}`,
    );
    const facts = parsed(account, 'SHOW GRANTS', () => parseGrants(lines, account));
    if ((await this.version()).variant === 'mysql') {
      for (const role of (def ?? (await this.definition(account))).defaultRoles) {
        facts.push({ kind: 'default-role', role });
      }
    }
    return facts;
  }

  private async adminAccount(): Promise<Account> {
    const [row] = await this.db.query('SELECT CURRENT_USER() AS me', [], 'reading the admin account');
    const me = String(row?.me ?? '');
    const at = me.lastIndexOf('@');
    return { user: me.slice(0, at), host: me.slice(at + 1) };
  }

  // ------------------------------------------------------------ checks

  protected async findBlockers(
    login: string,
    strategy: ResolvedStrategy,
    found: RotatorError[],
  ): Promise<void> {
    const v = await this.version();
    const support = strategiesFor(v.variant, v.num)[strategy];
    if (!support.supported) {
      found.push(new UnsupportedStrategyError(`strategy "${strategy}" is not supported: ${support.reason}`));
      return;
    }
    const account = await this.requireAccount(login);
    const def = await this.definition(account);
    try {
      passwordPlugin(def, account, v.variant, strategy);
    } catch (err) {
      if (!(err instanceof RotatorError)) throw err;
      found.push(err);
    }
    const admin = await this.adminAccount();
    if (strategy === 'dual-user' && sameAccount(admin, account)) {
      found.push(
        new ConfigError(`refusing dual-user for the admin's own account ${describeAccount(account)}`),
      );
    }
    const template = strategy === 'dual-user' ? await this.grants(account, def) : [];
    const gaps = adminGaps(await this.grants(admin), template, strategy, v.variant);
    if (gaps.length > 0) {
      const more = gaps.length > 20 ? `; and ${gaps.length - 20} more` : '';
      found.push(
        new AdminPrivilegeError(
          `admin ${describeAccount(admin)} cannot rotate ${describeAccount(account)} with ${strategy}: missing ${gaps.slice(0, 20).join('; ')}${more}`,
        ),
      );
    }
    if (strategy === 'dual-user') {
      const definer = await definerProblem(this.db, account, 'dual-user would drop it after grace');
      if (definer) found.push(definer);
    }
  }

  // ------------------------------------------------------------ dual-user

  async createLoginLike(template: string, newLogin: string, password: string): Promise<void> {
    passwords.checkPassword(password);
    const v = await this.version();
    const source = await this.requireAccount(template, 'template login');
    const spec = parseLogin(newLogin, v.maxUserChars, 'new login name');
    const target: Account = { user: spec.user, host: spec.host ?? this.accountHost ?? source.host };
    if (sameAccount(source, target)) throw new ConfigError('the new login must differ from the template');
    const def = await this.definition(source);
    const plugin = passwordPlugin(def, source, v.variant, 'dual-user');
    const identified =
      v.variant === 'mariadb'
        ? mariadbIdentifiedClause([nativePasswordHash(password)])
        : mysqlIdentifiedClause(plugin, password);
    const context = `creating login ${describeAccount(target)}`;
    const alter = `ALTER USER ${quoteAccount(target)} ${identified} ${attributeClauses(def, v.variant, true).join(' ')}`;
    const create = `CREATE USER ${quoteAccount(target)} ${identified} ${attributeClauses(def, v.variant, false).join(' ')}`;
    if (await this.accountExists(target)) {
      await this.db.run([alter], context, { secret: true });
    } else {
      try {
        await this.db.run([create], context, { secret: true });
      } catch (err) {
        // ER_CANNOT_USER: created meanwhile (a concurrent retry); converge like an existing login.
        if (!hasErrno(err, 1396)) throw err;
        await this.db.run([alter], context, { secret: true });
      }
    }
    const templateFacts = await this.grants(source, def);
    // An account a recorded CREATE USER would make has no grants yet.
    const created = !this.db.writer.plannedLogin(newLogin) || (await this.accountExists(target));
    let facts = created ? await this.grants(target) : [];
    const { extra } = diffGrants(templateFacts, facts);
    if (extra.length > 0) {
      const revokes = revokeStatements(extra, target, v.variant);
      const revoked = await this.db.run(revokes, `revoking extra privileges of ${describeAccount(target)}`);
      facts = revoked === NOT_EXECUTED ? facts.filter((f) => !extra.includes(f)) : await this.grants(target);
    }
    const { missing } = diffGrants(templateFacts, facts);
    const grants = grantStatements(templateFacts, missing, target, v.variant);
    await this.db.run(grants, `granting privileges to ${describeAccount(target)}`);
  }

  async comparePrivileges(reference: string, other: string): Promise<PrivilegeDiff> {
    const ref = await this.requireAccount(reference);
    const refDef = await this.definition(ref);
    const refGrants = await this.grants(ref, refDef);
    // An account a recorded CREATE USER would make stands as one with nothing granted.
    const resolved = await this.resolve(other);
    if (!resolved.exists && !this.db.writer.plannedLogin(other)) {
      throw new ConfigError(`login ${describeAccount(resolved.account)} does not exist`);
    }
    const othDef = resolved.exists ? await this.definition(resolved.account) : undefined;
    const othGrants = othDef ? await this.grants(resolved.account, othDef) : [];
    const diff = diffGrants(refGrants, othGrants);
    const refAttrs = attributeFacts(refDef);
    const othAttrs = othDef ? attributeFacts(othDef) : [];
    return {
      missing: [...diff.missing.map(describeGrant), ...refAttrs.filter((a) => !othAttrs.includes(a))].sort(),
      extra: [...diff.extra.map(describeGrant), ...othAttrs.filter((a) => !refAttrs.includes(a))].sort(),
    };
  }

  /** `heir` is not used: MySQL/MariaDB accounts own no objects (DEFINERs are refused instead). */
  async dropLogin(login: string, _heir?: string): Promise<void> {
    const v = await this.version();
    const { account, exists } = await this.resolve(login);
    if (!exists) return;
    if (sameAccount(await this.adminAccount(), account)) {
      throw new ConfigError(`refusing to drop the admin account ${describeAccount(account)}`);
    }
    const definer = await definerProblem(this.db, account, 'refusing to drop it');
    if (definer) throw definer;
    const context = `dropping ${describeAccount(account)}`;
    // No new sessions from here on, so the drained state cannot change under us.
    if (v.num >= ACCOUNT_LOCK_VERSION[v.variant]) {
      await this.db.run([`ALTER USER ${quoteAccount(account)} ACCOUNT LOCK`], context);
    }
    await drainUser(this.db, account.user);
    await this.db.run([`DROP USER IF EXISTS ${quoteAccount(account)}`], context);
    // A login that authenticated just before the lock.
    await drainUser(this.db, account.user);
  }

  // ------------------------------------------------------------ passwords

  private async requireDualPassword(): Promise<void> {
    const v = await this.version();
    const support = strategiesFor(v.variant, v.num)['dual-password'];
    if (!support.supported)
      throw new UnsupportedStrategyError(`dual-password is not supported: ${support.reason}`);
  }

  async changePassword(login: string, change: PasswordChange): Promise<void> {
    passwords.checkPassword(change.password);
    if (change.mode === 'replace') {
      await passwords.setPassword(await this.access(), await this.requireAccount(login), change.password);
      return;
    }
    if (change.mode === 'add') passwords.checkPassword(change.current);
    await this.requireDualPassword();
    const access = await this.access();
    const account = await this.requireAccount(login);
    if (change.mode === 'add') await passwords.addPassword(access, account, change.password, change.current);
    else await passwords.keepOnlyPassword(access, account, change.password);
  }

  // ------------------------------------------------------------ verification and sessions

  async verifyLogin(secret: Secret, options: VerifyOptions = {}): Promise<void> {
    const { user } = parseLogin(secret.username, MAX_ANY_USER_CHARS, 'login name');
    await verifyMysqlLogin(this.db, user, secret, options);
  }

  async listSessions(login: string): Promise<SessionInfo[]> {
    const v = await this.version();
    return listUserSessions(this.db, parseLogin(login, v.maxUserChars).user);
  }

  /** Ends every session of `login`; returns how many it ended. Idempotent. (Tests; dropLogin drains.) */
  async endSessions(login: string): Promise<number> {
    const v = await this.version();
    return endUserSessions(this.db, parseLogin(login, v.maxUserChars).user);
  }
}
