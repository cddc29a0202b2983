/**
 * What the admin lacks to rotate a login. A superuser lacks nothing (except
 * for dual-password, which PostgreSQL does not have); a CREATEROLE admin must
 * be able to grant everything the login holds, manage its default
 * privileges, revoke its grants and end its sessions at drop time.
 */
import type { ResolvedStrategy } from '../../shared/types';
import {
  describeObjectPrivilege,
  readDefaultPrivileges,
  readObjectPrivileges,
  readSharedPrivileges,
  SELF,
  type ObjectPrivilege,
  type Query,
} from './privileges';
import { readMemberships, type RoleInfo } from './roles';
import { scopeDatabases, type PgConnector, type ServerVersion } from './sql';

export async function preflightGaps(
  db: PgConnector,
  target: RoleInfo,
  admin: RoleInfo,
  version: ServerVersion,
  strategy: ResolvedStrategy,
): Promise<string[]> {
  const missing: string[] = [];
  if (target.superuser && !admin.superuser) missing.push(`SUPERUSER (login "${target.name}" is a superuser)`);
  if (!admin.superuser && !admin.createRole) missing.push('CREATEROLE (or SUPERUSER)');
  if (admin.superuser || missing.length > 0) return missing;
  const home: Query = (sql, params) => db.query(db.homeDatabase, sql, params, 'checking admin privileges');
  if (
    strategy === 'single' &&
    version.num >= 160000 &&
    !(await hasRole(home, target.name, 'MEMBER WITH ADMIN OPTION'))
  ) {
    missing.push(`ADMIN OPTION on role "${target.name}"`);
  }
  if (strategy === 'dual-user') missing.push(...(await dualUserGaps(db, home, target, admin, version)));
  return missing;
}

async function hasRole(query: Query, role: string, privilege: string): Promise<boolean> {
  const [row] = await query('SELECT pg_has_role(current_user, $1, $2) AS ok', [role, privilege]);
  return Boolean(row?.ok);
}

async function dualUserGaps(
  db: PgConnector,
  home: Query,
  template: RoleInfo,
  admin: RoleInfo,
  version: ServerVersion,
): Promise<string[]> {
  const gaps: string[] = [];
  const pg16 = version.num >= 160000;
  // PostgreSQL < 16: a CREATEROLE role may give CREATEDB/CREATEROLE, not REPLICATION/BYPASSRLS.
  // 16+: it may give an attribute only if it has it itself.
  for (const [attr, has, adminHas] of [
    ['REPLICATION', template.replication, admin.replication],
    ['BYPASSRLS', template.bypassRls, admin.bypassRls],
    ['CREATEDB', template.createDb, admin.createDb],
    ['CREATEROLE', template.createRole, admin.createRole],
  ] as const) {
    const allowed = pg16 ? adminHas : attr === 'CREATEDB' || attr === 'CREATEROLE';
    if (has && !allowed) gaps.push(`${pg16 ? attr : 'SUPERUSER'} (to give the new login ${attr})`);
  }
  const memberOfTemplate = await hasRole(home, template.name, 'MEMBER');
  if (!memberOfTemplate) {
    gaps.push(`membership in "${template.name}" (to manage its default privileges and objects)`);
  }
  if (!memberOfTemplate && !(await hasRole(home, 'pg_signal_backend', 'MEMBER'))) {
    gaps.push("membership in pg_signal_backend (to end the old login's sessions)");
  }
  for (const m of await readMemberships(home, template.oid, version.num)) {
    const [row] = await home(
      'SELECT rolsuper, pg_has_role(current_user, oid, $2) AS admin FROM pg_roles WHERE oid = $1::oid',
      [m.groupOid, 'MEMBER WITH ADMIN OPTION'],
    );
    if (pg16 ? !row?.admin : row?.rolsuper) gaps.push(`ADMIN OPTION on role ${m.group}`);
  }
  const shared = await readSharedPrivileges(home, version.num, [template.oid], admin.oid);
  gaps.push(
    ...grantGaps(shared.reference, db.homeDatabase),
    ...revokeGaps(shared.reference, db.homeDatabase),
  );

  for (const database of await scopeDatabases(db, [template.oid])) {
    if (!database.connectable) continue;
    const [row] = await home('SELECT has_database_privilege(current_user, $1, $2) AS ok', [
      database.name,
      'CONNECT',
    ]);
    if (!row?.ok) {
      gaps.push(`CONNECT on database ${database.name}`);
      continue;
    }
    const q: Query = (sql, params) =>
      db.query(database.name, sql, params, `reading privileges in ${database.name}`);
    const objects = await readObjectPrivileges(q, database.name, [template.oid], admin.oid);
    gaps.push(
      ...grantGaps(objects.reference, db.homeDatabase),
      ...revokeGaps(objects.reference, db.homeDatabase),
    );
    const defaults = await readDefaultPrivileges(q, database.name, [template.oid]);
    for (const creator of new Set(defaults.reference.map((f) => f.creator).filter((c) => c !== SELF))) {
      if (!(await hasRole(q, unquoteIdent(creator), 'MEMBER'))) {
        gaps.push(`membership in ${creator} (its default privileges include "${template.name}")`);
      }
    }
  }
  return [...new Set(gaps)];
}

/** "table app.orders: SELECT", without the grant option / owner decorations. */
export function describePrivilege(f: ObjectPrivilege, home: string): string {
  return describeObjectPrivilege({ fact: { ...f, grantable: false, owned: false }, optionOnly: false }, home);
}

/** Privileges the admin cannot pass on (it lacks them WITH GRANT OPTION). */
export function grantGaps(facts: ObjectPrivilege[], home: string): string[] {
  return facts.filter((f) => !f.adminCanGrant).map((f) => `${describePrivilege(f, home)} WITH GRANT OPTION`);
}

/** Grants the admin could not revoke when the login is dropped (it lacks the grantor's privileges). */
function revokeGaps(facts: ObjectPrivilege[], home: string): string[] {
  return facts
    .filter((f) => !f.adminCanRevoke)
    .map(
      (f) => `privileges of ${f.grantor} (to revoke ${describePrivilege(f, home)} when the login is dropped)`,
    );
}

/** Turns a quote_ident() result back into the role name, for parameters. */
function unquoteIdent(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replace(/""/g, '"') : ident;
}

export interface OwnedInDatabase {
  database: string;
  connectable: boolean;
  /** Objects the role owns there (default-privilege entries not counted). */
  owned: number;
  /** Privileges, default privileges and policies that name the role there. */
  other: number;
}

/** Per database (not shared objects): what `roleOid` owns or is named in, from pg_shdepend. */
export async function holdingsByDatabase(db: PgConnector, roleOid: string): Promise<OwnedInDatabase[]> {
  const rows = await db.query(
    db.homeDatabase,
    `SELECT d.datname, d.datallowconn,
            count(*) FILTER (WHERE s.deptype = 'o' AND s.classid <> 'pg_default_acl'::regclass)::int AS owned,
            count(*) FILTER (WHERE s.deptype <> 'o' OR s.classid = 'pg_default_acl'::regclass)::int AS other
       FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid
      WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = $1::oid
      GROUP BY d.datname, d.datallowconn ORDER BY d.datname`,
    [roleOid],
    'reading what the login holds per database',
  );
  return rows.map((r) => ({
    database: String(r.datname),
    connectable: Boolean(r.datallowconn),
    owned: Number(r.owned),
    other: Number(r.other),
  }));
}

/**
 * dual-user: databases that do not allow connections where the login owns
 * objects or holds privileges. We cannot connect there, so the clone misses
 * them and REASSIGN/DROP OWNED cannot run there: DROP ROLE would fail at revoke.
 */
export async function unreachableHoldings(db: PgConnector, target: RoleInfo): Promise<string[]> {
  return (await holdingsByDatabase(db, target.oid))
    .filter((h) => !h.connectable)
    .map((h) => {
      const what = [
        h.owned > 0 ? `owns ${h.owned} object(s)` : '',
        h.other > 0 ? `holds ${h.other} privilege/default-privilege entr${h.other === 1 ? 'y' : 'ies'}` : '',
      ]
        .filter(Boolean)
        .join(' and ');
      return `login "${target.name}" ${what} in database ${h.database}, which does not allow connections: dual-user can neither clone nor move them, and DROP ROLE would fail (allow connections to it for the rotation, or move them first)`;
    });
}
