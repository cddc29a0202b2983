/**
 * Role-level state of a PostgreSQL login: attributes (pg_roles), memberships
 * (pg_auth_members) and per-role settings (pg_db_role_setting), read into
 * comparable facts and turned into ALTER ROLE / GRANT role statements.
 */
import { escapeIdentifier, escapeLiteral } from 'pg';
import type { Difference, Query } from './privileges';
import { quoteParameterName } from './sql';

export interface RoleInfo {
  oid: string;
  name: string;
  superuser: boolean;
  inherit: boolean;
  createRole: boolean;
  createDb: boolean;
  canLogin: boolean;
  replication: boolean;
  bypassRls: boolean;
  connectionLimit: number;
  /** ISO timestamp, 'infinity', or null (no expiry). */
  validUntil: string | null;
}

export async function readRole(query: Query, name: string): Promise<RoleInfo | undefined> {
  const [r] = await query(
    `SELECT oid::text AS oid, rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
            rolreplication, rolbypassrls, rolconnlimit, to_json(rolvaliduntil) #>> '{}' AS valid_until
       FROM pg_roles WHERE rolname = $1`,
    [name],
  );
  if (!r) return undefined;
  return {
    oid: String(r.oid),
    name: String(r.rolname),
    superuser: Boolean(r.rolsuper),
    inherit: Boolean(r.rolinherit),
    createRole: Boolean(r.rolcreaterole),
    createDb: Boolean(r.rolcreatedb),
    canLogin: Boolean(r.rolcanlogin),
    replication: Boolean(r.rolreplication),
    bypassRls: Boolean(r.rolbypassrls),
    connectionLimit: Number(r.rolconnlimit),
    validUntil: r.valid_until == null ? null : String(r.valid_until),
  };
}

/**
 * Oid of a login that only a recorded (dry-run) CREATE ROLE made: the largest
 * oid, which no role has (0 would be PUBLIC in ACLs). The catalog queries
 * then see a role with the built-in defaults and nothing granted.
 */
export const NOT_CREATED_OID = '4294967295';

/** Dry run: a login a recorded CREATE ROLE would make, with the defaults and nothing granted. */
export function emptyRole(name: string): RoleInfo {
  return {
    oid: NOT_CREATED_OID,
    name,
    superuser: false,
    inherit: true,
    createRole: false,
    createDb: false,
    canLogin: true,
    replication: false,
    bypassRls: false,
    connectionLimit: -1,
    validUntil: null,
  };
}

// ---------------------------------------------------------------- attributes

/** Attribute name → the CREATE/ALTER ROLE option that sets it to the role's value. LOGIN is not compared. */
export function roleAttributes(role: RoleInfo): Map<string, string> {
  const flag = (on: boolean, name: string) => (on ? name : `NO${name}`);
  return new Map([
    ['SUPERUSER', flag(role.superuser, 'SUPERUSER')],
    ['INHERIT', flag(role.inherit, 'INHERIT')],
    ['CREATEROLE', flag(role.createRole, 'CREATEROLE')],
    ['CREATEDB', flag(role.createDb, 'CREATEDB')],
    ['REPLICATION', flag(role.replication, 'REPLICATION')],
    ['BYPASSRLS', flag(role.bypassRls, 'BYPASSRLS')],
    ['CONNECTION LIMIT', `CONNECTION LIMIT ${role.connectionLimit}`],
    // NULL and 'infinity' both mean "never expires"; ALTER ROLE cannot set NULL back.
    ['VALID UNTIL', `VALID UNTIL ${escapeLiteral(role.validUntil ?? 'infinity')}`],
  ]);
}

const CREATE_DEFAULTS = new Set([
  'NOSUPERUSER',
  'INHERIT',
  'NOCREATEROLE',
  'NOCREATEDB',
  'NOREPLICATION',
  'NOBYPASSRLS',
  'CONNECTION LIMIT -1',
]);

/** Options for CREATE ROLE: only those that differ from the defaults (a non-superuser may not even name SUPERUSER). */
export function createRoleOptions(template: RoleInfo): string[] {
  const options = [...roleAttributes(template).values()].filter((o) => !CREATE_DEFAULTS.has(o));
  // Keep NULL (no expiry) as NULL on a fresh role.
  return template.validUntil === null ? options.filter((o) => !o.startsWith('VALID UNTIL')) : options;
}

/** Options for ALTER ROLE that make `current` match `template`. */
export function alterRoleOptions(template: RoleInfo, current: RoleInfo): string[] {
  const want = roleAttributes(template);
  const have = roleAttributes(current);
  return [...want].filter(([name, option]) => have.get(name) !== option).map(([, option]) => option);
}

/** Human-readable attribute differences. */
export function diffAttributes(reference: RoleInfo, other: RoleInfo): { missing: string[]; extra: string[] } {
  const ref = roleAttributes(reference);
  const oth = roleAttributes(other);
  const missing: string[] = [];
  const extra: string[] = [];
  for (const [name, option] of ref) {
    const o = oth.get(name)!;
    if (o !== option) {
      missing.push(`attribute ${option}`);
      extra.push(`attribute ${o}`);
    }
  }
  return { missing, extra };
}

// ---------------------------------------------------------------- memberships

export interface Membership {
  /** Quoted group role name. */
  group: string;
  groupOid: string;
  /** ADMIN OPTION, compared like a grant option. */
  grantable: boolean;
  /** PostgreSQL 16+: INHERIT / SET options of the grant. */
  inherit?: boolean;
  set?: boolean;
}

export async function readMemberships(
  query: Query,
  roleOid: string,
  serverVersionNum: number,
): Promise<Membership[]> {
  const pg16 = serverVersionNum >= 160000;
  const rows = await query(
    `SELECT quote_ident(g.rolname) AS grp, g.oid::text AS grp_oid, bool_or(m.admin_option) AS admin
            ${pg16 ? ', bool_or(m.inherit_option) AS inherit, bool_or(m.set_option) AS set' : ''}
       FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
      WHERE m.member = $1::oid
      GROUP BY g.rolname, g.oid`,
    [roleOid],
  );
  return rows.map((r) => ({
    group: String(r.grp),
    groupOid: String(r.grp_oid),
    grantable: Boolean(r.admin),
    ...(pg16 ? { inherit: Boolean(r.inherit), set: Boolean(r.set) } : {}),
  }));
}

export function membershipKey(m: Membership): string {
  return m.inherit === undefined ? m.group : `${m.group} (INHERIT ${m.inherit}, SET ${m.set})`;
}

export function describeMembership(d: Difference<Membership>): string {
  const option = d.optionOnly ? ' (admin option)' : d.fact.grantable ? ' WITH ADMIN OPTION' : '';
  const pg16 =
    d.fact.inherit === undefined
      ? ''
      : ` (INHERIT ${String(d.fact.inherit).toUpperCase()}, SET ${String(d.fact.set).toUpperCase()})`;
  return `membership in ${d.fact.group}${pg16}${option}`;
}

export function membershipStatements(
  verb: 'GRANT' | 'REVOKE',
  diffs: Difference<Membership>[],
  memberSql: string,
): string[] {
  return diffs.map(({ fact, optionOnly }) => {
    if (verb === 'REVOKE') {
      return optionOnly
        ? `REVOKE ADMIN OPTION FOR ${fact.group} FROM ${memberSql}`
        : `REVOKE ${fact.group} FROM ${memberSql}`;
    }
    if (fact.inherit === undefined) {
      return `GRANT ${fact.group} TO ${memberSql}${fact.grantable ? ' WITH ADMIN OPTION' : ''}`;
    }
    return `GRANT ${fact.group} TO ${memberSql} WITH ADMIN ${fact.grantable ? 'TRUE' : 'FALSE'}, INHERIT ${fact.inherit ? 'TRUE' : 'FALSE'}, SET ${fact.set ? 'TRUE' : 'FALSE'}`;
  });
}

// ---------------------------------------------------------------- settings

export interface RoleSetting {
  /** '' = every database. */
  database: string;
  name: string;
  value: string;
  /** Settings have no grant option; present so they diff like privileges. */
  grantable: false;
}

export async function readSettings(query: Query, roleOid: string): Promise<RoleSetting[]> {
  const rows = await query(
    `SELECT coalesce(d.datname, '') AS db, c.setting
       FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase
      CROSS JOIN LATERAL unnest(s.setconfig) AS c(setting)
      WHERE s.setrole = $1::oid`,
    [roleOid],
  );
  return rows.map((r) => {
    const setting = String(r.setting);
    const eq = setting.indexOf('=');
    return {
      database: String(r.db),
      name: setting.slice(0, eq),
      value: setting.slice(eq + 1),
      grantable: false,
    };
  });
}

export function settingKey(s: RoleSetting): string {
  return `${s.database}\u0000${s.name.toLowerCase()}\u0000${s.value}`;
}

export function describeSetting(s: RoleSetting): string {
  return `setting ${s.name}=${s.value}${s.database ? ` in database ${s.database}` : ''}`;
}

/**
 * Settings the server stores as a list of quoted identifiers (GUC_LIST_QUOTE).
 * Their stored text must be split back into elements, because SET with one
 * string would be quoted again as a single element.
 */
const LIST_QUOTED_SETTINGS = new Set([
  'search_path',
  'temp_tablespaces',
  'session_preload_libraries',
  'local_preload_libraries',
]);

/** Splits a stored list value (`"$user", public, "a,b"`) into its elements, unquoting them. */
export function splitSettingList(value: string): string[] {
  const items: string[] = [];
  let i = 0;
  while (i <= value.length) {
    while (value[i] === ' ') i++;
    let item = '';
    if (value[i] === '"') {
      i++;
      for (; i < value.length; i++) {
        if (value[i] === '"') {
          if (value[i + 1] === '"') {
            item += '"';
            i++;
          } else break;
        } else item += value[i];
      }
      i++; // closing quote
      while (i < value.length && value[i] !== ',') i++;
    } else {
      const end = value.indexOf(',', i);
      item = (end === -1 ? value.slice(i) : value.slice(i, end)).trim();
      i = end === -1 ? value.length : end;
    }
    items.push(item);
    if (value[i] !== ',') break;
    i++;
  }
  return items;
}

function settingValueSql(name: string, value: string): string {
  if (LIST_QUOTED_SETTINGS.has(name.toLowerCase()))
    return splitSettingList(value).map(escapeLiteral).join(', ');
  return escapeLiteral(value);
}

/** ALTER ROLE ... SET for missing/different settings, RESET for extra ones. */
export function settingStatements(missing: RoleSetting[], extra: RoleSetting[], roleSql: string): string[] {
  const scope = (db: string) => `ALTER ROLE ${roleSql}${db ? ` IN DATABASE ${escapeIdentifier(db)}` : ''}`;
  const setKeys = new Set(missing.map((s) => `${s.database}\u0000${s.name.toLowerCase()}`));
  const resets = extra
    .filter((s) => !setKeys.has(`${s.database}\u0000${s.name.toLowerCase()}`))
    .map((s) => `${scope(s.database)} RESET ${quoteParameterName(s.name)}`);
  const sets = missing.map(
    (s) => `${scope(s.database)} SET ${quoteParameterName(s.name)} = ${settingValueSql(s.name, s.value)}`,
  );
  return [...resets, ...sets];
}
