/**
 * The password operations (dual-password and single) on one account. Each
 * reads the stored credentials first and only changes what differs, so a
 * retry after success changes nothing (not even password_last_changed).
 *
 * MariaDB: the authentication chain is set to exactly the wanted hashes.
 * MySQL: primary/secondary passwords are read from mysql.user (hex) and
 * compared with the candidates (native hash, or caching_sha2 re-hashed with
 * the stored salt); the plans in ./auth.ts take the fewest statements,
 * and the full, always-correct sequence when the state cannot be read.
 */
import { ConfigError } from '../../errors';
import { describeAccount, type Account } from './accounts';
import {
  classifyStored,
  mariadbSetHashesStatement,
  mysqlDiscardStatement,
  mysqlRetainStatement,
  mysqlSetStatement,
  nativePasswordHash,
  planMysqlAddPassword,
  planMysqlKeepOnly,
} from './auth';
import type { MysqlConnector } from './connection';
import { DUAL_PASSWORD_VERSION, passwordPlugin, type ServerVersion } from './server';
import type { UserDefinition } from './user';

/** What the password operations need from the engine. */
export interface AccountAccess {
  db: MysqlConnector;
  server: ServerVersion;
  definition(account: Account): Promise<UserDefinition>;
}

export function checkPassword(password: string): void {
  if (typeof password !== 'string' || password.length === 0) {
    throw new ConfigError('refusing to set an empty password');
  }
  if (password.includes('\u0000')) throw new ConfigError('passwords may not contain NUL bytes');
}

/** MariaDB: the account accepts exactly `hashes` (in any order); no statement if it already does. */
async function setMariadbHashes(x: AccountAccess, account: Account, hashes: string[], action: string) {
  const def = await x.definition(account);
  passwordPlugin(def, account, 'mariadb', action);
  const stored = def.auth.map((r) => (r.authString ?? Buffer.alloc(0)).toString('latin1').toUpperCase());
  const wanted = [...new Set(hashes)];
  if (stored.length === wanted.length && wanted.every((h) => stored.includes(h))) return;
  await x.db.run(
    [mariadbSetHashesStatement(account, wanted)],
    `setting the password of ${describeAccount(account)}`,
    {
      secret: true,
    },
  );
}

/** MySQL: plugin and stored primary/secondary credentials. */
async function mysqlCredentials(x: AccountAccess, account: Account, action: string) {
  const def = await x.definition(account);
  const plugin = passwordPlugin(def, account, 'mysql', action);
  const secondary =
    x.server.num >= DUAL_PASSWORD_VERSION.mysql
      ? `HEX(JSON_UNQUOTE(JSON_EXTRACT(User_attributes, '$.additional_password')))`
      : 'NULL';
  const [row] = await x.db.query(
    `SELECT HEX(authentication_string) AS primary_hex, ${secondary} AS secondary_hex FROM mysql.user WHERE User = ? AND Host = ?`,
    [account.user, account.host],
    `reading the credentials of ${describeAccount(account)}`,
  );
  const hex = (value: unknown) => (value == null ? undefined : Buffer.from(String(value), 'hex'));
  return { plugin, primary: hex(row?.primary_hex) ?? Buffer.alloc(0), secondary: hex(row?.secondary_hex) };
}

export async function addPassword(
  x: AccountAccess,
  account: Account,
  newPassword: string,
  currentPassword: string,
) {
  if (x.server.variant === 'mariadb') {
    const hashes = [nativePasswordHash(newPassword), nativePasswordHash(currentPassword)];
    return setMariadbHashes(x, account, hashes, 'dual-password');
  }
  const c = await mysqlCredentials(x, account, 'dual-password');
  const candidates = { new: newPassword, current: currentPassword };
  const steps = planMysqlAddPassword(
    classifyStored(c.plugin, c.primary, candidates),
    classifyStored(c.plugin, c.secondary, candidates),
  );
  const statements = steps.map((step) =>
    step === 'set-current'
      ? mysqlSetStatement(account, c.plugin, currentPassword)
      : mysqlRetainStatement(account, c.plugin, newPassword),
  );
  await x.db.run(statements, `adding a password to ${describeAccount(account)}`, { secret: true });
}

export async function keepOnlyPassword(x: AccountAccess, account: Account, keepPassword: string) {
  if (x.server.variant === 'mariadb') {
    return setMariadbHashes(x, account, [nativePasswordHash(keepPassword)], 'dual-password');
  }
  const c = await mysqlCredentials(x, account, 'dual-password');
  // In a dry run this follows a recorded addPassword, not on the server: the full path then.
  const steps = x.db.writer.storedOr(
    () =>
      planMysqlKeepOnly(
        classifyStored(c.plugin, c.primary, { current: keepPassword }),
        c.secondary === undefined ? 'none' : 'unknown',
      ),
    planMysqlKeepOnly('unknown', 'unknown'),
  );
  const statements = steps.map((step) =>
    step === 'discard' ? mysqlDiscardStatement(account) : mysqlSetStatement(account, c.plugin, keepPassword),
  );
  await x.db.run(statements, `discarding the other password of ${describeAccount(account)}`, {
    secret: true,
  });
}

export async function setPassword(x: AccountAccess, account: Account, password: string) {
  if (x.server.variant === 'mariadb') {
    return setMariadbHashes(x, account, [nativePasswordHash(password)], 'single');
  }
  const c = await mysqlCredentials(x, account, 'single');
  const statements: string[] = [];
  if (classifyStored(c.plugin, c.primary, { current: password }) !== 'current') {
    statements.push(mysqlSetStatement(account, c.plugin, password));
  }
  if (c.secondary !== undefined) statements.push(mysqlDiscardStatement(account));
  await x.db.run(statements, `setting the password of ${describeAccount(account)}`, { secret: true });
}
