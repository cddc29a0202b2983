/**
 * GRANT / REVOKE / ALTER DEFAULT PRIVILEGES statements built from privilege
 * differences. Objects needing the same privileges share one statement (up
 * to 1000 objects each), so thousands of grants take a few round trips.
 */
import type { DefaultPrivilege, Difference, ObjectPrivilege } from './privileges';
import { chunk } from './sql';

const OBJECTS_PER_STATEMENT = 1000;

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = m.get(k);
    if (list) list.push(item);
    else m.set(k, [item]);
  }
  return m;
}

type Verb = 'GRANT' | 'REVOKE';

function privilegeStatement(
  verb: Verb,
  privileges: string,
  on: string,
  grantee: string,
  option: boolean,
): string {
  if (verb === 'GRANT')
    return `GRANT ${privileges} ON ${on} TO ${grantee}${option ? ' WITH GRANT OPTION' : ''}`;
  return `REVOKE ${option ? 'GRANT OPTION FOR ' : ''}${privileges} ON ${on} FROM ${grantee} CASCADE`;
}

/**
 * Batched GRANT (for missing) or REVOKE (for extra) statements giving
 * `granteeSql` exactly the differences: objects that need the same set of
 * privileges share one statement (up to 1000 objects each).
 */
export function objectPrivilegeStatements(
  verb: Verb,
  diffs: Difference<ObjectPrivilege>[],
  granteeSql: string,
): string[] {
  const statements: string[] = [];
  // With GRANT the option flag is the reference's grantable; with REVOKE, optionOnly removes just the option.
  const option = (d: Difference<ObjectPrivilege>) => (verb === 'GRANT' ? d.fact.grantable : d.optionOnly);
  const [columns, objects] = [diffs.filter((d) => d.fact.column), diffs.filter((d) => !d.fact.column)];

  for (const [, group] of groupBy(objects, (d) => `${d.fact.objectClass}\u0000${option(d)}`)) {
    const first = group[0]!;
    const privilegesByTarget = new Map<string, Set<string>>();
    for (const d of group) {
      const set = privilegesByTarget.get(d.fact.target) ?? new Set<string>();
      set.add(d.fact.privilege);
      privilegesByTarget.set(d.fact.target, set);
    }
    const targetsByPrivileges = groupBy([...privilegesByTarget], ([, privs]) => [...privs].sort().join(', '));
    for (const [privileges, entries] of targetsByPrivileges) {
      for (const part of chunk(
        entries.map(([target]) => target),
        OBJECTS_PER_STATEMENT,
      )) {
        const on = `${first.fact.objectClass} ${part.join(', ')}`;
        statements.push(privilegeStatement(verb, privileges, on, granteeSql, option(first)));
      }
    }
  }
  for (const [, group] of groupBy(columns, (d) => `${d.fact.target}\u0000${option(d)}`)) {
    const first = group[0]!;
    const columnsByPrivilege = groupBy(group, (d) => d.fact.privilege);
    const privileges = [...columnsByPrivilege]
      .map(([privilege, ds]) => `${privilege} (${ds.map((d) => d.fact.column).join(', ')})`)
      .join(', ');
    statements.push(
      privilegeStatement(verb, privileges, `TABLE ${first.fact.target}`, granteeSql, option(first)),
    );
  }
  return statements;
}

/** ALTER DEFAULT PRIVILEGES statements; `resolve` maps SELF/PEER/PUBLIC/quoted names to SQL. */
export function defaultPrivilegeStatements(
  verb: Verb,
  diffs: Difference<DefaultPrivilege>[],
  resolve: (token: string) => string,
): string[] {
  const option = (d: Difference<DefaultPrivilege>) => (verb === 'GRANT' ? d.fact.grantable : d.optionOnly);
  const groups = groupBy(diffs, (d) =>
    [d.fact.creator, d.fact.schema ?? '', d.fact.objectType, d.fact.grantee, option(d)].join('\u0000'),
  );
  const statements: string[] = [];
  for (const [, group] of groups) {
    const f = group[0]!.fact;
    const privileges = [...new Set(group.map((d) => d.fact.privilege))].sort().join(', ');
    const head = `ALTER DEFAULT PRIVILEGES FOR ROLE ${resolve(f.creator)}${f.schema ? ` IN SCHEMA ${f.schema}` : ''}`;
    const grantee = resolve(f.grantee);
    statements.push(
      verb === 'GRANT'
        ? `${head} GRANT ${privileges} ON ${f.objectType} TO ${grantee}${option(group[0]!) ? ' WITH GRANT OPTION' : ''}`
        : `${head} REVOKE ${option(group[0]!) ? 'GRANT OPTION FOR ' : ''}${privileges} ON ${f.objectType} FROM ${grantee}`,
    );
  }
  return statements;
}

/**
 * REVOKE for grants DROP OWNED leaves behind: it revokes only what the
 * object's owner granted, so grants made by another role holding the grant
 * option are revoked as that role (SET LOCAL ROLE, inside the transaction).
 */
export function leftoverRevokeStatements(leftovers: ObjectPrivilege[], granteeSql: string): string[] {
  const statements: string[] = [];
  for (const [grantor, facts] of groupBy(
    leftovers.filter((f) => !f.owned),
    (f) => f.grantor,
  )) {
    const diffs = facts.map((fact) => ({ fact, optionOnly: false }));
    statements.push(
      `SET LOCAL ROLE ${grantor}`,
      ...objectPrivilegeStatements('REVOKE', diffs, granteeSql),
      'RESET ROLE',
    );
  }
  return statements;
}

/**
 * Grace-window bridge: whatever either login creates (in any schema of this
 * database) is fully usable by the other, with the same grant option an owner
 * has. Global (not per-schema) entries, so schemas created during grace are
 * covered too.
 */
export function bridgeStatements(templateSql: string, newLoginSql: string): string[] {
  const kinds = ['TABLES', 'SEQUENCES', 'FUNCTIONS', 'TYPES', 'SCHEMAS'];
  return kinds.flatMap((kind) => [
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${templateSql} GRANT ALL ON ${kind} TO ${newLoginSql} WITH GRANT OPTION`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${newLoginSql} GRANT ALL ON ${kind} TO ${templateSql} WITH GRANT OPTION`,
  ]);
}
