/**
 * What the admin account needs for each strategy, checked against its own
 * SHOW GRANTS (direct grants only; privileges it would get through a role
 * are not counted, so such admins get a precise error rather than a partial
 * rotation).
 */
import type { ResolvedStrategy } from '../../shared/types';
import { describeGrant, type GrantFact } from './grants';
import { isName, isPunct, isWord, renderTokens, type Token } from './tokens';
import type { Variant } from './user';

type Scope =
  | { level: 'global' }
  | { level: 'db'; db: string }
  | { level: 'object'; db: string; key: string }
  | { level: 'proxy'; key: string };

export function scopeOf(object: Token[]): Scope {
  const key = renderTokens(object);
  let i = 0;
  while (isWord(object[i], 'TABLE', 'FUNCTION', 'PROCEDURE', 'PACKAGE', 'BODY')) i++;
  const first = object[i];
  const sep = object[i + 1];
  const second = object[i + 2];
  if (isPunct(sep, '@')) return { level: 'proxy', key };
  if (isPunct(first, '*') && (sep === undefined || (isPunct(sep, '.') && isPunct(second, '*')))) {
    return { level: 'global' };
  }
  const db = isName(first) ? first.value : '';
  if (isPunct(second, '*')) return { level: 'db', db };
  return { level: 'object', db, key };
}

function covers(outer: Scope, inner: Scope): boolean {
  if (inner.level === 'proxy' || outer.level === 'proxy') {
    return (
      outer.level === 'proxy' &&
      inner.level === 'proxy' &&
      (outer.key === inner.key || outer.key === "''@'%'")
    );
  }
  if (outer.level === 'global') return true;
  if (outer.level === 'db') return inner.level !== 'global' && inner.db === outer.db;
  return inner.level === 'object' && inner.key === outer.key && inner.db === outer.db;
}

/** The admin holds `privilege` at a scope covering `object`, with the grant option there. */
export function adminCanGrant(admin: GrantFact[], privilege: string, object: Token[]): boolean {
  const target = scopeOf(object);
  return admin.some((f) => {
    if (f.kind !== 'privilege' || f.column !== undefined) return false;
    if (f.privilege !== privilege && !(f.privilege === 'ALL PRIVILEGES' && privilege !== 'PROXY'))
      return false;
    const scope = scopeOf(f.object);
    if (!covers(scope, target)) return false;
    const key = renderTokens(f.object);
    return admin.some((g) => g.kind === 'grant-option' && renderTokens(g.object) === key);
  });
}

export function adminHasGlobal(admin: GrantFact[], ...privileges: string[]): boolean {
  return admin.some(
    (f) =>
      f.kind === 'privilege' &&
      f.column === undefined &&
      scopeOf(f.object).level === 'global' &&
      (f.privilege === 'ALL PRIVILEGES' || privileges.includes(f.privilege)),
  );
}

function adminCanReadMysqlSchema(admin: GrantFact[]): boolean {
  return (
    adminHasGlobal(admin, 'SELECT') ||
    admin.some(
      (f) =>
        f.kind === 'privilege' &&
        f.column === undefined &&
        ['SELECT', 'ALL PRIVILEGES'].includes(f.privilege) &&
        (() => {
          const s = scopeOf(f.object);
          return s.level === 'db' && s.db === 'mysql';
        })(),
    )
  );
}

/** Human-readable list of what the admin lacks to run `strategy` for an account with `template` grants. */
export function adminGaps(
  admin: GrantFact[],
  template: GrantFact[],
  strategy: ResolvedStrategy,
  variant: Variant,
): string[] {
  const gaps: string[] = [];
  if (!adminHasGlobal(admin, 'CREATE USER')) gaps.push('CREATE USER (global, to alter and create accounts)');
  if (!adminCanReadMysqlSchema(admin)) gaps.push('SELECT on mysql.* (to read accounts and their grants)');
  if (strategy !== 'dual-user') return gaps;

  if (!adminHasGlobal(admin, 'PROCESS')) gaps.push("PROCESS (global, to see the old login's sessions)");
  const kill = variant === 'mariadb' ? ['SUPER', 'CONNECTION ADMIN'] : ['SUPER', 'CONNECTION_ADMIN'];
  if (!adminHasGlobal(admin, ...kill))
    gaps.push(`${kill.join(' or ')} (global, to end the old login's sessions)`);
  for (const f of template) {
    if (f.kind === 'privilege' && !adminCanGrant(admin, f.privilege, f.object)) {
      gaps.push(`${describeGrant({ ...f, column: undefined })} WITH GRANT OPTION`);
    } else if (
      f.kind === 'grant-option' &&
      !template.some((g) => g.kind === 'privilege' && renderTokens(g.object) === renderTokens(f.object))
    ) {
      if (!admin.some((g) => g.kind === 'grant-option' && covers(scopeOf(g.object), scopeOf(f.object)))) {
        gaps.push(`GRANT OPTION ON ${renderTokens(f.object)}`);
      }
    } else if (f.kind === 'role') {
      const role = renderTokens(f.role);
      const viaPrivilege = variant === 'mysql' && adminHasGlobal(admin, 'ROLE_ADMIN', 'SUPER');
      if (!viaPrivilege && !admin.some((g) => g.kind === 'role-admin' && renderTokens(g.role) === role)) {
        gaps.push(`ADMIN OPTION on role ${role}`);
      }
    }
  }
  return [...new Set(gaps)];
}
