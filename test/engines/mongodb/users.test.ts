import { describe, expect, it } from 'vitest';
import { parseCheck } from '../../../src/engines/mongodb';
import {
  allows,
  canonical,
  checkMongoDb,
  checkMongoUser,
  compareUsers,
  createUserCommand,
  describeResource,
  describeNeeded,
  displayVersion,
  flattenRestrictions,
  MONGO_MIN_VERSION,
  neededPrivileges,
  parseBuildInfo,
  privilegeFacts,
  specOf,
  updateUserCommand,
  versionAtLeast,
  type MongoUserDoc,
  type Privilege,
} from '../../../src/engines/mongodb/users';
import { ConfigError, UnsafeIdentifierError } from '../../../src/errors';

describe('mongodb-users: names and server', () => {
  it('user names: anything but empty and NUL', () => {
    for (const ok of ['app', 'a b"\'$.{}é@:/', '{"$ne":1}']) expect(() => checkMongoUser(ok)).not.toThrow();
    for (const bad of ['', 'a\u0000b']) expect(() => checkMongoUser(bad)).toThrow(UnsafeIdentifierError);
  });

  it('database names: MongoDB rules, $external allowed', () => {
    for (const ok of ['admin', 'app_1', 'ü', '$external']) expect(() => checkMongoDb(ok)).not.toThrow();
    for (const bad of ['', 'a.b', 'a$b', 'a b', 'a/b', 'a\\b', 'a"b', 'a\u0000b', 'x'.repeat(64)]) {
      expect(() => checkMongoDb(bad)).toThrow(UnsafeIdentifierError);
    }
  });

  it('detects FerretDB from buildInfo', () => {
    const f = parseBuildInfo({ version: '7.0.42', versionArray: [7, 0, 42, 0], ferretdbVersion: 'v1.24.0' });
    expect(f).toEqual({ version: '7.0.42', major: 7, minor: 0, ferretdb: 'v1.24.0' });
    expect(displayVersion(f)).toBe('7.0.42 (FerretDB 1.24.0)');
    const m = parseBuildInfo({ version: '7.0.14', versionArray: [7, 0, 14, 0] });
    expect(m.ferretdb).toBeUndefined();
    expect(displayVersion(m)).toBe('7.0.14');
    expect(parseBuildInfo({ version: '6.0.0', ferretdb: { version: 'v0.9.0' } }).ferretdb).toBe('v0.9.0');
    expect(versionAtLeast({ major: 3, minor: 6 }, [4, 0])).toBe(false);
    expect(versionAtLeast({ major: 4, minor: 0 }, [4, 0])).toBe(true);
  });
});

const template: MongoUserDoc = {
  user: 'app',
  db: 'shop',
  roles: [
    { role: 'readWrite', db: 'shop' },
    { role: 'read', db: 'reports' },
  ],
  mechanisms: ['SCRAM-SHA-256'],
  customData: { team: 'orders' },
  authenticationRestrictions: [[{ clientSource: ['10.0.0.0/8'], serverAddress: ['10.1.0.1'] }]],
};

describe('mongodb-users: clone commands', () => {
  it('createUser carries roles, mechanisms, restrictions (flattened) and customData, digested by the server', () => {
    expect(createUserCommand('app_b', 'pw', specOf(template))).toEqual({
      createUser: 'app_b',
      pwd: 'pw',
      roles: template.roles,
      digestPassword: true,
      mechanisms: ['SCRAM-SHA-256'],
      authenticationRestrictions: [{ clientSource: ['10.0.0.0/8'], serverAddress: ['10.1.0.1'] }],
      customData: { team: 'orders' },
      writeConcern: { w: 'majority' },
    });
  });

  it('createUser omits empty optional fields (FerretDB implements only their defaults)', () => {
    const cmd = createUserCommand(
      'b',
      'pw',
      specOf({ user: 'a', db: 'd', roles: [], mechanisms: ['SCRAM-SHA-1'] }),
    );
    expect(Object.keys(cmd)).toEqual([
      'createUser',
      'pwd',
      'roles',
      'digestPassword',
      'mechanisms',
      'writeConcern',
    ]);
  });

  it('updateUser re-syncs an existing login, clearing what the template does not have', () => {
    const existing: MongoUserDoc = {
      user: 'b',
      db: 'd',
      roles: [{ role: 'dbOwner', db: 'd' }],
      customData: { stale: true },
      authenticationRestrictions: [{ clientSource: ['1.2.3.4'] }],
    };
    const cmd = updateUserCommand('b', 'pw', specOf({ user: 'a', db: 'd', roles: [] }), existing);
    expect(cmd).toEqual({
      updateUser: 'b',
      pwd: 'pw',
      roles: [],
      digestPassword: true,
      authenticationRestrictions: [],
      customData: {},
      writeConcern: { w: 'majority' },
    });
    const plain = updateUserCommand('b', 'pw', specOf({ user: 'a', db: 'd' }), { user: 'b', db: 'd' });
    expect(Object.keys(plain)).toEqual(['updateUser', 'pwd', 'roles', 'digestPassword', 'writeConcern']);
  });

  it('flattens and canonicalizes restriction documents', () => {
    expect(flattenRestrictions([[{ a: 1 }], { b: 2 }, []])).toEqual([{ a: 1 }, { b: 2 }]);
    expect(canonical({ serverAddress: ['b', 'a'], clientSource: ['x'] })).toBe(
      canonical({ clientSource: ['x'], serverAddress: ['a', 'b'] }),
    );
  });
});

describe('mongodb-users: comparison', () => {
  it('equal users do not differ; role order does not matter', () => {
    const other = { ...template, user: 'app_b', roles: [...template.roles!].reverse() };
    expect(compareUsers(template, other)).toEqual({ missing: [], extra: [] });
  });

  it('roles, privileges and mechanisms the other lacks are missing; surplus is extra', () => {
    const ref: MongoUserDoc = {
      ...template,
      inheritedPrivileges: [{ resource: { db: 'shop', collection: '' }, actions: ['find', 'insert'] }],
    };
    const other: MongoUserDoc = {
      user: 'b',
      db: 'shop',
      roles: [template.roles![1]!, { role: 'dbAdmin', db: 'shop' }], // read@reports, dbAdmin@shop
      mechanisms: ['SCRAM-SHA-1', 'SCRAM-SHA-256'],
      authenticationRestrictions: template.authenticationRestrictions,
      inheritedPrivileges: [{ resource: { db: 'shop', collection: '' }, actions: ['find'] }],
    };
    expect(compareUsers(ref, other)).toEqual({
      missing: ['role readWrite@shop', 'insert on db shop'],
      extra: ['role dbAdmin@shop', 'mechanism SCRAM-SHA-1'],
    });
  });

  it('a restriction only the other has can lock it out (missing); one it lacks is extra', () => {
    const restricted: MongoUserDoc = {
      user: 'b',
      db: 'd',
      authenticationRestrictions: [{ clientSource: ['1.2.3.4'] }],
    };
    const free: MongoUserDoc = { user: 'a', db: 'd' };
    expect(compareUsers(free, restricted).missing).toEqual([
      'authentication restriction {"clientSource":["1.2.3.4"]}',
    ]);
    expect(compareUsers(restricted, free).extra).toEqual([
      'authentication restriction {"clientSource":["1.2.3.4"]}',
    ]);
  });

  it('describes privileges readably', () => {
    expect(
      privilegeFacts([
        { resource: { db: '', collection: '' }, actions: ['find'] },
        { resource: { cluster: true }, actions: ['inprog'] },
        { resource: { anyResource: true }, actions: ['anyAction'] },
        { resource: { db: 'a', collection: 'b' }, actions: ['update'] },
      ]),
    ).toEqual(['find on db <any db>', 'inprog on cluster', 'anyAction on any resource', 'update on a.b']);
  });
});

describe('mongodb-users: admin privileges', () => {
  const userAdminAnyDb: Privilege[] = [
    {
      resource: { db: '', collection: '' },
      actions: ['createUser', 'dropUser', 'viewUser', 'grantRole', 'changePassword'],
    },
  ];
  const monitor: Privilege[] = [
    { resource: { cluster: true }, actions: ['inprog', 'killop', 'killAnySession'] },
  ];

  it('matches database, any-database, cluster and anyResource patterns', () => {
    expect(allows(userAdminAnyDb, 'createUser', { db: 'shop' })).toBe(true);
    expect(allows(userAdminAnyDb, 'createUser', { db: 'local' })).toBe(false);
    expect(allows(userAdminAnyDb, 'inprog', 'cluster')).toBe(false);
    expect(allows(monitor, 'inprog', 'cluster')).toBe(true);
    expect(
      allows([{ resource: { db: 'shop', collection: 'x' }, actions: ['createUser'] }], 'createUser', {
        db: 'shop',
      }),
    ).toBe(false);
    expect(allows([{ resource: { anyResource: true }, actions: ['anyAction'] }], 'killop', 'cluster')).toBe(
      true,
    );
  });

  it('lists what each strategy needs', () => {
    expect(neededPrivileges('single', 'shop', []).map(describeNeeded)).toEqual([
      'viewUser on db shop',
      'changePassword on db shop',
    ]);
    const dual = neededPrivileges('dual-user', 'shop', ['shop', 'reports', 'shop']).map(describeNeeded);
    expect(dual).toEqual([
      'viewUser on db shop',
      'createUser on db shop',
      'dropUser on db shop',
      'changePassword on db shop',
      'grantRole on db reports',
      'grantRole on db shop',
      'inprog on cluster',
      'killop on cluster',
      'killAnySession on cluster',
    ]);
    const privileges = [...userAdminAnyDb, ...monitor];
    expect(
      neededPrivileges('dual-user', 'shop', ['reports']).every((n) => allows(privileges, n.action, n.target)),
    ).toBe(true);
  });
});

describe('mongodb: verification checks', () => {
  it('parses Extended JSON command documents, with an optional $db', () => {
    expect(parseCheck('{"find": "orders", "limit": 1}', 0, 'shop')).toEqual({
      db: 'shop',
      command: { find: 'orders', limit: 1 },
    });
    const other = parseCheck('{"$db": "reports", "count": "daily"}', 0, 'shop');
    expect(other.db).toBe('reports');
    expect(Object.keys(other.command)).toEqual(['count']);
    for (const bad of ['find orders', '[]', '{}', '1', '{"$db": 1, "ping": 1}']) {
      expect(() => parseCheck(bad, 0, 'shop')).toThrow(ConfigError);
    }
    expect(() => parseCheck('{"$db": "a.b", "ping": 1}', 0, 'shop')).toThrow(UnsafeIdentifierError);
  });
});

describe('mongodb-users: edges that tell right from wrong', () => {
  it('names: messages say which name; 63 bytes pass, 64 bytes (multi-byte too) do not', () => {
    expect(() => checkMongoUser('', 'admin login')).toThrow('admin login is empty');
    expect(() => checkMongoUser(3 as unknown as string)).toThrow('login name is empty');
    expect(() => checkMongoUser('a\u0000b')).toThrow('login name contains a NUL byte');
    expect(() => checkMongoDb('', 'auth db')).toThrow('auth db is empty');
    expect(() => checkMongoDb(null as unknown as string)).toThrow('database name is empty');
    expect(() => checkMongoDb('a.b')).toThrow('database name "a.b" contains a character MongoDB refuses');
    expect(() => checkMongoDb('x'.repeat(63))).not.toThrow();
    expect(() => checkMongoDb(`${'é'.repeat(31)}a`)).not.toThrow();
    expect(() => checkMongoDb('é'.repeat(32))).toThrow('database name is 64 bytes or longer');
    expect(() => checkMongoDb('$externalx')).toThrow(UnsafeIdentifierError);
  });

  it('buildInfo: version string fallback, FerretDB in the version string, defaults', () => {
    expect(parseBuildInfo({ version: '6.2.1' })).toEqual({
      version: '6.2.1',
      major: 6,
      minor: 2,
      ferretdb: undefined,
    });
    expect(parseBuildInfo({ version: '9.9.9', versionArray: [5, 3, 0] })).toMatchObject({
      major: 5,
      minor: 3,
    });
    expect(parseBuildInfo({})).toEqual({ version: '0.0.0', major: 0, minor: 0, ferretdb: undefined });
    expect(parseBuildInfo({ version: 'x.y' })).toMatchObject({ major: 0, minor: 0 });
    expect(parseBuildInfo({ version: '7.0.0-FerretDB-v2' }).ferretdb).toBe('7.0.0-FerretDB-v2');
    expect(parseBuildInfo({ version: '7.0.0', ferretdb: { version: 1 } }).ferretdb).toBeUndefined();
    expect(parseBuildInfo({ version: '7.0.0', ferretdb: 'v1' }).ferretdb).toBeUndefined();
    expect(parseBuildInfo({ version: '7.0.0', ferretdbVersion: 1 }).ferretdb).toBeUndefined();
    expect(displayVersion({ version: '7.0.0', major: 7, minor: 0, ferretdb: '1.2.3' })).toBe(
      '7.0.0 (FerretDB 1.2.3)',
    );
    expect(displayVersion({ version: '7.0.0', major: 7, minor: 0, ferretdb: 'xv1' })).toBe(
      '7.0.0 (FerretDB xv1)',
    );
    expect(versionAtLeast({ major: 5, minor: 0 }, [4, 2])).toBe(true);
    expect(versionAtLeast({ major: 4, minor: 1 }, [4, 2])).toBe(false);
    expect(versionAtLeast({ major: 4, minor: 3 }, [4, 2])).toBe(true);
    expect(versionAtLeast({ major: 3, minor: 9 }, [4, 2])).toBe(false);
  });

  it('canonical JSON: sorted keys at every depth, scalar arrays sorted, object arrays kept in order', () => {
    expect(canonical({ b: 1, a: { d: [2, 1, null], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,2,null]},"b":1}');
    expect(canonical([{ b: 1 }, { a: 1 }])).toBe('[{"b":1},{"a":1}]');
    expect(canonical([{ a: 1 }, 2])).toBe('[{"a":1},2]');
    expect(canonical(['1', 1])).not.toBe(canonical([1, 1]));
    expect(canonical(null)).toBe('null');
  });

  it('specs copy only role names and databases, and drop empty mechanisms and customData', () => {
    const spec = specOf({
      user: 'a',
      db: 'd',
      roles: [{ role: 'read', db: 'd', minFcv: '4.0' } as unknown as { role: string; db: string }],
      mechanisms: [],
      customData: {},
    });
    expect(spec).toEqual({
      roles: [{ role: 'read', db: 'd' }],
      mechanisms: undefined,
      authenticationRestrictions: [],
      customData: undefined,
    });
    expect(specOf({ user: 'a', db: 'd' })).toEqual({
      roles: [],
      mechanisms: undefined,
      authenticationRestrictions: [],
      customData: undefined,
    });
  });

  it('updateUser: sets restrictions and customData of the template, keeps quiet about absent empty ones', () => {
    const spec = specOf({
      user: 'a',
      db: 'd',
      mechanisms: ['SCRAM-SHA-256'],
      customData: { team: 'x' },
      authenticationRestrictions: [{ clientSource: ['10.0.0.0/8'] }],
    });
    expect(updateUserCommand('b', 'pw', spec, { user: 'b', db: 'd' })).toEqual({
      updateUser: 'b',
      pwd: 'pw',
      roles: [],
      digestPassword: true,
      mechanisms: ['SCRAM-SHA-256'],
      authenticationRestrictions: [{ clientSource: ['10.0.0.0/8'] }],
      customData: { team: 'x' },
      writeConcern: { w: 'majority' },
    });
    const empty = updateUserCommand('b', 'pw', specOf({ user: 'a', db: 'd' }), {
      user: 'b',
      db: 'd',
      customData: {},
      authenticationRestrictions: [[]],
    });
    expect(Object.keys(empty)).toEqual(['updateUser', 'pwd', 'roles', 'digestPassword', 'writeConcern']);
  });

  it('resources: any database with a collection, unknown shapes as canonical JSON, missing parts', () => {
    expect(describeResource({ db: '', collection: 'c' })).toBe('<any db>.c');
    expect(describeResource({ db: 'a', collection: '' })).toBe('db a');
    expect(describeResource({ db: 'a' })).toBe('{"db":"a"}');
    expect(describeResource({ cluster: false, db: 'a', collection: 'b' })).toBe('a.b');
    expect(describeResource({ anyResource: 'yes' })).toBe('{"anyResource":"yes"}');
    expect(privilegeFacts(undefined)).toEqual([]);
    expect(
      privilegeFacts([{ resource: undefined as unknown as Record<string, unknown>, actions: ['x'] }]),
    ).toEqual(['x on {}']);
    expect(
      privilegeFacts([{ resource: { cluster: true }, actions: undefined as unknown as string[] }]),
    ).toEqual([]);
  });

  it('comparison: privileges reported by one side only, inherited restrictions, duplicates once', () => {
    const readD = { role: 'read', db: 'd' };
    const a: MongoUserDoc = { user: 'a', db: 'd', roles: [readD, { ...readD }] }; // the same role twice
    const b: MongoUserDoc = {
      user: 'b',
      db: 'd',
      roles: [{ ...readD }],
      inheritedPrivileges: [{ resource: { db: 'd', collection: '' }, actions: ['find'] }],
      inheritedAuthenticationRestrictions: [[{ clientSource: ['1.1.1.1'] }]],
    };
    expect(compareUsers(a, b)).toEqual({
      missing: ['authentication restriction {"clientSource":["1.1.1.1"]}'],
      extra: ['find on db d'],
    });
    expect(compareUsers(b, a)).toEqual({
      missing: ['find on db d'],
      extra: ['authentication restriction {"clientSource":["1.1.1.1"]}'],
    });
    expect(compareUsers(a, { ...a, roles: [{ role: 'read', db: 'e' }] })).toEqual({
      missing: ['role read@d'],
      extra: ['role read@e'],
    });
  });

  it('allows: anyAction, exact database, config excluded from any-database, missing parts', () => {
    const anyAction: Privilege[] = [{ resource: { db: 'shop', collection: '' }, actions: ['anyAction'] }];
    expect(allows(anyAction, 'createUser', { db: 'shop' })).toBe(true);
    expect(allows(anyAction, 'createUser', { db: 'other' })).toBe(false);
    expect(allows(anyAction, 'inprog', 'cluster')).toBe(false);
    const anyDb: Privilege[] = [{ resource: { db: '', collection: '' }, actions: ['viewUser'] }];
    expect(allows(anyDb, 'viewUser', { db: 'config' })).toBe(false);
    expect(allows(anyDb, 'viewUser', { db: 'admin' })).toBe(true);
    expect(allows(anyDb, 'dropUser', { db: 'admin' })).toBe(false);
    expect(
      allows([{ resource: { cluster: true }, actions: ['viewUser'] }], 'viewUser', { db: 'admin' }),
    ).toBe(false);
    expect(
      allows(
        [{ resource: undefined as unknown as Record<string, unknown>, actions: ['viewUser'] }],
        'viewUser',
        { db: 'a' },
      ),
    ).toBe(false);
    expect(
      allows(
        [{ resource: { db: 'a', collection: '' }, actions: undefined as unknown as string[] }],
        'viewUser',
        { db: 'a' },
      ),
    ).toBe(false);
    expect(neededPrivileges('single', 'shop', ['reports']).map(describeNeeded)).toEqual([
      'viewUser on db shop',
      'changePassword on db shop',
    ]);
  });

  it('more edges: the minimum version, non-document restrictions, sorted role facts, null ferretdb', () => {
    expect(versionAtLeast({ major: 4, minor: 0 }, MONGO_MIN_VERSION)).toBe(true);
    expect(versionAtLeast({ major: 3, minor: 6 }, MONGO_MIN_VERSION)).toBe(false);
    expect(flattenRestrictions([[{ a: 1 }], 'x', 3, null, true])).toEqual([{ a: 1 }]);
    expect(describeResource({ collection: 'c' })).toBe('{"collection":"c"}');
    expect(parseBuildInfo({ version: '7.0.0', ferretdb: null }).ferretdb).toBeUndefined();
    const roles = (...names: string[]) => names.map((role) => ({ role, db: 'd' }));
    expect(
      compareUsers({ user: 'a', db: 'd', roles: roles('zeta', 'alpha', 'mid') }, { user: 'b', db: 'd' }),
    ).toEqual({
      missing: ['role alpha@d', 'role mid@d', 'role zeta@d'],
      extra: [],
    });
    expect(
      compareUsers({ user: 'b', db: 'd' }, { user: 'a', db: 'd', roles: roles('zeta', 'alpha') }).extra,
    ).toEqual(['role alpha@d', 'role zeta@d']);
    const created = createUserCommand('b', 'pw', specOf({ user: 'a', db: 'd', roles: [] }));
    expect(Object.keys(created)).toEqual(['createUser', 'pwd', 'roles', 'digestPassword', 'writeConcern']);
  });
});
