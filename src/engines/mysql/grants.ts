/**
 * SHOW GRANTS lines as structured facts, and the statements that give the
 * same facts to another account.
 *
 * Each line is tokenized (./tokens.ts); the grantee is the account right
 * after the first top-level bare TO/FROM/FOR keyword, and is checked to be
 * the account we asked about. Privilege lists, objects and role names are
 * kept as tokens and re-rendered with the driver's quoting for the other
 * account, so names that contain the user name, quotes, `@`, `;` or
 * backslashes are copied, never rewritten. Whatever follows the grantee
 * (IDENTIFIED BY PASSWORD, REQUIRE, resource limits on MariaDB's USAGE line)
 * is dropped except WITH GRANT OPTION / WITH ADMIN OPTION; account
 * attributes are cloned from SHOW CREATE USER instead.
 *
 * One fact per privilege (per column for column privileges), per grant
 * option, per role, per admin option and per default role: comparing two
 * accounts is a set difference, and the missing/extra lists read well.
 */
import { escapeId } from 'mysql2/promise';
import { quoteAccount, sameAccount, type Account } from './accounts';
import {
  findTopLevelWord,
  isName,
  isPunct,
  isWord,
  renderTokens,
  splitTopLevel,
  SqlParseError,
  tokenize,
  type Token,
} from './tokens';
import { readAccount, type Variant } from './user';

export type GrantFact =
  | { kind: 'privilege'; privilege: string; column?: string; object: Token[] }
  | { kind: 'grant-option'; object: Token[] }
  | { kind: 'partial-revoke'; privilege: string; object: Token[] }
  | { kind: 'role'; role: Token[] }
  | { kind: 'role-admin'; role: Token[] }
  | { kind: 'default-role'; role: Token[] };

/** Parses SHOW GRANTS FOR `owner`; throws SqlParseError on anything it cannot place. */
export function parseGrants(lines: readonly string[], owner: Account): GrantFact[] {
  const facts: GrantFact[] = [];
  for (const [n, line] of lines.entries()) {
    try {
      facts.push(...parseGrantLine(tokenize(line), owner));
    } catch (err) {
      if (err instanceof SqlParseError) throw new SqlParseError(`SHOW GRANTS line ${n + 1}: ${err.message}`);
      throw err;
    }
  }
  return dedupe(facts);
}

function parseGrantLine(tokens: Token[], owner: Account): GrantFact[] {
  if (isWord(tokens[0], 'SET') && isWord(tokens[1], 'DEFAULT') && isWord(tokens[2], 'ROLE')) {
    const k = findTopLevelWord(tokens, ['FOR', 'TO'], 3);
    if (k < 0) throw new SqlParseError('SET DEFAULT ROLE without grantee');
    checkGrantee(tokens, k + 1, owner, true);
    const roles = tokens.slice(3, k);
    if (roles.length === 1 && isWord(roles[0], 'NONE')) return [];
    return splitTopLevel(roles).map((role) => ({ kind: 'default-role', role: checkRole(role) }));
  }
  const revoke = isWord(tokens[0], 'REVOKE');
  if (!revoke && !isWord(tokens[0], 'GRANT'))
    throw new SqlParseError('line is neither GRANT, REVOKE nor SET DEFAULT ROLE');
  const k = findTopLevelWord(tokens, [revoke ? 'FROM' : 'TO'], 1);
  if (k < 0) throw new SqlParseError('no grantee');
  const tail = checkGrantee(tokens, k + 1, owner, false);
  const grantOption = hasWords(tail, 'GRANT', 'OPTION');
  const adminOption = hasWords(tail, 'ADMIN', 'OPTION');
  const what = tokens.slice(1, k);
  const on = findTopLevelWord(what, ['ON']);
  if (on < 0) {
    if (revoke) throw new SqlParseError('REVOKE of a role');
    const facts: GrantFact[] = [];
    for (const role of splitTopLevel(what)) {
      facts.push({ kind: 'role', role: checkRole(role) });
      if (adminOption) facts.push({ kind: 'role-admin', role: checkRole(role) });
    }
    return facts;
  }
  const object = what.slice(on + 1);
  checkObject(object);
  const facts: GrantFact[] = [];
  for (const item of splitTopLevel(what.slice(0, on))) {
    const { privilege, columns } = parsePrivilege(item);
    if (privilege === 'USAGE') continue;
    if (revoke) {
      facts.push({ kind: 'partial-revoke', privilege, object });
    } else if (columns.length === 0) {
      facts.push({ kind: 'privilege', privilege, object });
    } else {
      for (const column of columns) facts.push({ kind: 'privilege', privilege, column, object });
    }
  }
  if (grantOption && !revoke) facts.push({ kind: 'grant-option', object });
  return facts;
}

/** Checks the account at tokens[i] is `owner`; returns the tokens after it. */
function checkGrantee(tokens: Token[], i: number, owner: Account, mustEnd: boolean): Token[] {
  const { account, next } = readAccount(tokens, i);
  if (!sameAccount(account, owner)) throw new SqlParseError('grantee is not the account asked about');
  const tail = tokens.slice(next);
  if (mustEnd && tail.length > 0) throw new SqlParseError('unexpected tokens after the grantee');
  return tail;
}

function hasWords(tokens: Token[], a: string, b: string): boolean {
  return tokens.some((t, i) => isWord(t, a) && isWord(tokens[i + 1], b));
}

/** A role: name, or name@host (MySQL). */
function checkRole(role: Token[]): Token[] {
  const ok =
    (role.length === 1 && isName(role[0])) ||
    (role.length === 3 && isName(role[0]) && isPunct(role[1], '@') && isName(role[2]));
  if (!ok) throw new SqlParseError('unexpected role name');
  return role;
}

/** Objects: [TABLE|FUNCTION|PROCEDURE|PACKAGE [BODY]] (name|*)[.(name|*)], or an account for PROXY. */
function checkObject(object: Token[]): void {
  let i = 0;
  if (isWord(object[i], 'TABLE', 'FUNCTION', 'PROCEDURE', 'PACKAGE')) i++;
  if (isWord(object[i], 'BODY')) i++;
  const part = (t: Token | undefined) => isName(t) || isPunct(t, '*');
  if (!part(object[i])) throw new SqlParseError('unexpected object');
  i++;
  if (isPunct(object[i], '.') || isPunct(object[i], '@')) {
    if (!part(object[i + 1])) throw new SqlParseError('unexpected object');
    i += 2;
  }
  if (i !== object.length) throw new SqlParseError('unexpected tokens in object');
}

function parsePrivilege(item: Token[]): { privilege: string; columns: string[] } {
  const open = item.findIndex((t) => isPunct(t, '('));
  const words = open < 0 ? item : item.slice(0, open);
  if (words.length === 0 || words.some((t) => t.kind !== 'word'))
    throw new SqlParseError('unexpected privilege');
  const privilege = words.map((t) => t.value.toUpperCase()).join(' ');
  if (open < 0) return { privilege: privilege === 'ALL' ? 'ALL PRIVILEGES' : privilege, columns: [] };
  const inner = item.slice(open + 1, -1);
  if (!isPunct(item[item.length - 1], ')')) throw new SqlParseError('unterminated column list');
  const columns = splitTopLevel(inner).map((c) => {
    if (c.length !== 1 || c[0]!.kind === 'punct') throw new SqlParseError('unexpected column');
    return c[0]!.value;
  });
  return { privilege, columns };
}

/** Stable description of a fact, used as its key. */
export function describeGrant(f: GrantFact): string {
  switch (f.kind) {
    case 'privilege':
      return `${f.privilege}${f.column === undefined ? '' : ` (${escapeId(f.column, true)})`} ON ${renderTokens(f.object)}`;
    case 'grant-option':
      return `GRANT OPTION ON ${renderTokens(f.object)}`;
    case 'partial-revoke':
      return `partial revoke of ${f.privilege} ON ${renderTokens(f.object)}`;
    case 'role':
      return `role ${renderTokens(f.role)}`;
    case 'role-admin':
      return `ADMIN OPTION on role ${renderTokens(f.role)}`;
    case 'default-role':
      return `default role ${renderTokens(f.role)}`;
  }
}

function dedupe(facts: GrantFact[]): GrantFact[] {
  const seen = new Map<string, GrantFact>();
  for (const f of facts) seen.set(describeGrant(f), f);
  return [...seen.values()];
}

/** Facts of `reference` that `other` lacks, and the reverse. */
export function diffGrants(
  reference: GrantFact[],
  other: GrantFact[],
): { missing: GrantFact[]; extra: GrantFact[] } {
  const otherKeys = new Set(other.map(describeGrant));
  const refKeys = new Set(reference.map(describeGrant));
  return {
    missing: reference.filter((f) => !otherKeys.has(describeGrant(f))),
    extra: other.filter((f) => !refKeys.has(describeGrant(f))),
  };
}

/**
 * GRANT statements that give `target` the facts of `template` on every
 * object/role where `missing` has something. Statements are idempotent; the
 * whole template grant of an object is replayed so privileges and grant
 * option arrive together. Order: object grants, roles, default roles,
 * partial revokes.
 */
export function grantStatements(
  template: GrantFact[],
  missing: GrantFact[],
  target: Account,
  variant: Variant,
): string[] {
  const to = quoteAccount(target);
  const objectKey = (f: { object: Token[] }) => renderTokens(f.object);
  const objectsToGrant = new Set(
    missing.filter((f) => f.kind === 'privilege' || f.kind === 'grant-option').map(objectKey),
  );
  const statements: string[] = [];
  const byObject = new Map<string, { object: Token[]; privileges: Map<string, string[]>; option: boolean }>();
  for (const f of template) {
    if (f.kind !== 'privilege' && f.kind !== 'grant-option') continue;
    const key = objectKey(f);
    if (!objectsToGrant.has(key)) continue;
    let entry = byObject.get(key);
    if (!entry) {
      entry = { object: f.object, privileges: new Map(), option: false };
      byObject.set(key, entry);
    }
    if (f.kind === 'grant-option') {
      entry.option = true;
    } else {
      const columns = entry.privileges.get(f.privilege) ?? [];
      if (f.column !== undefined) columns.push(f.column);
      entry.privileges.set(f.privilege, columns);
    }
  }
  for (const { object, privileges, option } of byObject.values()) {
    const list = [...privileges].map(([p, cols]) =>
      cols.length === 0 ? p : `${p} (${cols.map((c) => escapeId(c, true)).join(', ')})`,
    );
    statements.push(
      `GRANT ${list.length > 0 ? list.join(', ') : 'USAGE'} ON ${renderTokens(object)} TO ${to}${option ? ' WITH GRANT OPTION' : ''}`,
    );
  }
  const roles = missing.filter((f) => f.kind === 'role' || f.kind === 'role-admin');
  const roleKeys = new Set(roles.map((f) => renderTokens(f.role)));
  for (const f of template) {
    if (f.kind !== 'role' || !roleKeys.has(renderTokens(f.role))) continue;
    const admin = template.some(
      (g) => g.kind === 'role-admin' && renderTokens(g.role) === renderTokens(f.role),
    );
    statements.push(`GRANT ${renderTokens(f.role)} TO ${to}${admin ? ' WITH ADMIN OPTION' : ''}`);
  }
  if (missing.some((f) => f.kind === 'default-role')) {
    statements.push(...defaultRoleStatements(template, target, variant));
  }
  for (const f of missing) {
    if (f.kind === 'partial-revoke')
      statements.push(`REVOKE ${f.privilege} ON ${renderTokens(f.object)} FROM ${to}`);
  }
  return statements;
}

function defaultRoleStatements(facts: GrantFact[], target: Account, variant: Variant): string[] {
  const roles = facts.filter((f) => f.kind === 'default-role').map((f) => renderTokens(f.role));
  const list = roles.length > 0 ? roles.join(', ') : 'NONE';
  if (variant === 'mariadb') {
    // MariaDB has one default role per account.
    return [`SET DEFAULT ROLE ${roles[0] ?? 'NONE'} FOR ${quoteAccount(target)}`];
  }
  return [`SET DEFAULT ROLE ${list} TO ${quoteAccount(target)}`];
}

/** REVOKE statements that take `extra` facts away from `target` (run before the grants). */
export function revokeStatements(extra: GrantFact[], target: Account, variant: Variant): string[] {
  const from = quoteAccount(target);
  const statements: string[] = [];
  for (const f of extra) {
    switch (f.kind) {
      case 'privilege': {
        const column = f.column === undefined ? '' : ` (${escapeId(f.column, true)})`;
        statements.push(`REVOKE ${f.privilege}${column} ON ${renderTokens(f.object)} FROM ${from}`);
        break;
      }
      case 'grant-option':
        statements.push(`REVOKE GRANT OPTION ON ${renderTokens(f.object)} FROM ${from}`);
        break;
      case 'partial-revoke':
        statements.push(`GRANT ${f.privilege} ON ${renderTokens(f.object)} TO ${from}`);
        break;
      case 'role':
        statements.push(`REVOKE ${renderTokens(f.role)} FROM ${from}`);
        break;
      case 'role-admin':
        // MySQL cannot revoke only the admin option: revoke the role, the grant phase gives it back.
        statements.push(
          variant === 'mariadb'
            ? `REVOKE ADMIN OPTION FOR ${renderTokens(f.role)} FROM ${from}`
            : `REVOKE ${renderTokens(f.role)} FROM ${from}`,
        );
        break;
      case 'default-role':
        statements.push(...defaultRoleStatements([], target, variant));
        break;
    }
  }
  return [...new Set(statements)];
}
