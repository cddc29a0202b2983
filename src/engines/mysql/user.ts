/**
 * Account definitions as SHOW CREATE USER prints them, read structurally:
 * authentication (plugin chain and stored strings), TLS requirements,
 * resource limits, password expiry, lock state and MySQL's extra password
 * options. Rendered back as CREATE/ALTER USER clauses for a cloned login.
 *
 * MariaDB prints an expired account with a password lifetime as two rows
 * ("CREATE USER ... PASSWORD EXPIRE" then "ALTER USER ... PASSWORD EXPIRE
 * INTERVAL n DAY"); both are read.
 */
import { escape } from 'mysql2/promise';
import type { Account } from './accounts';
import {
  findTopLevelWord,
  isName,
  isPunct,
  isWord,
  readNumber,
  renderTokens,
  SqlParseError,
  tokenize,
  type Token,
} from './tokens';

export type Variant = 'mysql' | 'mariadb';

export interface AuthRule {
  plugin: string;
  /** Stored credential (hash) as the server prints it; undefined when the rule has none. */
  authString?: Buffer;
}

export interface UserDefinition {
  /** Authentication rules; MariaDB may chain several with OR. Empty: no IDENTIFIED clause (no password). */
  auth: AuthRule[];
  /** Tokens after REQUIRE; undefined for REQUIRE NONE. */
  require?: Token[];
  /** Resource limits other than 0, by name (MAX_QUERIES_PER_HOUR ...), value as printed. */
  limits: Map<string, string>;
  /** Tokens after PASSWORD EXPIRE for a lifetime policy: DEFAULT / NEVER / INTERVAL n DAY. */
  passwordLifetime?: Token[];
  /** The password is marked expired now (not cloned: a new password is never expired). */
  expired: boolean;
  locked: boolean;
  /** MySQL default roles (DEFAULT ROLE clause). */
  defaultRoles: Token[][];
  /** Other password/lock options and COMMENT/ATTRIBUTE (MySQL 8), rendered as printed. */
  extra: Token[][];
}

export const RESOURCE_LIMITS: Record<Variant, readonly string[]> = {
  mysql: ['MAX_QUERIES_PER_HOUR', 'MAX_UPDATES_PER_HOUR', 'MAX_CONNECTIONS_PER_HOUR', 'MAX_USER_CONNECTIONS'],
  mariadb: [
    'MAX_QUERIES_PER_HOUR',
    'MAX_UPDATES_PER_HOUR',
    'MAX_CONNECTIONS_PER_HOUR',
    'MAX_USER_CONNECTIONS',
    'MAX_STATEMENT_TIME',
  ],
};
const ALL_LIMITS = new Set(RESOURCE_LIMITS.mariadb);
const CLAUSE_START = [
  'IDENTIFIED',
  'REQUIRE',
  'WITH',
  'PASSWORD',
  'ACCOUNT',
  'DEFAULT',
  'FAILED_LOGIN_ATTEMPTS',
  'PASSWORD_LOCK_TIME',
  'COMMENT',
  'ATTRIBUTE',
];

/** Reads the account name at the start of `tokens[i]`: name [@ name]. */
export function readAccount(tokens: readonly Token[], i: number): { account: Account; next: number } {
  const user = tokens[i];
  if (!isName(user)) throw new SqlParseError(`expected an account name at token ${i}`);
  if (isPunct(tokens[i + 1], '@')) {
    const host = tokens[i + 2];
    if (!isName(host)) throw new SqlParseError(`expected a host name at token ${i + 2}`);
    return { account: { user: user.value, host: host.value }, next: i + 3 };
  }
  return { account: { user: user.value, host: '%' }, next: i + 1 };
}

function authValue(t: Token | undefined): Buffer {
  if (t?.kind === 'string') return Buffer.from(t.value, 'latin1');
  if (t?.kind === 'word' && /^0x[0-9A-Fa-f]*$/.test(t.value)) return Buffer.from(t.value.slice(2), 'hex');
  throw new SqlParseError('expected an authentication string');
}

/** Parses the rows of SHOW CREATE USER. */
export function parseCreateUser(lines: readonly string[]): UserDefinition {
  const def: UserDefinition = {
    auth: [],
    limits: new Map(),
    expired: false,
    locked: false,
    defaultRoles: [],
    extra: [],
  };
  for (const line of lines) {
    const tokens = tokenize(line);
    if (!(isWord(tokens[0], 'CREATE', 'ALTER') && isWord(tokens[1], 'USER'))) {
      throw new SqlParseError('SHOW CREATE USER row does not start with CREATE USER / ALTER USER');
    }
    let i = readAccount(tokens, 2).next;
    const next = () => {
      const j = findTopLevelWord(tokens, CLAUSE_START, i);
      return j < 0 ? tokens.length : j;
    };
    while (i < tokens.length) {
      const t = tokens[i]!;
      if (isWord(t, 'IDENTIFIED')) {
        i = parseIdentified(tokens, i + 1, def);
      } else if (isWord(t, 'REQUIRE')) {
        i++;
        const end = next();
        const clause = tokens.slice(i, end);
        def.require = clause.length === 1 && isWord(clause[0], 'NONE') ? undefined : clause;
        i = end;
      } else if (isWord(t, 'WITH')) {
        i++;
        while (
          i < tokens.length &&
          tokens[i]!.kind === 'word' &&
          ALL_LIMITS.has(tokens[i]!.value.toUpperCase())
        ) {
          const name = tokens[i]!.value.toUpperCase();
          const n = readNumber(tokens, i + 1);
          if (Number(n.value) === 0) def.limits.delete(name);
          else def.limits.set(name, String(Number(n.value)));
          i = n.next;
        }
      } else if (isWord(t, 'PASSWORD') && isWord(tokens[i + 1], 'EXPIRE')) {
        i += 2;
        if (isWord(tokens[i], 'DEFAULT')) {
          def.passwordLifetime = undefined;
          i++;
        } else if (isWord(tokens[i], 'NEVER')) {
          def.passwordLifetime = tokens.slice(i, i + 1);
          i++;
        } else if (isWord(tokens[i], 'INTERVAL') && isWord(tokens[i + 2], 'DAY')) {
          def.passwordLifetime = tokens.slice(i, i + 3);
          i += 3;
        } else {
          def.expired = true;
        }
      } else if (isWord(t, 'ACCOUNT')) {
        def.locked = isWord(tokens[i + 1], 'LOCK');
        i += 2;
      } else if (isWord(t, 'DEFAULT') && isWord(tokens[i + 1], 'ROLE')) {
        i += 2;
        const end = next();
        const roles = tokens.slice(i, end);
        if (!(roles.length === 1 && isWord(roles[0], 'NONE'))) {
          def.defaultRoles.push(...splitRoles(roles));
        }
        i = end;
      } else {
        const length = extraClauseLength(tokens, i);
        if (length === 0) throw new SqlParseError(`unexpected word in SHOW CREATE USER at token ${i}`);
        def.extra.push(tokens.slice(i, i + length));
        i += length;
      }
    }
  }
  return def;
}

/**
 * MySQL 8 options we carry over as printed; returns how many tokens the
 * clause at `i` spans, 0 if it is not one of them.
 */
function extraClauseLength(tokens: readonly Token[], i: number): number {
  const at = (k: number, ...words: string[]) => isWord(tokens[i + k], ...words);
  const isNum = (k: number) => tokens[i + k]?.kind === 'word' && /^[0-9]+$/.test(tokens[i + k]!.value);
  if (at(0, 'PASSWORD') && at(1, 'HISTORY')) return at(2, 'DEFAULT') || isNum(2) ? 3 : 0;
  if (at(0, 'PASSWORD') && at(1, 'REUSE') && at(2, 'INTERVAL')) {
    if (at(3, 'DEFAULT')) return 4;
    return isNum(3) && at(4, 'DAY') ? 5 : 0;
  }
  if (at(0, 'PASSWORD') && at(1, 'REQUIRE') && at(2, 'CURRENT')) return at(3, 'DEFAULT', 'OPTIONAL') ? 4 : 3;
  if (at(0, 'FAILED_LOGIN_ATTEMPTS')) return isNum(1) ? 2 : 0;
  if (at(0, 'PASSWORD_LOCK_TIME')) return isNum(1) || at(1, 'UNBOUNDED') ? 2 : 0;
  if (at(0, 'COMMENT', 'ATTRIBUTE')) return tokens[i + 1]?.kind === 'string' ? 2 : 0;
  return 0;
}

function splitRoles(tokens: Token[]): Token[][] {
  const roles: Token[][] = [];
  let current: Token[] = [];
  for (const t of tokens) {
    if (isPunct(t, ',')) {
      roles.push(current);
      current = [];
    } else current.push(t);
  }
  if (current.length > 0) roles.push(current);
  return roles;
}

function parseIdentified(tokens: readonly Token[], i: number, def: UserDefinition): number {
  def.auth = [];
  if (isWord(tokens[i], 'BY') && isWord(tokens[i + 1], 'PASSWORD')) {
    def.auth.push({ plugin: 'mysql_native_password', authString: authValue(tokens[i + 2]) });
    return i + 3;
  }
  if (!isWord(tokens[i], 'VIA', 'WITH')) throw new SqlParseError('unexpected IDENTIFIED clause');
  i++;
  for (;;) {
    const plugin = tokens[i];
    if (!isName(plugin)) throw new SqlParseError('expected an authentication plugin name');
    const rule: AuthRule = { plugin: plugin.value.toLowerCase() };
    i++;
    if (isWord(tokens[i], 'USING', 'AS')) {
      rule.authString = authValue(tokens[i + 1]);
      i += 2;
    }
    def.auth.push(rule);
    if (!isWord(tokens[i], 'OR')) return i;
    i++;
  }
}

/**
 * The clauses that give a login the attributes of `def` (everything but
 * authentication and default roles). With `complete`, settings `def` does
 * not have are reset to their defaults, so an existing login converges.
 */
export function attributeClauses(def: UserDefinition, variant: Variant, complete: boolean): string[] {
  const out: string[] = [];
  if (def.require) out.push(`REQUIRE ${renderTokens(def.require)}`);
  else if (complete) out.push('REQUIRE NONE');
  const limits = RESOURCE_LIMITS[variant]
    .map((name) => [name, def.limits.get(name) ?? (complete ? '0' : undefined)] as const)
    .filter(([, v]) => v !== undefined)
    .map(([name, v]) => `${name} ${v}`);
  if (limits.length > 0) out.push(`WITH ${limits.join(' ')}`);
  if (def.passwordLifetime) out.push(`PASSWORD EXPIRE ${renderTokens(def.passwordLifetime)}`);
  else if (complete) out.push('PASSWORD EXPIRE DEFAULT');
  if (def.locked) out.push('ACCOUNT LOCK');
  else if (complete) out.push('ACCOUNT UNLOCK');
  const comments = def.extra.filter((c) => isWord(c[0], 'COMMENT', 'ATTRIBUTE'));
  out.push(...def.extra.filter((c) => !comments.includes(c)).map(renderTokens));
  out.push(...comments.map(renderTokens));
  return out;
}

/** Human-readable facts about an account's attributes, for privilege comparison. */
export function attributeFacts(def: UserDefinition): string[] {
  const facts: string[] = [];
  if (def.require) facts.push(`account attribute REQUIRE ${renderTokens(def.require)}`);
  for (const [name, value] of def.limits) facts.push(`account attribute ${name} ${value}`);
  if (def.passwordLifetime)
    facts.push(`account attribute PASSWORD EXPIRE ${renderTokens(def.passwordLifetime)}`);
  if (def.locked) facts.push('account attribute ACCOUNT LOCK');
  for (const clause of def.extra) {
    if (isWord(clause[0], 'ATTRIBUTE')) continue; // free-form JSON metadata, not a privilege
    facts.push(`account attribute ${renderTokens(clause)}`);
  }
  return facts;
}

/** A literal for messages about plugins (never about auth strings). */
export function describePlugins(def: UserDefinition): string {
  return def.auth.length === 0 ? 'no password' : def.auth.map((r) => escape(r.plugin)).join(' OR ');
}
