/**
 * Object privileges and default privileges of a pair of roles, read from the
 * catalogs' ACLs (aclexplode over relacl, attacl, nspacl, proacl, typacl,
 * lanacl, fdwacl, srvacl, lomacl, datacl, spcacl, paracl and pg_default_acl),
 * expressed relative to the pair ("<login>" / "<peer>") so the two sides can
 * be compared and the differences turned into batched GRANT/REVOKE statements.
 *
 * Objects a role owns count as every privilege of the object's kind WITH
 * GRANT OPTION (the owner's implicit rights); the clone grants exactly that.
 */
import { quoteParameterName } from './sql';

/** Placeholders for the two roles being compared. Never valid quoted identifiers. */
export const SELF = '<login>';
export const PEER = '<peer>';

export type Query = (sql: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

export interface ObjectPrivilege {
  /** Database holding the object; '' for cluster-wide objects (databases, tablespaces, parameters). */
  database: string;
  /** Object class as GRANT spells it: TABLE, SEQUENCE, COLUMN, SCHEMA, FUNCTION, ... */
  objectClass: string;
  /** What a person would call it: "table", "view", "column", "procedure"... */
  kindLabel: string;
  /** The object as GRANT expects it, quoted by the server (format('%I')). */
  target: string;
  /** Quoted column name, for column privileges. */
  column?: string;
  privilege: string;
  grantable: boolean;
  /** The role owns the object: this fact stands for the owner's implicit rights. */
  owned: boolean;
  /** The admin holds this privilege WITH GRANT OPTION (always true for a superuser). */
  adminCanGrant: boolean;
  /** Quoted role recorded as grantor (the owner for owned objects). */
  grantor: string;
  /** The admin has the grantor's privileges, so it can revoke this grant (always true for a superuser). */
  adminCanRevoke: boolean;
  /** Granted by the object's owner (DROP OWNED revokes these; others are revoked as their grantor). */
  grantedByOwner?: boolean;
}

export interface DefaultPrivilege {
  database: string;
  /** Whose future objects: SELF, PEER or a quoted role name. */
  creator: string;
  /** Quoted schema; undefined = every schema. */
  schema?: string;
  /** TABLES, SEQUENCES, FUNCTIONS, TYPES, SCHEMAS. */
  objectType: string;
  /** SELF, PEER, PUBLIC or a quoted role name. */
  grantee: string;
  privilege: string;
  grantable: boolean;
}

export interface PairFacts<T> {
  reference: T[];
  other: T[];
}

const DEFAULT_ACL_TYPES: Record<string, string> = {
  r: 'TABLES',
  S: 'SEQUENCES',
  f: 'FUNCTIONS',
  T: 'TYPES',
  n: 'SCHEMAS',
};

// One row per object that has an ACL or is owned by one of the roles ($1).
// Columns: cls, label, target, col, owner, acl, defkind, objoid, attnum.
const DATABASE_OBJECTS = `
  SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS cls,
         CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table'
                        WHEN 'S' THEN 'sequence' ELSE 'table' END AS label,
         format('%I.%I', n.nspname, c.relname) AS target, NULL::text AS col,
         c.relowner AS owner, c.relacl AS acl, CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END AS defkind,
         c.oid AS objoid, NULL::int2 AS attnum
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND (c.relacl IS NOT NULL OR c.relowner = ANY($1::oid[]))
  UNION ALL
  SELECT 'COLUMN', 'column', format('%I.%I', n.nspname, c.relname), quote_ident(a.attname),
         NULL::oid, a.attacl, 'c', c.oid, a.attnum
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'SCHEMA', 'schema', quote_ident(n.nspname), NULL, n.nspowner, n.nspacl, 'n', n.oid, NULL
    FROM pg_namespace n WHERE n.nspacl IS NOT NULL OR n.nspowner = ANY($1::oid[])
  UNION ALL
  SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
         CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window function'
                        ELSE 'function' END,
         format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), NULL,
         p.proowner, p.proacl, 'f', p.oid, NULL
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE p.proacl IS NOT NULL OR p.proowner = ANY($1::oid[])
  UNION ALL
  SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, CASE t.typtype WHEN 'd' THEN 'domain' ELSE 'type' END,
         format('%I.%I', n.nspname, t.typname), NULL, t.typowner, t.typacl, 'T', t.oid, NULL
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE (t.typacl IS NOT NULL OR t.typowner = ANY($1::oid[]))
     AND t.typtype <> 'm'                                                     -- multiranges follow their range
     AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid)        -- arrays follow their element
     AND (t.typrelid = 0 OR EXISTS (SELECT 1 FROM pg_class r WHERE r.oid = t.typrelid AND r.relkind = 'c'))
  UNION ALL
  SELECT 'LANGUAGE', 'language', quote_ident(l.lanname), NULL, l.lanowner, l.lanacl, 'l', l.oid, NULL
    FROM pg_language l WHERE l.lanpltrusted AND (l.lanacl IS NOT NULL OR l.lanowner = ANY($1::oid[]))
  UNION ALL
  SELECT 'FOREIGN DATA WRAPPER', 'foreign data wrapper', quote_ident(w.fdwname), NULL, w.fdwowner, w.fdwacl, 'F',
         w.oid, NULL
    FROM pg_foreign_data_wrapper w WHERE w.fdwacl IS NOT NULL OR w.fdwowner = ANY($1::oid[])
  UNION ALL
  SELECT 'FOREIGN SERVER', 'foreign server', quote_ident(s.srvname), NULL, s.srvowner, s.srvacl, 'S', s.oid, NULL
    FROM pg_foreign_server s WHERE s.srvacl IS NOT NULL OR s.srvowner = ANY($1::oid[])
  UNION ALL
  SELECT 'LARGE OBJECT', 'large object', m.oid::text, NULL, m.lomowner, m.lomacl, 'L', m.oid, NULL
    FROM pg_largeobject_metadata m WHERE m.lomacl IS NOT NULL OR m.lomowner = ANY($1::oid[])`;

const SHARED_OBJECTS = `
  SELECT 'DATABASE' AS cls, 'database' AS label, quote_ident(d.datname) AS target, NULL::text AS col,
         d.datdba AS owner, d.datacl AS acl, 'd' AS defkind, d.oid AS objoid, NULL::int2 AS attnum, NULL::text AS parname
    FROM pg_database d WHERE d.datacl IS NOT NULL OR d.datdba = ANY($1::oid[])
  UNION ALL
  SELECT 'TABLESPACE', 'tablespace', quote_ident(s.spcname), NULL, s.spcowner, s.spcacl, 't', s.oid, NULL, NULL
    FROM pg_tablespace s WHERE s.spcacl IS NOT NULL OR s.spcowner = ANY($1::oid[])`;

const PARAMETER_OBJECTS = `
  UNION ALL
  SELECT 'PARAMETER', 'parameter', p.parname, NULL, NULL, p.paracl, 'p', p.oid, NULL, p.parname
    FROM pg_parameter_acl p WHERE p.paracl IS NOT NULL`;

const ADMIN_CAN_GRANT = `
  CASE WHEN $2::oid IS NULL THEN true ELSE CASE o.cls
    WHEN 'TABLE' THEN has_table_privilege($2::oid, o.objoid, x.privilege_type || ' WITH GRANT OPTION')
    WHEN 'SEQUENCE' THEN has_sequence_privilege($2::oid, o.objoid, x.privilege_type || ' WITH GRANT OPTION')
    WHEN 'COLUMN' THEN has_column_privilege($2::oid, o.objoid, o.attnum, x.privilege_type || ' WITH GRANT OPTION')
    WHEN 'SCHEMA' THEN has_schema_privilege($2::oid, o.objoid, x.privilege_type || ' WITH GRANT OPTION')
    WHEN 'FUNCTION' THEN has_function_privilege($2::oid, o.objoid, x.privilege_type || ' WITH GRANT OPTION')
    WHEN 'PROCEDURE' THEN has_function_privilege($2::oid, o.objoid, x.privilege_type || ' WITH GRANT OPTION')
    WHEN 'TYPE' THEN has_type_privilege($2::oid, o.objoid, x.privilege_type || ' WITH GRANT OPTION')
    WHEN 'DOMAIN' THEN has_type_privilege($2::oid, o.objoid, x.privilege_type || ' WITH GRANT OPTION')
    WHEN 'LANGUAGE' THEN has_language_privilege($2::oid, o.objoid, x.privilege_type || ' WITH GRANT OPTION')
    WHEN 'FOREIGN DATA WRAPPER' THEN has_foreign_data_wrapper_privilege($2::oid, o.objoid, x.privilege_type || ' WITH GRANT OPTION')
    WHEN 'FOREIGN SERVER' THEN has_server_privilege($2::oid, o.objoid, x.privilege_type || ' WITH GRANT OPTION')
    WHEN 'DATABASE' THEN has_database_privilege($2::oid, o.objoid, x.privilege_type || ' WITH GRANT OPTION')
    WHEN 'TABLESPACE' THEN has_tablespace_privilege($2::oid, o.objoid, x.privilege_type || ' WITH GRANT OPTION')
    %PARAMETER_CHECK%
    ELSE true END END`;

/** Explicit grants to the roles, plus the owner's implicit rights on what they own. */
function explodeQuery(objects: string, withParameters: boolean): string {
  const check = ADMIN_CAN_GRANT.replace(
    '%PARAMETER_CHECK%',
    withParameters
      ? `WHEN 'PARAMETER' THEN has_parameter_privilege($2::oid, o.parname, x.privilege_type || ' WITH GRANT OPTION')`
      : '',
  );
  return `
WITH o AS (${objects})
SELECT x.grantee::text AS role, o.cls, o.label, o.target, o.col, x.privilege_type AS privilege,
       x.is_grantable AS grantable, false AS owned, ${check} AS admin_can_grant,
       quote_ident(pg_get_userbyid(x.grantor)) AS grantor,
       $2::oid IS NULL OR x.grantor = $2::oid OR pg_has_role($2::oid, x.grantor, 'USAGE') AS admin_can_revoke,
       x.grantor = coalesce(o.owner, CASE o.cls
         WHEN 'COLUMN' THEN (SELECT r.relowner FROM pg_class r WHERE r.oid = o.objoid)
         WHEN 'PARAMETER' THEN 10::oid END) AS by_owner
  FROM o CROSS JOIN LATERAL aclexplode(o.acl) x
 WHERE o.acl IS NOT NULL AND x.grantee = ANY($1::oid[]) AND o.owner IS DISTINCT FROM x.grantee
UNION ALL
SELECT o.owner::text, o.cls, o.label, o.target, o.col, x.privilege_type, true, true, ${check},
       quote_ident(pg_get_userbyid(o.owner)), true, true
  FROM o CROSS JOIN LATERAL aclexplode(acldefault(o.defkind::"char", o.owner)) x
 WHERE o.owner = ANY($1::oid[]) AND x.grantee = o.owner`;
}

const DEFAULT_ACL_QUERY = `
SELECT d.defaclrole::text AS creator_oid, quote_ident(pg_get_userbyid(d.defaclrole)) AS creator,
       d.defaclobjtype::text AS objtype,
       CASE WHEN d.defaclnamespace = 0 THEN NULL ELSE quote_ident(n.nspname) END AS schema,
       x.grantee::text AS grantee_oid,
       CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(x.grantee)) END AS grantee,
       x.privilege_type AS privilege, x.is_grantable AS grantable
  FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
 CROSS JOIN LATERAL aclexplode(d.defaclacl) x
 WHERE d.defaclrole = ANY($1::oid[]) OR x.grantee = ANY($1::oid[])
UNION ALL
-- A role without a global entry for a kind gets the built-in defaults; make them explicit
-- so that a REVOKE ... FROM PUBLIC on one side shows up as a difference.
SELECT r.oid::text, quote_ident(pg_get_userbyid(r.oid)), k.t, NULL, x.grantee::text,
       CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(x.grantee)) END,
       x.privilege_type, x.is_grantable
  FROM unnest($1::oid[]) AS r(oid)
 CROSS JOIN (VALUES ('r'), ('S'), ('f'), ('T'), ('n')) AS k(t)
 CROSS JOIN LATERAL aclexplode(acldefault((CASE k.t WHEN 'S' THEN 's' ELSE k.t END)::"char", r.oid)) x
 WHERE NOT EXISTS (SELECT 1 FROM pg_default_acl d
                    WHERE d.defaclrole = r.oid AND d.defaclnamespace = 0 AND d.defaclobjtype::text = k.t)`;

function toObjectPrivileges(
  rows: Record<string, unknown>[],
  database: string,
  roleOid: string,
): ObjectPrivilege[] {
  return rows
    .filter((r) => r.role === roleOid)
    .map((r) => ({
      database,
      objectClass: String(r.cls),
      kindLabel: String(r.label),
      target: r.cls === 'PARAMETER' ? quoteParameterName(String(r.target)) : String(r.target),
      ...(r.col ? { column: String(r.col) } : {}),
      privilege: String(r.privilege),
      grantable: Boolean(r.grantable),
      owned: Boolean(r.owned),
      adminCanGrant: Boolean(r.admin_can_grant),
      grantor: String(r.grantor),
      adminCanRevoke: Boolean(r.admin_can_revoke),
      grantedByOwner: Boolean(r.by_owner),
    }));
}

/**
 * Object privileges of `roles` [reference, other?] in the database `query` is
 * connected to. `adminOid` set: also tells whether the admin could grant each one.
 */
export async function readObjectPrivileges(
  query: Query,
  database: string,
  roles: [string, string?],
  adminOid: string | null,
): Promise<PairFacts<ObjectPrivilege>> {
  return readRolePair(query, explodeQuery(DATABASE_OBJECTS, false), database, roles, adminOid);
}

/** Privileges on databases, tablespaces and (PostgreSQL 15+) configuration parameters. */
export async function readSharedPrivileges(
  query: Query,
  serverVersionNum: number,
  roles: [string, string?],
  adminOid: string | null,
): Promise<PairFacts<ObjectPrivilege>> {
  const withParameters = serverVersionNum >= 150000;
  const objects = SHARED_OBJECTS + (withParameters ? PARAMETER_OBJECTS : '');
  return readRolePair(query, explodeQuery(objects, withParameters), '', roles, adminOid);
}

/** Runs one exploded privilege query for both roles at once and splits its rows per role. */
async function readRolePair(
  query: Query,
  sql: string,
  database: string,
  roles: [string, string?],
  adminOid: string | null,
): Promise<PairFacts<ObjectPrivilege>> {
  const oids = roles.filter((r): r is string => r !== undefined);
  const rows = await query(sql, [oids, adminOid]);
  return {
    reference: toObjectPrivileges(rows, database, roles[0]),
    other: roles[1] ? toObjectPrivileges(rows, database, roles[1]) : [],
  };
}

/** Default privileges defined by each role, and those other roles define for it. */
export async function readDefaultPrivileges(
  query: Query,
  database: string,
  roles: [string, string?],
): Promise<PairFacts<DefaultPrivilege>> {
  const [ref, other] = roles;
  const oids = roles.filter((r): r is string => r !== undefined);
  const rows = await query(DEFAULT_ACL_QUERY, [oids]);
  const relativeTo = (self: string, peer: string | undefined): DefaultPrivilege[] => {
    const facts: DefaultPrivilege[] = [];
    for (const r of rows) {
      const base = {
        database,
        ...(r.schema ? { schema: String(r.schema) } : {}),
        objectType: DEFAULT_ACL_TYPES[String(r.objtype)] ?? String(r.objtype),
        privilege: String(r.privilege),
        grantable: Boolean(r.grantable),
      };
      const roleToken = (oid: unknown, name: unknown) =>
        oid === self ? SELF : oid === peer ? PEER : String(name);
      if (r.creator_oid === self) {
        facts.push({ ...base, creator: SELF, grantee: roleToken(r.grantee_oid, r.grantee) });
      } else if (r.grantee_oid === self) {
        facts.push({ ...base, creator: roleToken(r.creator_oid, r.creator), grantee: SELF });
      }
    }
    return facts;
  };
  return { reference: relativeTo(ref, other), other: other ? relativeTo(other, ref) : [] };
}

// ---------------------------------------------------------------- comparison

export interface Difference<T> {
  fact: T;
  /** Only the grant option differs; the privilege itself is there. */
  optionOnly: boolean;
}

export interface FactDiff<T> {
  missing: Difference<T>[];
  extra: Difference<T>[];
}

export function objectKey(f: ObjectPrivilege): string {
  return [f.database, f.objectClass, f.target, f.column ?? '', f.privilege].join('\u0000');
}

export function defaultKey(f: DefaultPrivilege): string {
  return [f.database, f.creator, f.schema ?? '', f.objectType, f.grantee, f.privilege].join('\u0000');
}

/** What `reference` has that `other` lacks (missing) and the reverse (extra); grant options included. */
export function diffFacts<T extends { grantable: boolean }>(
  reference: T[],
  other: T[],
  key: (fact: T) => string,
): FactDiff<T> {
  const index = (facts: T[]) => {
    const m = new Map<string, T>();
    for (const f of facts) {
      const k = key(f);
      const seen = m.get(k);
      if (!seen || (f.grantable && !seen.grantable)) m.set(k, f);
    }
    return m;
  };
  const ref = index(reference);
  const oth = index(other);
  const missing: Difference<T>[] = [];
  const extra: Difference<T>[] = [];
  for (const [k, f] of ref) {
    const o = oth.get(k);
    if (!o) missing.push({ fact: f, optionOnly: false });
    else if (f.grantable && !o.grantable) missing.push({ fact: f, optionOnly: true });
  }
  for (const [k, f] of oth) {
    const r = ref.get(k);
    if (!r) extra.push({ fact: f, optionOnly: false });
    else if (f.grantable && !r.grantable) extra.push({ fact: f, optionOnly: true });
  }
  return { missing, extra };
}

function inDatabase(database: string, home: string): string {
  return database && database !== home ? ` in database ${database}` : '';
}

/** e.g. "table app.orders: SELECT", "column app.customers.name: UPDATE WITH GRANT OPTION". */
export function describeObjectPrivilege(d: Difference<ObjectPrivilege>, home: string): string {
  const f = d.fact;
  const object = f.column ? `${f.target}.${f.column}` : f.target;
  const option = d.optionOnly ? ' (grant option)' : f.grantable ? ' WITH GRANT OPTION' : '';
  return `${f.kindLabel} ${object}${inDatabase(f.database, home)}: ${f.privilege}${option}${f.owned ? ' (owner)' : ''}`;
}

/** e.g. "default privileges of <login> in schema app on TABLES to reporting: SELECT". */
export function describeDefaultPrivilege(d: Difference<DefaultPrivilege>, home: string): string {
  const f = d.fact;
  const where = f.schema ? ` in schema ${f.schema}` : '';
  const option = d.optionOnly ? ' (grant option)' : f.grantable ? ' WITH GRANT OPTION' : '';
  return `default privileges of ${f.creator}${where}${inDatabase(f.database, home)} on ${f.objectType} to ${f.grantee}: ${f.privilege}${option}`;
}
