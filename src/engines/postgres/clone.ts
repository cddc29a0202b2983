/**
 * dual-user: creating a login like another one, and comparing two logins.
 *
 * The clone makes the new login's facts (attributes, memberships, settings,
 * object privileges, default privileges; see ./privileges.ts) equal to
 * the template's, by diff: missing ones are granted in batches, extra ones
 * (left over from an earlier attempt) revoked, so running it again converges.
 */
import { escapeLiteral } from 'pg';
import { AdminPrivilegeError } from '../../errors';
import type { PrivilegeDiff } from '../types';
import { NOT_EXECUTED } from '../recording';
import {
  defaultKey,
  describeDefaultPrivilege,
  describeObjectPrivilege,
  diffFacts,
  objectKey,
  PEER,
  readDefaultPrivileges,
  readObjectPrivileges,
  readSharedPrivileges,
  SELF,
  type ObjectPrivilege,
  type Query,
} from './privileges';
import { bridgeStatements, defaultPrivilegeStatements, objectPrivilegeStatements } from './grants';
import { grantGaps } from './preflight';
import {
  alterRoleOptions,
  createRoleOptions,
  describeMembership,
  describeSetting,
  diffAttributes,
  emptyRole,
  NOT_CREATED_OID,
  membershipKey,
  membershipStatements,
  readMemberships,
  readRole,
  readSettings,
  settingKey,
  settingStatements,
  type RoleInfo,
} from './roles';
import { quoteName, scopeDatabases, type PgConnector, type ServerVersion } from './sql';

export interface CloneRequest {
  source: RoleInfo;
  admin: RoleInfo;
  newLogin: string;
  /** SCRAM-SHA-256 verifier of the new password (never the password). */
  verifier: string;
  version: ServerVersion;
}

export async function cloneLogin(db: PgConnector, request: CloneRequest): Promise<void> {
  const names = {
    templateSql: quoteName(request.source.name, 'template login name'),
    newSql: quoteName(request.newLogin, 'new login name'),
  };
  const newOid = await cloneRole(db, request, names.newSql);
  await cloneDatabases(db, request, newOid, names);
}

/** 1. The role, its attributes, memberships, settings and cluster-wide privileges; returns its oid. */
async function cloneRole(db: PgConnector, request: CloneRequest, newSql: string): Promise<string> {
  const { source, admin, newLogin, verifier, version } = request;
  const template = source.name;
  const adminCheck = admin.superuser ? null : admin.oid;
  const home = db.homeDatabase;
  return db.transaction(home, `creating login "${newLogin}"`, async (client) => {
    const q: Query = async (sql, params) => (await client.query(sql, params)).rows;
    const existing = await readRole(q, newLogin);
    const statements: string[] = [];
    if (!existing) {
      statements.push(
        `CREATE ROLE ${newSql} LOGIN PASSWORD ${escapeLiteral(verifier)} ${createRoleOptions(source).join(' ')}`,
      );
    } else {
      statements.push(
        `ALTER ROLE ${newSql} WITH LOGIN PASSWORD ${escapeLiteral(verifier)} ${alterRoleOptions(source, existing).join(' ')}`,
      );
    }
    const made = await db.execute(home, statements, `creating login "${newLogin}"`, client);
    // Recorded, not run: the role was not created; it stands as a role with nothing granted.
    const created =
      (await readRole(q, newLogin)) ?? (made === NOT_EXECUTED ? emptyRole(newLogin) : undefined);
    if (!created) throw new Error(`login "${newLogin}" not found after creating it`);
    // A non-superuser admin must be a member of the new login to manage its default
    // privileges now and to REASSIGN OWNED to it at revoke time (CREATEROLE allows it).
    if (!admin.superuser) {
      const [m] =
        created.oid === NOT_CREATED_OID
          ? [{ ok: false }]
          : await q('SELECT pg_has_role(current_user, $1::oid, $2) AS ok', [created.oid, 'MEMBER']);
      if (!m?.ok)
        await db.execute(home, [`GRANT ${newSql} TO CURRENT_USER`], 'joining the new login', client);
    }

    const memberships = diffFacts(
      (await readMemberships(q, source.oid, version.num)).filter((m) => m.groupOid !== created.oid),
      (await readMemberships(q, created.oid, version.num)).filter((m) => m.groupOid !== source.oid),
      membershipKey,
    );
    const settings = diffFacts(
      await readSettings(q, source.oid),
      await readSettings(q, created.oid),
      settingKey,
    );
    const shared = await readSharedPrivileges(q, version.num, [source.oid, created.oid], adminCheck);
    assertAdminCanGrant(shared.reference, admin, template, home);
    const sharedDiff = diffFacts(shared.reference, shared.other, objectKey);
    await db.execute(
      home,
      [
        ...membershipStatements('REVOKE', memberships.extra, newSql),
        ...membershipStatements('GRANT', memberships.missing, newSql),
        ...settingStatements(
          settings.missing.map((d) => d.fact),
          settings.extra.map((d) => d.fact),
          newSql,
        ),
        ...objectPrivilegeStatements(
          'REVOKE',
          sharedDiff.extra.filter((d) => !d.fact.owned),
          newSql,
        ),
        ...objectPrivilegeStatements('GRANT', sharedDiff.missing, newSql),
      ],
      `granting cluster-wide privileges to "${newLogin}"`,
      client,
    );
    return created.oid;
  });
}

/** 2. Per database: grace bridge, object privileges, default privileges. */
async function cloneDatabases(
  db: PgConnector,
  request: CloneRequest,
  newOid: string,
  { templateSql, newSql }: { templateSql: string; newSql: string },
): Promise<void> {
  const { source, admin } = request;
  const template = source.name;
  const adminCheck = admin.superuser ? null : admin.oid;
  const resolve = (token: string) => (token === SELF ? newSql : token === PEER ? templateSql : token);
  for (const database of await scopeDatabases(db, [source.oid, newOid])) {
    if (!database.connectable) {
      if (database.holders.includes(source.oid)) {
        db.writer.note(
          `database ${database.name} does not allow connections: what "${template}" has there is not cloned`,
        );
      }
      continue;
    }
    const context = `cloning privileges in database ${database.name}`;
    await db.transaction(database.name, context, async (client) => {
      const q: Query = async (sql, params) => (await client.query(sql, params)).rows;
      await db.execute(database.name, bridgeStatements(templateSql, newSql), context, client);
      const objects = await readObjectPrivileges(q, database.name, [source.oid, newOid], adminCheck);
      assertAdminCanGrant(objects.reference, admin, template, db.homeDatabase);
      const defaults = await readDefaultPrivileges(q, database.name, [source.oid, newOid]);
      const objectDiff = diffFacts(objects.reference, objects.other, objectKey);
      const defaultDiff = diffFacts(defaults.reference, defaults.other, defaultKey);
      await db.execute(
        database.name,
        [
          ...objectPrivilegeStatements(
            'REVOKE',
            objectDiff.extra.filter((d) => !d.fact.owned),
            newSql,
          ),
          ...objectPrivilegeStatements('GRANT', objectDiff.missing, newSql),
          ...defaultPrivilegeStatements('REVOKE', defaultDiff.extra, resolve),
          ...defaultPrivilegeStatements('GRANT', defaultDiff.missing, resolve),
        ],
        context,
        client,
      );
    });
  }
}

function assertAdminCanGrant(
  facts: ObjectPrivilege[],
  admin: RoleInfo,
  template: string,
  home: string,
): void {
  const lacking = facts.filter((f) => !f.adminCanGrant);
  if (lacking.length === 0) return;
  const shown = grantGaps(lacking.slice(0, 10), home);
  throw new AdminPrivilegeError(
    `admin "${admin.name}" cannot grant what "${template}" holds: missing ${shown.join('; ')}${lacking.length > 10 ? `; and ${lacking.length - 10} more` : ''}`,
  );
}

export async function compareLogins(
  db: PgConnector,
  version: ServerVersion,
  ref: RoleInfo,
  oth: RoleInfo,
): Promise<PrivilegeDiff> {
  const q: Query = (sql, params) => db.query(db.homeDatabase, sql, params, 'comparing privileges');
  const missing: string[] = [];
  const extra: string[] = [];

  const attributes = diffAttributes(ref, oth);
  missing.push(...attributes.missing);
  extra.push(...attributes.extra);

  const memberships = diffFacts(
    (await readMemberships(q, ref.oid, version.num)).filter((m) => m.groupOid !== oth.oid),
    (await readMemberships(q, oth.oid, version.num)).filter((m) => m.groupOid !== ref.oid),
    membershipKey,
  );
  missing.push(...memberships.missing.map(describeMembership));
  extra.push(...memberships.extra.map(describeMembership));

  const settings = diffFacts(await readSettings(q, ref.oid), await readSettings(q, oth.oid), settingKey);
  missing.push(...settings.missing.map((d) => describeSetting(d.fact)));
  extra.push(...settings.extra.map((d) => describeSetting(d.fact)));

  const shared = await readSharedPrivileges(q, version.num, [ref.oid, oth.oid], null);
  const sharedDiff = diffFacts(shared.reference, shared.other, objectKey);
  missing.push(...sharedDiff.missing.map((d) => describeObjectPrivilege(d, db.homeDatabase)));
  extra.push(...sharedDiff.extra.map((d) => describeObjectPrivilege(d, db.homeDatabase)));

  for (const database of await scopeDatabases(db, [ref.oid, oth.oid])) {
    if (!database.connectable) {
      if (database.holders.includes(ref.oid)) {
        missing.push(
          `privileges in database ${database.name}: not compared (the database does not allow connections)`,
        );
      }
      continue;
    }
    const dq: Query = (sql, params) =>
      db.query(database.name, sql, params, `comparing privileges in ${database.name}`);
    const objects = await readObjectPrivileges(dq, database.name, [ref.oid, oth.oid], null);
    const objectDiff = diffFacts(objects.reference, objects.other, objectKey);
    missing.push(...objectDiff.missing.map((d) => describeObjectPrivilege(d, db.homeDatabase)));
    extra.push(...objectDiff.extra.map((d) => describeObjectPrivilege(d, db.homeDatabase)));
    const defaults = await readDefaultPrivileges(dq, database.name, [ref.oid, oth.oid]);
    const defaultDiff = diffFacts(defaults.reference, defaults.other, defaultKey);
    missing.push(...defaultDiff.missing.map((d) => describeDefaultPrivilege(d, db.homeDatabase)));
    extra.push(...defaultDiff.extra.map((d) => describeDefaultPrivilege(d, db.homeDatabase)));
  }
  return { missing: missing.sort(), extra: extra.sort() };
}
