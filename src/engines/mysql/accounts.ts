/**
 * MySQL/MariaDB accounts are `'user'@'host'` pairs. The engine's login
 * strings follow one rule (documented in ./index.ts):
 *
 * - a bare name (`app`, `svc@corp`, `o'brien`) is the user name exactly as
 *   clients send it when they connect; `@` is an ordinary character in it.
 *   Its host comes from the connection option `accountHost`, else from the
 *   one existing account with that user name, else '%' (new accounts).
 * - a quoted account (`'app'@'10.0.%'` or `` `app`@`10.0.%` ``, SQL quoting
 *   rules) names user and host explicitly.
 *
 * User and host are always sent as string literals quoted by the driver
 * (mysql2 `escape`); the session is kept free of NO_BACKSLASH_ESCAPES so
 * that quoting is exact.
 */
import { escape } from 'mysql2/promise';
import { UnsafeIdentifierError, UnsupportedServerError } from '../../errors';
import { isName, isPunct, SqlParseError, tokenize, type Token } from './tokens';

export interface Account {
  user: string;
  host: string;
}

export interface LoginSpec {
  user: string;
  /** Only when the login was written in the quoted `'user'@'host'` form. */
  host?: string;
}

/** Fallback user-name limits (MySQL 32, MariaDB 80); the live limit is read from mysql.user (128 on MariaDB 10.11). */
export const DEFAULT_MAX_USER_CHARS = { mysql: 32, mariadb: 80 } as const;
export const MAX_HOST_CHARS = 255;

/** `'user'@'host'`, quoted by the driver. */
export function quoteAccount(account: Account): string {
  return `${escape(account.user)}@${escape(account.host)}`;
}

/** Parses a login string (see the module comment) and checks it can be represented exactly. */
export function parseLogin(login: string, maxUserChars: number, what = 'login name'): LoginSpec {
  if (typeof login !== 'string' || login.length === 0) throw new UnsafeIdentifierError(`${what} is empty`);
  let spec: LoginSpec = { user: login };
  if (login.startsWith("'") || login.startsWith('`') || login.startsWith('"')) {
    spec = parseQuotedAccount(login, what);
  }
  checkName(spec.user, maxUserChars, `${what} (user part)`);
  if (spec.host !== undefined) checkName(spec.host, MAX_HOST_CHARS, `${what} (host part)`, true);
  return spec;
}

function parseQuotedAccount(login: string, what: string): LoginSpec {
  let tokens: Token[];
  try {
    tokens = tokenize(login);
  } catch (err) {
    if (err instanceof SqlParseError)
      throw new UnsafeIdentifierError(`${what} is not a valid quoted account: ${err.message}`);
    throw err;
  }
  const [user, at, host] = tokens;
  const quoted = (t: Token | undefined) => isName(t) && t.kind !== 'word';
  if (tokens.length === 1 && quoted(user)) return { user: user!.value };
  if (tokens.length === 3 && quoted(user) && isPunct(at, '@') && quoted(host)) {
    return { user: user!.value, host: host!.value };
  }
  throw new UnsafeIdentifierError(`${what} must be a bare user name or a quoted account like 'user'@'host'`);
}

/**
 * Refuses names the server would not store exactly: NUL bytes, characters
 * outside the Basic Multilingual Plane (the mysql.* tables are utf8mb3, and
 * MariaDB silently turns them into '?'), and names over the length limit.
 */
export function checkName(name: string, maxChars: number, what: string, allowEmpty = false): void {
  if (!allowEmpty && name.length === 0) throw new UnsafeIdentifierError(`${what} is empty`);
  if (name.includes('\u0000')) throw new UnsafeIdentifierError(`${what} contains a NUL byte`);
  if (/[\uD800-\uDFFF]/.test(name)) {
    throw new UnsafeIdentifierError(
      `${what} contains characters outside the Basic Multilingual Plane, which the server cannot store (utf8mb3)`,
    );
  }
  const chars = [...name].length;
  if (chars > maxChars) {
    throw new UnsafeIdentifierError(`${what} is ${chars} characters; the server allows at most ${maxChars}`);
  }
}

/** For messages: the account as SQL would spell it (quoted, so control characters stay visible). */
export function describeAccount(account: Account): string {
  return quoteAccount(account);
}

export function sameAccount(a: Account, b: Account): boolean {
  return a.user === b.user && a.host.toLowerCase() === b.host.toLowerCase();
}

/** Runs a parser of server output; a statement it cannot read is an UnsupportedServerError naming `what`. */
export function parsed<T>(account: Account, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SqlParseError) {
      throw new UnsupportedServerError(`cannot read ${what} of ${describeAccount(account)}: ${err.message}`);
    }
    throw err;
  }
}
