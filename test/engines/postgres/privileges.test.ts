/**
 * PostgreSQL privilege facts without a server: catalog rows (as the queries
 * return them) → facts relative to the login pair, the comparison of two
 * logins, and the GRANT/REVOKE/ALTER DEFAULT PRIVILEGES statements built from
 * the differences. The queries themselves run against PostgreSQL in
 * test/engines/postgres/*.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  bridgeStatements,
  defaultPrivilegeStatements,
  leftoverRevokeStatements,
  objectPrivilegeStatements,
} from '../../../src/engines/postgres/grants';
import {
  PEER,
  SELF,
  defaultKey,
  describeDefaultPrivilege,
  describeObjectPrivilege,
  diffFacts,
  objectKey,
  readDefaultPrivileges,
  readObjectPrivileges,
  readSharedPrivileges,
  type DefaultPrivilege,
  type Difference,
  type ObjectPrivilege,
} from '../../../src/engines/postgres/privileges';

const obj = (over: Partial<ObjectPrivilege> = {}): ObjectPrivilege => ({
  database: 'shop',
  objectClass: 'TABLE',
  kindLabel: 'table',
  target: 'app.orders',
  privilege: 'SELECT',
  grantable: false,
  owned: false,
  adminCanGrant: true,
  grantor: 'owner',
  adminCanRevoke: true,
  ...over,
});

const dflt = (over: Partial<DefaultPrivilege> = {}): DefaultPrivilege => ({
  database: 'shop',
  creator: SELF,
  objectType: 'TABLES',
  grantee: 'reporting',
  privilege: 'SELECT',
  grantable: false,
  ...over,
});

const diff = <T>(fact: T, optionOnly = false): Difference<T> => ({ fact, optionOnly });

/** A fake `query` that records what it was asked and answers with `rows`. */
function fakeQuery(rows: Record<string, unknown>[]) {
  const calls: { sql: string; params: unknown[] }[] = [];
  const query = async (sql: string, params: unknown[]) => {
    calls.push({ sql, params });
    return rows;
  };
  return { query, calls };
}

describe('postgres privileges: catalog rows to facts', () => {
  const row = (over: Record<string, unknown>) => ({
    role: '100',
    cls: 'TABLE',
    label: 'table',
    target: 'app.orders',
    col: null,
    privilege: 'SELECT',
    grantable: false,
    owned: false,
    admin_can_grant: true,
    grantor: 'owner',
    admin_can_revoke: true,
    by_owner: true,
    ...over,
  });

  it('splits rows by role, keeps every field, a column only when there is one', async () => {
    const { query, calls } = fakeQuery([
      row({}),
      row({
        role: '200',
        cls: 'COLUMN',
        target: 'app.customers',
        col: 'name',
        privilege: 'UPDATE',
        grantable: true,
      }),
      row({
        role: '100',
        cls: 'SEQUENCE',
        label: 'sequence',
        target: 'app.s',
        owned: true,
        admin_can_grant: false,
        grantor: 'app',
        admin_can_revoke: false,
        by_owner: false,
      }),
    ]);
    const facts = await readObjectPrivileges(query, 'shop', ['100', '200'], '10');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.params).toEqual([['100', '200'], '10']);
    // obj()'s fields are those of row({}), each under its fact name.
    expect(facts.reference).toEqual([
      { ...obj(), grantedByOwner: true },
      {
        ...obj({
          objectClass: 'SEQUENCE',
          kindLabel: 'sequence',
          target: 'app.s',
          owned: true,
          adminCanGrant: false,
          grantor: 'app',
          adminCanRevoke: false,
        }),
        grantedByOwner: false,
      },
    ]);
    expect(facts.reference[0]).not.toHaveProperty('column');
    expect(facts.other).toEqual([
      expect.objectContaining({
        objectClass: 'COLUMN',
        target: 'app.customers',
        column: 'name',
        privilege: 'UPDATE',
        grantable: true,
      }),
    ]);
  });

  it('a single role has no other side', async () => {
    const { query, calls } = fakeQuery([row({}), row({ role: '200' })]);
    const facts = await readObjectPrivileges(query, 'shop', ['100', undefined], null);
    expect(calls[0]!.params).toEqual([['100'], null]);
    // Objects inside a database are never configuration parameters.
    expect(calls[0]!.sql).not.toContain('has_parameter_privilege');
    expect(facts.reference).toHaveLength(1);
    expect(facts.other).toEqual([]);
  });

  it('shared objects: cluster-wide (no database), parameters quoted, only from PostgreSQL 15', async () => {
    const rows = [
      row({ cls: 'PARAMETER', label: 'parameter', target: 'log.Custom "x"' }),
      row({ role: '200', cls: 'DATABASE', label: 'database', target: 'shop' }),
    ];
    const pg15 = fakeQuery(rows);
    const facts = await readSharedPrivileges(pg15.query, 150000, ['100', '200'], null);
    expect(facts.reference).toEqual([
      expect.objectContaining({ database: '', objectClass: 'PARAMETER', target: '"log"."Custom ""x"""' }),
    ]);
    expect(facts.other).toEqual([
      expect.objectContaining({ database: '', objectClass: 'DATABASE', target: 'shop' }),
    ]);
    expect(pg15.calls[0]!.sql).toContain('pg_parameter_acl');
    expect(pg15.calls[0]!.sql).toContain('has_parameter_privilege');
    expect(pg15.calls[0]!.params).toEqual([['100', '200'], null]);
    // PostgreSQL 14 has no pg_parameter_acl: the query must not mention it.
    const pg14 = fakeQuery([]);
    expect(await readSharedPrivileges(pg14.query, 149999, ['100', undefined], '10')).toEqual({
      reference: [],
      other: [],
    });
    expect(pg14.calls[0]!.sql).not.toContain('pg_parameter_acl');
    expect(pg14.calls[0]!.sql).not.toContain('has_parameter_privilege');
    expect(pg14.calls[0]!.params).toEqual([['100'], '10']);
  });

  it('default privileges are expressed relative to the pair (SELF / PEER / other roles)', async () => {
    const d = (over: Record<string, unknown>) => ({
      creator_oid: '100',
      creator: 'app',
      objtype: 'r',
      schema: null,
      grantee_oid: '300',
      grantee: 'reporting',
      privilege: 'SELECT',
      grantable: false,
      ...over,
    });
    const { query, calls } = fakeQuery([
      d({}),
      d({ objtype: 'S', schema: 'app', grantee_oid: '200', grantee: 'app_b', grantable: true }),
      d({ creator_oid: '300', creator: 'owner', objtype: 'f', grantee_oid: '100', grantee: 'app' }),
      d({ creator_oid: '200', creator: 'app_b', objtype: 'T', grantee_oid: '100', grantee: 'app' }),
      d({
        creator_oid: '200',
        creator: 'app_b',
        objtype: 'n',
        grantee_oid: '0',
        grantee: 'PUBLIC',
        privilege: 'USAGE',
      }),
      d({ creator_oid: '300', creator: 'owner', objtype: 'x', grantee_oid: '400', grantee: 'someone' }),
    ]);
    const facts = await readDefaultPrivileges(query, 'shop', ['100', '200']);
    expect(calls[0]!.params).toEqual([['100', '200']]);
    // dflt()'s fields are those of d({}), each under its fact name.
    expect(facts.reference).toEqual([
      dflt(),
      dflt({ schema: 'app', objectType: 'SEQUENCES', grantee: PEER, grantable: true }),
      dflt({ creator: 'owner', objectType: 'FUNCTIONS', grantee: SELF }),
      dflt({ creator: PEER, objectType: 'TYPES', grantee: SELF }),
    ]);
    expect(facts.other).toEqual([
      dflt({ creator: PEER, schema: 'app', objectType: 'SEQUENCES', grantee: SELF, grantable: true }),
      dflt({ objectType: 'TYPES', grantee: PEER }),
      dflt({ objectType: 'SCHEMAS', grantee: 'PUBLIC', privilege: 'USAGE' }),
    ]);
    const one = fakeQuery([d({ objtype: 'x' }), d({ grantee_oid: '100', grantee: 'app' })]);
    const single = await readDefaultPrivileges(one.query, 'shop', ['100', undefined]);
    expect(one.calls[0]!.params).toEqual([['100']]);
    // A role's default privileges for itself are SELF on both ends.
    expect(single).toEqual({
      reference: [
        expect.objectContaining({ objectType: 'x', creator: SELF, grantee: 'reporting' }),
        expect.objectContaining({ objectType: 'TABLES', creator: SELF, grantee: SELF }),
      ],
      other: [],
    });
  });
});

describe('postgres privileges: comparison', () => {
  it('missing and extra, with grant-option-only differences both ways', () => {
    const reference = [obj(), obj({ privilege: 'INSERT', grantable: true }), obj({ privilege: 'DELETE' })];
    const other = [
      obj(),
      obj({ privilege: 'INSERT' }),
      obj({ privilege: 'UPDATE', grantable: true }),
      obj({ privilege: 'DELETE', grantable: true }),
    ];
    expect(diffFacts(reference, other, objectKey)).toEqual({
      missing: [diff(obj({ privilege: 'INSERT', grantable: true }), true)],
      extra: [
        diff(obj({ privilege: 'UPDATE', grantable: true })),
        diff(obj({ privilege: 'DELETE', grantable: true }), true),
      ],
    });
  });

  it('a fact only one side has at all is missing or extra as a whole', () => {
    const onlyRef = obj({ target: 'app.only_ref', grantable: true });
    const onlyOther = obj({ target: 'app.only_other' });
    expect(diffFacts([obj(), onlyRef], [obj(), onlyOther], objectKey)).toEqual({
      missing: [diff(onlyRef)],
      extra: [diff(onlyOther)],
    });
  });

  it('a fact listed twice counts with its grant option, whichever comes first', () => {
    const plain = obj();
    const option = obj({ grantable: true });
    for (const reference of [
      [plain, option],
      [option, plain],
    ]) {
      expect(diffFacts(reference, [plain], objectKey).missing).toEqual([diff(option, true)]);
      expect(diffFacts([plain], reference, objectKey).extra).toEqual([diff(option, true)]);
      expect(diffFacts(reference, [option], objectKey)).toEqual({ missing: [], extra: [] });
    }
  });

  it('keys tell apart databases, classes, objects, columns, privileges; default keys schemas and grantees', () => {
    const base = obj();
    for (const over of [
      { database: 'other' },
      { objectClass: 'VIEW' },
      { target: 'app.x' },
      { column: 'c' },
      { privilege: 'INSERT' },
    ])
      expect(objectKey(obj(over))).not.toBe(objectKey(base));
    expect(objectKey(obj({ grantable: true, grantor: 'x', owned: true }))).toBe(objectKey(base));
    expect(objectKey(obj({ target: 'a', column: 'b' }))).not.toBe(objectKey(obj({ target: 'a\u0000b' })));
    expect(objectKey(obj({ target: 'a', column: 'b' }))).not.toBe(objectKey(obj({ target: 'ab' })));
    expect(defaultKey(dflt({ creator: 'a', schema: 'b' }))).not.toBe(defaultKey(dflt({ creator: 'ab' })));
    const d = dflt();
    for (const over of [
      { database: 'x' },
      { creator: PEER },
      { schema: 'app' },
      { objectType: 'SEQUENCES' },
      { grantee: 'PUBLIC' },
      { privilege: 'INSERT' },
    ])
      expect(defaultKey(dflt(over))).not.toBe(defaultKey(d));
    expect(defaultKey(dflt({ grantable: true }))).toBe(defaultKey(d));
  });

  it('describes differences the way a person reads them', () => {
    expect(describeObjectPrivilege(diff(obj()), 'shop')).toBe('table app.orders: SELECT');
    expect(
      describeObjectPrivilege(
        diff(obj({ database: 'crm', column: 'name', privilege: 'UPDATE', grantable: true })),
        'shop',
      ),
    ).toBe('table app.orders.name in database crm: UPDATE WITH GRANT OPTION');
    expect(describeObjectPrivilege(diff(obj({ grantable: true }), true), 'shop')).toBe(
      'table app.orders: SELECT (grant option)',
    );
    expect(
      describeObjectPrivilege(
        diff(obj({ database: '', kindLabel: 'database', target: 'shop', privilege: 'CONNECT', owned: true })),
        'shop',
      ),
    ).toBe('database shop: CONNECT (owner)');
    expect(describeDefaultPrivilege(diff(dflt()), 'shop')).toBe(
      'default privileges of <login> on TABLES to reporting: SELECT',
    );
    expect(
      describeDefaultPrivilege(diff(dflt({ schema: 'app', database: 'crm', grantable: true })), 'shop'),
    ).toBe(
      'default privileges of <login> in schema app in database crm on TABLES to reporting: SELECT WITH GRANT OPTION',
    );
    expect(describeDefaultPrivilege(diff(dflt({ grantable: true }), true), 'shop')).toBe(
      'default privileges of <login> on TABLES to reporting: SELECT (grant option)',
    );
  });
});

describe('postgres privileges: statements', () => {
  it('objects needing the same privileges share a statement; grant options and classes apart', () => {
    const diffs = [
      diff(obj({ target: 'app.a', privilege: 'SELECT' })),
      diff(obj({ target: 'app.a', privilege: 'INSERT' })),
      diff(obj({ target: 'app.b', privilege: 'INSERT' })),
      diff(obj({ target: 'app.b', privilege: 'SELECT' })),
      diff(obj({ target: 'app.c', privilege: 'SELECT' })),
      diff(obj({ target: 'app.d', privilege: 'SELECT', grantable: true })),
      diff(obj({ objectClass: 'SEQUENCE', target: 'app.s', privilege: 'USAGE' })),
    ];
    expect(objectPrivilegeStatements('GRANT', diffs, '"app_b"')).toEqual([
      'GRANT INSERT, SELECT ON TABLE app.a, app.b TO "app_b"',
      'GRANT SELECT ON TABLE app.c TO "app_b"',
      'GRANT SELECT ON TABLE app.d TO "app_b" WITH GRANT OPTION',
      'GRANT USAGE ON SEQUENCE app.s TO "app_b"',
    ]);
  });

  it('REVOKE takes away the option only where only the option differs', () => {
    const diffs = [
      diff(obj({ target: 'app.a', grantable: true }), true),
      diff(obj({ target: 'app.b', grantable: true })),
    ];
    expect(objectPrivilegeStatements('REVOKE', diffs, '"x"')).toEqual([
      'REVOKE GRANT OPTION FOR SELECT ON TABLE app.a FROM "x" CASCADE',
      'REVOKE SELECT ON TABLE app.b FROM "x" CASCADE',
    ]);
  });

  it('column privileges: one statement per table and option, columns listed per privilege', () => {
    const diffs = [
      diff(obj({ target: 'app.t', column: 'a', privilege: 'SELECT' })),
      diff(obj({ target: 'app.t', column: 'b', privilege: 'SELECT' })),
      diff(obj({ target: 'app.t', column: 'a', privilege: 'UPDATE' })),
      diff(obj({ target: 'app.t', column: 'c', privilege: 'UPDATE', grantable: true })),
      diff(obj({ target: 'app.u', column: 'a', privilege: 'SELECT' })),
    ];
    expect(objectPrivilegeStatements('GRANT', diffs, 'g')).toEqual([
      'GRANT SELECT (a, b), UPDATE (a) ON TABLE app.t TO g',
      'GRANT UPDATE (c) ON TABLE app.t TO g WITH GRANT OPTION',
      'GRANT SELECT (a) ON TABLE app.u TO g',
    ]);
  });

  it('at most 1000 objects per statement', () => {
    const diffs = Array.from({ length: 1001 }, (_, i) => diff(obj({ target: `t${i}` })));
    const statements = objectPrivilegeStatements('GRANT', diffs, 'g');
    expect(statements).toHaveLength(2);
    expect(statements[0]!.split(', ')).toHaveLength(1000);
    expect(statements[1]).toBe('GRANT SELECT ON TABLE t1000 TO g');
  });

  it('default privileges: grouped by creator, schema, type, grantee and option; names resolved', () => {
    const resolve = (t: string) => (t === SELF ? '"app_b"' : t === PEER ? '"app"' : t);
    const diffs = [
      diff(dflt({ privilege: 'SELECT' })),
      diff(dflt({ privilege: 'INSERT' })),
      diff(dflt({ privilege: 'INSERT' })),
      diff(dflt({ creator: PEER, schema: 'app', grantee: SELF, grantable: true })),
      diff(dflt({ objectType: 'SEQUENCES', privilege: 'USAGE' })),
    ];
    expect(defaultPrivilegeStatements('GRANT', diffs, resolve)).toEqual([
      'ALTER DEFAULT PRIVILEGES FOR ROLE "app_b" GRANT INSERT, SELECT ON TABLES TO reporting',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "app" IN SCHEMA app GRANT SELECT ON TABLES TO "app_b" WITH GRANT OPTION',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "app_b" GRANT USAGE ON SEQUENCES TO reporting',
    ]);
    expect(
      defaultPrivilegeStatements(
        'REVOKE',
        [diff(dflt({ grantable: true }), true), diff(dflt({ schema: 's', grantable: true }))],
        resolve,
      ),
    ).toEqual([
      'ALTER DEFAULT PRIVILEGES FOR ROLE "app_b" REVOKE GRANT OPTION FOR SELECT ON TABLES FROM reporting',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "app_b" IN SCHEMA s REVOKE SELECT ON TABLES FROM reporting',
    ]);
  });

  it('default privileges of different schemas or split differently never share a statement', () => {
    const diffs = [
      diff(dflt({ schema: 'a' })),
      diff(dflt({ schema: 'b' })),
      diff(dflt({ creator: 'x', schema: 'y' })),
      diff(dflt({ creator: 'xy' })),
    ];
    expect(defaultPrivilegeStatements('GRANT', diffs, (t) => t)).toEqual([
      'ALTER DEFAULT PRIVILEGES FOR ROLE <login> IN SCHEMA a GRANT SELECT ON TABLES TO reporting',
      'ALTER DEFAULT PRIVILEGES FOR ROLE <login> IN SCHEMA b GRANT SELECT ON TABLES TO reporting',
      'ALTER DEFAULT PRIVILEGES FOR ROLE x IN SCHEMA y GRANT SELECT ON TABLES TO reporting',
      'ALTER DEFAULT PRIVILEGES FOR ROLE xy GRANT SELECT ON TABLES TO reporting',
    ]);
  });

  it('leftover grants are revoked as their grantor; owned facts are left to DROP OWNED', () => {
    const leftovers = [
      obj({ grantor: '"alice"', target: 'app.a' }),
      obj({ grantor: '"bob"', target: 'app.b', privilege: 'UPDATE', grantable: true }),
      obj({ grantor: '"alice"', target: 'app.c' }),
      obj({ grantor: '"app"', target: 'app.mine', owned: true }),
    ];
    expect(leftoverRevokeStatements(leftovers, '"app"')).toEqual([
      'SET LOCAL ROLE "alice"',
      'REVOKE SELECT ON TABLE app.a, app.c FROM "app" CASCADE',
      'RESET ROLE',
      'SET LOCAL ROLE "bob"',
      'REVOKE UPDATE ON TABLE app.b FROM "app" CASCADE',
      'RESET ROLE',
    ]);
    expect(leftoverRevokeStatements([obj({ owned: true })], '"app"')).toEqual([]);
  });

  it('the grace bridge covers every kind both ways', () => {
    const s = bridgeStatements('"app"', '"app_b"');
    expect(s).toHaveLength(10);
    for (const kind of ['TABLES', 'SEQUENCES', 'FUNCTIONS', 'TYPES', 'SCHEMAS']) {
      expect(s).toContain(
        `ALTER DEFAULT PRIVILEGES FOR ROLE "app" GRANT ALL ON ${kind} TO "app_b" WITH GRANT OPTION`,
      );
      expect(s).toContain(
        `ALTER DEFAULT PRIVILEGES FOR ROLE "app_b" GRANT ALL ON ${kind} TO "app" WITH GRANT OPTION`,
      );
    }
  });
});
