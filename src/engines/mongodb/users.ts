/**
 * Pure helpers of the MongoDB engine: name checks, server detection, user
 * documents (usersInfo) as clone specs and comparable facts, and privilege
 * checks on connectionStatus output. No I/O here.
 */
import { UnsafeIdentifierError } from '../../errors';

/** MongoDB 4.0: SCRAM-SHA-256, `mechanisms` in createUser/updateUser, usersInfo filters. */
export const MONGO_MIN_VERSION: [number, number] = [4, 0];

// ------------------------------------------------------------------ names

/** User names may hold almost anything (they are BSON strings); we refuse empty and NUL. */
export function checkMongoUser(name: string, what = 'login name'): void {
  if (typeof name !== 'string' || name.length === 0) throw new UnsafeIdentifierError(`${what} is empty`);
  if (name.includes('\u0000')) throw new UnsafeIdentifierError(`${what} contains a NUL byte`);
}

/**
 * Database names: no NUL, none of `/\. "$` (the Unix rules; `*<>:|?` are
 * refused on Windows servers only) and under 64 bytes. `$external` (x.509,
 * LDAP, Kerberos users) is a valid name but holds no passwords to rotate.
 */
export function checkMongoDb(name: string, what = 'database name'): void {
  if (typeof name !== 'string' || name.length === 0) throw new UnsafeIdentifierError(`${what} is empty`);
  if (name === '$external') return;
  if (/[/\\. "$]/.test(name) || name.includes('\u0000')) {
    throw new UnsafeIdentifierError(
      `${what} "${name}" contains a character MongoDB refuses in database names (/\\. "$ or NUL)`,
    );
  }
  if (Buffer.byteLength(name, 'utf8') >= 64) throw new UnsafeIdentifierError(`${what} is 64 bytes or longer`);
}

// ------------------------------------------------------------------ server

export interface MongoServerFacts {
  /** buildInfo.version, e.g. "7.0.14"; FerretDB reports the MongoDB version it emulates. */
  version: string;
  major: number;
  minor: number;
  /** FerretDB's own version ("v1.24.0"), or undefined on MongoDB. */
  ferretdb?: string;
}

export function parseBuildInfo(b: Record<string, unknown>): MongoServerFacts {
  const version = String(b.version ?? '0.0.0');
  const arr = Array.isArray(b.versionArray)
    ? (b.versionArray as unknown[]).map(Number)
    : version.split('.').map(Number);
  const ferret =
    typeof b.ferretdbVersion === 'string'
      ? b.ferretdbVersion
      : b.ferretdb &&
          typeof b.ferretdb === 'object' &&
          typeof (b.ferretdb as { version?: unknown }).version === 'string'
        ? String((b.ferretdb as { version: string }).version)
        : /ferretdb/i.test(version)
          ? version
          : undefined;
  return { version, major: arr[0] || 0, minor: arr[1] || 0, ferretdb: ferret };
}

export function displayVersion(s: MongoServerFacts): string {
  return s.ferretdb ? `${s.version} (FerretDB ${s.ferretdb.replace(/^v/, '')})` : s.version;
}

export function versionAtLeast(
  s: Pick<MongoServerFacts, 'major' | 'minor'>,
  [major, minor]: [number, number],
): boolean {
  return s.major > major || (s.major === major && s.minor >= minor);
}

// ------------------------------------------------------------------ users

export interface RoleRef {
  role: string;
  db: string;
}

export interface Privilege {
  resource: Record<string, unknown>;
  actions: string[];
}

/** The parts of a usersInfo document we use. */
export interface MongoUserDoc {
  user: string;
  db: string;
  roles?: RoleRef[];
  mechanisms?: string[];
  customData?: Record<string, unknown>;
  authenticationRestrictions?: unknown[];
  inheritedRoles?: RoleRef[];
  inheritedPrivileges?: Privilege[];
  inheritedAuthenticationRestrictions?: unknown[];
}

/**
 * Restriction documents ({clientSource, serverAddress}) from usersInfo, which
 * nests them in arrays (one per source) depending on version and options:
 * flattened to the plain list that createUser takes.
 */
export function flattenRestrictions(value: unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const visit = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') out.push(v as Record<string, unknown>);
  };
  visit(value);
  return out;
}

/** JSON with sorted keys and sorted arrays of scalars: equal documents print equal. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) {
    const items = value.map(canonical);
    return `[${value.every((v) => v === null || typeof v !== 'object') ? items.sort().join(',') : items.join(',')}]`;
  }
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What createUser / updateUser need to give a login the template's roles and attributes. */
export interface UserSpec {
  roles: RoleRef[];
  mechanisms?: string[];
  authenticationRestrictions: Record<string, unknown>[];
  customData?: Record<string, unknown>;
}

export function specOf(doc: MongoUserDoc): UserSpec {
  return {
    roles: (doc.roles ?? []).map((r) => ({ role: r.role, db: r.db })),
    mechanisms: doc.mechanisms && doc.mechanisms.length > 0 ? [...doc.mechanisms] : undefined,
    authenticationRestrictions: flattenRestrictions(doc.authenticationRestrictions),
    customData: doc.customData && Object.keys(doc.customData).length > 0 ? doc.customData : undefined,
  };
}

/**
 * The start both commands share: the command name first (MongoDB reads the
 * first key as the command), the password, the roles (replaced wholesale by
 * updateUser) and the template's mechanisms.
 */
function userCommand(
  command: 'createUser' | 'updateUser',
  login: string,
  password: string,
  spec: UserSpec,
): Record<string, unknown> {
  const cmd: Record<string, unknown> = {
    [command]: login,
    pwd: password,
    roles: spec.roles,
    digestPassword: true,
  };
  if (spec.mechanisms) cmd.mechanisms = spec.mechanisms;
  return cmd;
}

/** The createUser command for `login` like `spec` (passwordDigestor server: the server computes SCRAM). */
export function createUserCommand(login: string, password: string, spec: UserSpec): Record<string, unknown> {
  const cmd = userCommand('createUser', login, password, spec);
  // Omitted when empty: FerretDB implements only default values of these fields.
  if (spec.authenticationRestrictions.length > 0)
    cmd.authenticationRestrictions = spec.authenticationRestrictions;
  if (spec.customData) cmd.customData = spec.customData;
  cmd.writeConcern = { w: 'majority' };
  return cmd;
}

/**
 * updateUser that re-syncs an existing login to `spec` (a retry of
 * createLoginLike): password, roles (replaced wholesale), mechanisms,
 * restrictions, and customData cleared if the template has none.
 */
export function updateUserCommand(
  login: string,
  password: string,
  spec: UserSpec,
  existing: MongoUserDoc,
): Record<string, unknown> {
  const cmd = userCommand('updateUser', login, password, spec);
  const existingRestrictions = flattenRestrictions(existing.authenticationRestrictions);
  if (spec.authenticationRestrictions.length > 0 || existingRestrictions.length > 0) {
    cmd.authenticationRestrictions = spec.authenticationRestrictions;
  }
  if (spec.customData) cmd.customData = spec.customData;
  else if (existing.customData && Object.keys(existing.customData).length > 0) cmd.customData = {};
  cmd.writeConcern = { w: 'majority' };
  return cmd;
}

// ------------------------------------------------------------------ comparison

export function describeResource(r: Record<string, unknown>): string {
  if (r.anyResource === true) return 'any resource';
  if (r.cluster === true) return 'cluster';
  if (typeof r.db === 'string' && typeof r.collection === 'string') {
    const db = r.db === '' ? '<any db>' : r.db;
    return r.collection === '' ? `db ${db}` : `${db}.${r.collection}`;
  }
  return canonical(r);
}

export function privilegeFacts(privileges: Privilege[] | undefined): string[] {
  const out: string[] = [];
  for (const p of privileges ?? []) {
    for (const action of p.actions ?? []) out.push(`${action} on ${describeResource(p.resource ?? {})}`);
  }
  return out;
}

const roleFact = (r: RoleRef) => `role ${r.role}@${r.db}`;

/**
 * Differences between two users' effective rights. Roles, inherited
 * privileges (when the server reports them: MongoDB with showPrivileges) and
 * mechanisms the other lacks are missing. Authentication restrictions work
 * the other way round: one only the other login has can lock it out, so it is
 * missing; one it lacks makes it less restricted, so it is extra.
 */
export function compareUsers(
  reference: MongoUserDoc,
  other: MongoUserDoc,
): { missing: string[]; extra: string[] } {
  const missing: string[] = [];
  const extra: string[] = [];
  const diff = (ref: string[], oth: string[], lacking: string[], surplus: string[]) => {
    const r = new Set(ref);
    const o = new Set(oth);
    for (const f of r) if (!o.has(f)) lacking.push(f);
    for (const f of o) if (!r.has(f)) surplus.push(f);
  };
  diff(
    (reference.roles ?? []).map(roleFact).sort(),
    (other.roles ?? []).map(roleFact).sort(),
    missing,
    extra,
  );
  if (reference.inheritedPrivileges || other.inheritedPrivileges) {
    diff(
      privilegeFacts(reference.inheritedPrivileges),
      privilegeFacts(other.inheritedPrivileges),
      missing,
      extra,
    );
  }
  diff(
    (reference.mechanisms ?? []).map((m) => `mechanism ${m}`),
    (other.mechanisms ?? []).map((m) => `mechanism ${m}`),
    missing,
    extra,
  );
  const restrictions = (u: MongoUserDoc) =>
    flattenRestrictions([
      u.authenticationRestrictions ?? [],
      u.inheritedAuthenticationRestrictions ?? [],
    ]).map((r) => `authentication restriction ${canonical(r)}`);
  diff(restrictions(other), restrictions(reference), missing, extra);
  return { missing, extra };
}

// ------------------------------------------------------------------ admin privileges

export type ResourceTarget = { db: string } | 'cluster';

/** True if `privileges` (connectionStatus authenticatedUserPrivileges) allow `action` on `target`. */
export function allows(privileges: Privilege[], action: string, target: ResourceTarget): boolean {
  return privileges.some((p) => {
    const r = p.resource ?? {};
    const actionOk = (p.actions ?? []).includes(action) || (p.actions ?? []).includes('anyAction');
    if (!actionOk) return false;
    if (r.anyResource === true) return true;
    if (target === 'cluster') return r.cluster === true;
    if (r.collection !== '') return false;
    // {db: "", collection: ""}: every database but local and config.
    return r.db === target.db || (r.db === '' && target.db !== 'local' && target.db !== 'config');
  });
}

export interface NeededPrivilege {
  action: string;
  target: ResourceTarget;
}

export function neededPrivileges(
  strategy: 'dual-user' | 'single',
  authDb: string,
  roleDbs: string[],
): NeededPrivilege[] {
  const onDb = (action: string, db = authDb): NeededPrivilege => ({ action, target: { db } });
  const needed: NeededPrivilege[] = [onDb('viewUser')];
  if (strategy === 'single') return [...needed, onDb('changePassword')];
  needed.push(onDb('createUser'), onDb('dropUser'), onDb('changePassword'));
  for (const db of [...new Set(roleDbs)].sort()) needed.push(onDb('grantRole', db));
  // Retire by drain: listing ($currentOp allUsers) and ending the old login's operations and sessions.
  needed.push(
    { action: 'inprog', target: 'cluster' },
    { action: 'killop', target: 'cluster' },
    { action: 'killAnySession', target: 'cluster' },
  );
  return needed;
}

export function describeNeeded(n: NeededPrivilege): string {
  return `${n.action} on ${n.target === 'cluster' ? 'cluster' : `db ${n.target.db}`}`;
}
