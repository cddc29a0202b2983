/**
 * The store's label/state rules as pure functions (src/store/transitions.ts),
 * on snapshots whose versions are out of order and whose interesting version
 * is never the first one, so a rule that looks at the wrong version fails.
 * The backends' contract over the same rules is store-lifecycle.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { StoreStateError, UnknownCredentialError } from '../../src/errors';
import { SecretCipher } from '../../src/store/crypto';
import {
  auditOnly,
  checkInvariants,
  createPending,
  deleteDefinition,
  demote,
  describeSelector,
  diffVersions,
  discardPending,
  findVersion,
  getSecretFrom,
  importCurrent,
  markRevoked,
  nextVersion,
  promote,
  purgeRevoked,
  PURGED_SECRET,
  putDefinition,
  reencrypt,
  sameDefinition,
  sanitizeDetails,
  sortVersions,
  toMeta,
  type CredentialSnapshot,
  type TransitionContext,
  type VersionRecord,
} from '../../src/store/transitions';
import type { CredentialDefinition } from '../../src/store/types';
import type { VersionLabel, VersionState } from '../../src/shared/types';

const ID = 'orders.pg/app';
const K1 = randomBytes(32);
const K2 = randomBytes(32);
const cipher1 = new SecretCipher({ activeKeyId: 'k1', keys: { k1: K1 } });
const cipher12 = new SecretCipher({ activeKeyId: 'k2', keys: { k1: K1, k2: K2 } });
const ctx = (over: Partial<TransitionContext> = {}): TransitionContext => ({
  now: '2026-12-01T10:00:00.000Z',
  actor: 'alice',
  cipher: cipher1,
  ...over,
});

const definition = (over: Partial<CredentialDefinition> = {}): CredentialDefinition => ({
  id: ID,
  engine: 'postgres',
  host: 'db.internal',
  port: 5432,
  strategy: 'auto',
  loginNaming: 'alternate',
  baseUsername: 'app',
  policy: {
    graceMs: 60_000,
    migrationTimeoutMs: 1_000,
    drainTimeoutMs: 1_000,
    consumerDiscoveryMs: 1_000,
    rotateEveryDays: 30,
  },
  verifyChecks: [],
  options: {},
  labels: {},
  ...over,
});

function rec(version: number, state: VersionState, label?: VersionLabel, username = `app_v${version}`) {
  const r: VersionRecord = {
    credentialId: ID,
    version,
    username,
    state,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    secret: cipher1.encrypt(`pw-${version}`, { credentialId: ID, version }),
  };
  if (label) r.label = label;
  return r;
}

/** v3 PREVIOUS, v1 revoked, v4 CURRENT, v2 previous without label: out of order on purpose. */
const snapshot = (extra: VersionRecord[] = []): CredentialSnapshot => ({
  id: ID,
  definition: definition(),
  versions: [
    rec(3, 'previous', 'PREVIOUS'),
    rec(1, 'revoked'),
    rec(4, 'current', 'CURRENT'),
    rec(2, 'previous'),
    ...extra,
  ],
});

/** stateOf(snapshot()): what a transition that leaves the extra version out must give back. */
const SNAPSHOT_STATES = { 1: 'revoked', 2: 'previous', 3: 'previous/PREVIOUS', 4: 'current/CURRENT' };

const stateOf = (s: CredentialSnapshot | null | undefined) =>
  Object.fromEntries(
    sortVersions(s!.versions).map((v) => [v.version, v.label ? `${v.state}/${v.label}` : v.state]),
  );

/** The one audit record a transition by alice on ID writes (no `version` member when there is none). */
const auditOf = (action: string, version: number | undefined, details: object, at = ctx().now) => [
  { at, actor: 'alice', credentialId: ID, action, ...(version === undefined ? {} : { version }), details },
];

function storeError(f: () => unknown): StoreStateError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(StoreStateError);
    return e as StoreStateError;
  }
  throw new Error('expected a StoreStateError');
}

describe('store transitions: reads', () => {
  it('toMeta copies the metadata, the label only when there is one, never the secret', () => {
    const r = rec(3, 'previous', 'PREVIOUS');
    expect(toMeta(r)).toEqual({
      credentialId: ID,
      version: 3,
      username: 'app_v3',
      state: 'previous',
      label: 'PREVIOUS',
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
    });
    expect(toMeta(rec(2, 'previous'))).not.toHaveProperty('label');
    expect(toMeta(r)).not.toHaveProperty('secret');
  });

  it('sorts by version, finds by number or label wherever the version sits', () => {
    const s = snapshot();
    expect(sortVersions(s.versions).map((v) => v.version)).toEqual([1, 2, 3, 4]);
    expect(s.versions.map((v) => v.version)).toEqual([3, 1, 4, 2]); // not sorted in place
    expect(findVersion(s.versions, 2)!.username).toBe('app_v2');
    expect(findVersion(s.versions, 4)!.username).toBe('app_v4');
    expect(findVersion(s.versions, 'CURRENT')!.version).toBe(4);
    expect(findVersion(s.versions, 'PREVIOUS')!.version).toBe(3);
    expect(findVersion(s.versions, 'PENDING')).toBeUndefined();
    expect(findVersion(s.versions, 7)).toBeUndefined();
  });

  it('the next version is one above the highest, whatever its state or position', () => {
    expect(nextVersion([])).toBe(1);
    expect(nextVersion([{ version: 7 }, { version: 2 }])).toBe(8);
    expect(nextVersion(snapshot().versions)).toBe(5);
  });

  it('getSecretFrom decrypts the selected version and names what is missing', () => {
    const s = snapshot();
    expect(getSecretFrom(s, 2, cipher1)).toEqual({ version: 2, username: 'app_v2', password: 'pw-2' });
    expect(getSecretFrom(s, 'CURRENT', cipher1)).toEqual({
      version: 4,
      username: 'app_v4',
      password: 'pw-4',
    });
    expect(storeError(() => getSecretFrom(s, 9, cipher1)).message).toBe(
      `credential "${ID}" has no version 9`,
    );
    expect(storeError(() => getSecretFrom(s, 'PENDING', cipher1)).message).toBe(
      `credential "${ID}" has no PENDING version`,
    );
    expect(describeSelector(3)).toBe('version 3');
    expect(describeSelector('PREVIOUS')).toBe('PREVIOUS version');
    expect(() => getSecretFrom({ id: ID, versions: [rec(1, 'current', 'CURRENT')] }, 1, cipher1)).toThrow(
      UnknownCredentialError,
    );
  });
});

describe('store transitions: invariants', () => {
  const snap = (...versions: VersionRecord[]): CredentialSnapshot => ({ id: ID, versions });

  it('accepts every legal state/label pair', () => {
    expect(() =>
      checkInvariants(
        snap(
          rec(5, 'pending', 'PENDING'),
          rec(4, 'current', 'CURRENT'),
          rec(3, 'previous', 'PREVIOUS'),
          rec(2, 'previous'),
          rec(1, 'revoked'),
          rec(6, 'discarded'),
        ),
      ),
    ).not.toThrow();
  });

  it.each([
    ['current', 'PREVIOUS'],
    ['current', undefined],
    ['pending', 'CURRENT'],
    ['pending', undefined],
    ['previous', 'CURRENT'],
    ['previous', 'PENDING'],
    ['revoked', 'PREVIOUS'],
    ['discarded', 'PENDING'],
  ] as [VersionState, VersionLabel | undefined][])('rejects state %s with label %s', (state, label) => {
    const e = storeError(() => checkInvariants(snap(rec(1, 'previous'), rec(2, state, label))));
    expect(e.message).toBe(
      `store corrupt: credential "${ID}" version 2 has state ${state} with label ${label ?? 'none'}`,
    );
  });

  it('rejects a version listed twice and a label held twice', () => {
    expect(
      storeError(() => checkInvariants(snap(rec(1, 'revoked'), rec(2, 'previous'), rec(2, 'previous'))))
        .message,
    ).toBe(`store corrupt: credential "${ID}" version 2 appears twice`);
    for (const [state, label] of [
      ['current', 'CURRENT'],
      ['pending', 'PENDING'],
      ['previous', 'PREVIOUS'],
    ] as [VersionState, VersionLabel][]) {
      expect(
        storeError(() => checkInvariants(snap(rec(1, 'revoked'), rec(2, state, label), rec(3, state, label))))
          .message,
      ).toBe(`store corrupt: credential "${ID}" has 2 ${label} versions`);
    }
  });

  it('a transition never persists a corrupt snapshot', () => {
    const corrupt = snapshot([rec(5, 'current', 'CURRENT')]);
    expect(() => markRevoked(corrupt, 2, ctx())).toThrow(/has 2 CURRENT versions/);
  });
});

describe('store transitions: definitions', () => {
  it('put creates, then reports exactly the changed keys, sorted; same content is a no-op', () => {
    const empty: CredentialSnapshot = { id: ID, versions: [] };
    const created = putDefinition(empty, definition(), ctx());
    expect(created.next!.definition).toEqual(definition());
    expect(created.audit).toEqual([
      {
        at: ctx().now,
        actor: 'alice',
        credentialId: ID,
        action: 'put-definition',
        details: { created: true, engine: 'postgres', host: 'db.internal', port: 5432 },
      },
    ]);
    const s = created.next!;
    const changed = putDefinition(
      s,
      definition({ port: 6432, labels: { team: 'x' }, database: 'shop' }),
      ctx(),
    );
    expect(changed.audit[0]!.details).toEqual({
      created: false,
      engine: 'postgres',
      host: 'db.internal',
      port: 6432,
      changedKeys: ['database', 'labels', 'port'],
    });
    expect(changed.next!.versions).toEqual(s.versions);
    // Key order and undefined members do not make a definition different.
    const reordered = Object.fromEntries(Object.entries(definition({ expiresAt: undefined })).reverse());
    expect(putDefinition(s, reordered as unknown as CredentialDefinition, ctx())).toEqual({
      result: undefined,
      audit: [],
    });
    expect(() => putDefinition(s, definition({ id: 'other' }), ctx())).toThrow(StoreStateError);
  });

  it('sameDefinition compares nested values, arrays in order, and types', () => {
    const d = definition({ verifyChecks: ['SELECT 1', 'SELECT 2'], options: { a: { b: [1, 2] } } });
    expect(
      sameDefinition(
        d,
        definition({ options: { a: { b: [1, 2] } }, verifyChecks: ['SELECT 1', 'SELECT 2'] }),
      ),
    ).toBe(true);
    expect(sameDefinition(d, { ...d, verifyChecks: ['SELECT 2', 'SELECT 1'] })).toBe(false);
    expect(sameDefinition(d, { ...d, options: { a: { b: [1, 3] } } })).toBe(false);
    expect(sameDefinition(d, { ...d, options: { a: { b: [1, '2'] } } })).toBe(false);
    expect(sameDefinition(d, { ...d, options: { a: { b: [1, 2], c: null } } })).toBe(false);
    expect(sameDefinition(d, { ...d, options: { a: { c: [1, 2] } } })).toBe(false);
    expect(sameDefinition(d, { ...d, host: 'db.internal2' })).toBe(false);
    expect(sameDefinition(d, { ...d, options: { a: { b: [1, 2], c: undefined } } })).toBe(true);
    expect(sameDefinition(d, { ...d, options: { a: { b: [1, 2, undefined] } } })).toBe(false);
  });

  it('delete removes definition and versions; deleting nothing is a no-op', () => {
    const m = deleteDefinition(snapshot(), ctx());
    expect(m.next).toBeNull();
    expect(m.audit).toEqual(auditOf('delete-definition', undefined, { versionsDeleted: [3, 1, 4, 2] }));
    expect(deleteDefinition({ id: ID, versions: [] }, ctx())).toEqual({ result: undefined, audit: [] });
    // Versions left without a definition are deleted too.
    expect(deleteDefinition({ id: ID, versions: [rec(1, 'revoked')] }, ctx()).next).toBeNull();
    expect(deleteDefinition({ id: ID, definition: definition(), versions: [] }, ctx()).next).toBeNull();
  });
});

describe('store transitions: versions', () => {
  it('import after revoked versions takes the next number; idempotent for the same login only', () => {
    const s: CredentialSnapshot = {
      id: ID,
      definition: definition(),
      versions: [rec(2, 'revoked'), rec(1, 'revoked')],
    };
    const m = importCurrent(s, { username: 'app', password: 'secret-1' }, ctx());
    expect(m.result).toMatchObject({ version: 3, state: 'current', label: 'CURRENT', username: 'app' });
    expect(stateOf(m.next)).toEqual({ 1: 'revoked', 2: 'revoked', 3: 'current/CURRENT' });
    expect(m.audit).toEqual(auditOf('import-current', 3, { username: 'app', keyId: 'k1' }));
    expect(getSecretFrom(m.next!, 3, cipher1).password).toBe('secret-1');
    const again = importCurrent(m.next!, { username: 'app', password: 'secret-1' }, ctx());
    expect(again).toEqual({ result: m.result, audit: [] });
    expect(
      storeError(() => importCurrent(m.next!, { username: 'app', password: 'secret-2' }, ctx())).message,
    ).toMatch(/already has a CURRENT version \(3\)/);
    expect(() => importCurrent(m.next!, { username: 'app2', password: 'secret-1' }, ctx())).toThrow(
      StoreStateError,
    );
    expect(() => importCurrent(m.next!, { username: 'app', password: 'secret-11' }, ctx())).toThrow(
      StoreStateError,
    );
    expect(() => importCurrent(m.next!, { username: 'app', password: 'secret-2X' }, ctx())).toThrow(
      StoreStateError,
    );
    const withPending: CredentialSnapshot = {
      id: ID,
      definition: definition(),
      versions: [rec(1, 'revoked'), rec(2, 'pending', 'PENDING')],
    };
    expect(
      storeError(() => importCurrent(withPending, { username: 'app', password: 'x' }, ctx())).message,
    ).toMatch(/has a PENDING version \(2\)/);
  });

  it('import validates the login', () => {
    const s: CredentialSnapshot = { id: ID, definition: definition(), versions: [] };
    for (const username of ['', 'a\0b', 42 as unknown as string])
      expect(storeError(() => importCurrent(s, { username, password: 'p' }, ctx())).message).toMatch(
        /username must be/,
      );
    for (const password of ['', undefined as unknown as string])
      expect(storeError(() => importCurrent(s, { username: 'u', password }, ctx())).message).toMatch(
        /password must be/,
      );
    expect(() => importCurrent({ id: ID, versions: [] }, { username: 'u', password: 'p' }, ctx())).toThrow(
      UnknownCredentialError,
    );
  });

  it('createPending: above every version, once, with the generated password', () => {
    const s = snapshot();
    let calls = 0;
    const gen = () => `generated-${++calls}`;
    const m = createPending(s, 6, 'app_b', gen, ctx());
    expect(m.result).toMatchObject({ version: 6, state: 'pending', label: 'PENDING', username: 'app_b' });
    expect(getSecretFrom(m.next!, 'PENDING', cipher1)).toEqual({
      version: 6,
      username: 'app_b',
      password: 'generated-1',
    });
    expect(m.audit).toEqual(auditOf('create-pending', 6, { username: 'app_b', keyId: 'k1' }));
    expect(s.versions).toHaveLength(4); // input untouched
    const again = createPending(m.next!, 6, 'app_b', gen, ctx());
    expect(again).toEqual({ result: m.result, audit: [] });
    expect(calls).toBe(1);
    expect(storeError(() => createPending(m.next!, 6, 'app_c', gen, ctx())).message).toMatch(
      /version 6 is pending with username "app_b", not "app_c"/,
    );
    expect(storeError(() => createPending(m.next!, 7, 'app_b', gen, ctx())).message).toMatch(
      /already has a PENDING version \(6\)/,
    );
    expect(storeError(() => createPending(s, 2, 'app_b', gen, ctx())).message).toMatch(
      /version 2 exists already as previous/,
    );
    expect(storeError(() => createPending(s, 4, 'app_b', gen, ctx())).message).toMatch(
      /version 4 exists already as current/,
    );
  });

  it('createPending refuses numbers not above the highest version, bad numbers and empty passwords', () => {
    const s: CredentialSnapshot = {
      id: ID,
      definition: definition(),
      versions: [rec(5, 'revoked'), rec(3, 'current', 'CURRENT')],
    };
    expect(storeError(() => createPending(s, 4, 'u', () => 'p', ctx())).message).toMatch(
      /new version 4 must be above the highest existing version \(5\)/,
    );
    expect(createPending(s, 6, 'u', () => 'p', ctx()).result.version).toBe(6);
    for (const v of [0, -1, 1.5, Number.NaN, 2 ** 53])
      expect(storeError(() => createPending(s, v, 'u', () => 'p', ctx())).message).toMatch(
        /version must be a positive integer/,
      );
    expect(storeError(() => createPending(s, 6, 'u', () => '', ctx())).message).toMatch(/password must be/);
    expect(storeError(() => createPending(s, 6, '', () => 'p', ctx())).message).toMatch(/username must be/);
    expect(() => createPending({ id: ID, versions: [] }, 1, 'u', () => 'p', ctx())).toThrow(
      UnknownCredentialError,
    );
  });

  it('discardPending removes the pending version only; absent is a no-op; others are refused', () => {
    const s = snapshot([rec(5, 'pending', 'PENDING', 'app_b')]);
    const m = discardPending(s, 5, ctx());
    expect(stateOf(m.next)).toEqual(SNAPSHOT_STATES);
    expect(m.audit).toEqual(auditOf('discard-pending', 5, { username: 'app_b' }));
    expect(discardPending(s, 9, ctx())).toEqual({ result: undefined, audit: [] });
    expect(storeError(() => discardPending(s, 4, ctx())).message).toBe(
      `credential "${ID}" version 4 is current, not pending; refusing to discard it`,
    );
  });

  it('promote: pending becomes CURRENT, CURRENT becomes PREVIOUS, the old PREVIOUS loses its label', () => {
    const s = snapshot([rec(5, 'pending', 'PENDING', 'app_b')]);
    const m = promote(s, 5, ctx({ now: '2026-12-02T00:00:00.000Z' }));
    expect(stateOf(m.next)).toEqual({
      1: 'revoked',
      2: 'previous',
      3: 'previous',
      4: 'previous/PREVIOUS',
      5: 'current/CURRENT',
    });
    const byVersion = new Map(m.next!.versions.map((v) => [v.version, v]));
    for (const v of [3, 4, 5]) expect(byVersion.get(v)!.updatedAt).toBe('2026-12-02T00:00:00.000Z');
    for (const v of [1, 2]) expect(byVersion.get(v)!.updatedAt).toBe('2026-01-01T00:00:00.000Z');
    expect(m.audit).toEqual(
      auditOf('promote', 5, { unlabelled: 3, previous: 4 }, '2026-12-02T00:00:00.000Z'),
    );
    expect(promote(m.next!, 5, ctx())).toEqual({ result: undefined, audit: [] });
    expect(storeError(() => promote(s, 2, ctx())).message).toBe(
      `credential "${ID}": cannot promote version 2: it is previous, not pending`,
    );
    expect(storeError(() => promote(s, 8, ctx())).message).toBe(
      `credential "${ID}": cannot promote version 8: no such version, not pending`,
    );
  });

  it('promote of the first version: nothing to unlabel, no details', () => {
    const s: CredentialSnapshot = {
      id: ID,
      definition: definition(),
      versions: [rec(1, 'pending', 'PENDING')],
    };
    const m = promote(s, 1, ctx());
    expect(stateOf(m.next)).toEqual({ 1: 'current/CURRENT' });
    expect(m.audit[0]).not.toHaveProperty('details');
  });

  it('demote: PREVIOUS back to CURRENT, CURRENT back to PENDING', () => {
    const s = snapshot();
    const m = demote(s, 3, ctx());
    expect(stateOf(m.next)).toEqual({
      1: 'revoked',
      2: 'previous',
      3: 'current/CURRENT',
      4: 'pending/PENDING',
    });
    expect(m.audit).toEqual(auditOf('demote', 3, { demoted: 4 }));
    expect(m.next!.versions.find((v) => v.version === 2)!.updatedAt).toBe('2026-01-01T00:00:00.000Z');
    expect(demote(m.next!, 3, ctx())).toEqual({ result: undefined, audit: [] });
    expect(storeError(() => demote(s, 2, ctx())).message).toBe(
      `credential "${ID}": cannot demote to version 2: it is previous but no longer labelled PREVIOUS`,
    );
    expect(storeError(() => demote(s, 1, ctx())).message).toBe(
      `credential "${ID}": cannot demote to version 1: it is revoked`,
    );
    expect(storeError(() => demote(s, 9, ctx())).message).toBe(
      `credential "${ID}": cannot demote to version 9: no such version`,
    );
    expect(storeError(() => demote(snapshot([rec(5, 'pending', 'PENDING')]), 3, ctx())).message).toBe(
      `credential "${ID}": cannot demote while version 5 is PENDING (discard it first)`,
    );
    const noCurrent: CredentialSnapshot = {
      id: ID,
      definition: definition(),
      versions: [rec(1, 'revoked'), rec(2, 'previous', 'PREVIOUS')],
    };
    expect(storeError(() => demote(noCurrent, 2, ctx())).message).toBe(
      `credential "${ID}": cannot demote: no CURRENT version`,
    );
  });

  it('markRevoked: drops the label, records what it was; refuses CURRENT; idempotent', () => {
    const s = snapshot();
    const m = markRevoked(s, 3, ctx());
    expect(stateOf(m.next)).toEqual({ 1: 'revoked', 2: 'previous', 3: 'revoked', 4: 'current/CURRENT' });
    expect(m.audit[0]).toMatchObject({
      action: 'mark-revoked',
      version: 3,
      details: { wasState: 'previous', wasLabel: 'PREVIOUS' },
    });
    expect(m.next!.versions.find((v) => v.version === 3)!.updatedAt).toBe(ctx().now);
    const unlabelled = markRevoked(s, 2, ctx());
    expect(unlabelled.audit[0]!.details).toEqual({ wasState: 'previous' });
    expect(markRevoked(s, 1, ctx())).toEqual({ result: undefined, audit: [] });
    expect(storeError(() => markRevoked(s, 4, ctx())).message).toBe(
      `credential "${ID}": refusing to revoke version 4: it is CURRENT`,
    );
    expect(storeError(() => markRevoked(s, 9, ctx())).message).toBe(
      `credential "${ID}": cannot revoke version 9: no such version`,
    );
  });

  it('every transition requires a definition', () => {
    const bare: CredentialSnapshot = {
      id: ID,
      versions: [rec(1, 'current', 'CURRENT'), rec(2, 'pending', 'PENDING')],
    };
    expect(() => promote(bare, 2, ctx())).toThrow(UnknownCredentialError);
    expect(() => demote(bare, 1, ctx())).toThrow(UnknownCredentialError);
    expect(() => markRevoked(bare, 2, ctx())).toThrow(UnknownCredentialError);
  });

  it('reencrypt re-seals only the versions under an old key', () => {
    const s = snapshot();
    const fresh = cipher12.encrypt('pw-5', { credentialId: ID, version: 5 });
    s.versions.push({ ...rec(5, 'pending', 'PENDING'), secret: fresh });
    const m = reencrypt(s, ctx({ cipher: cipher12 }));
    expect(m.result).toBe(4);
    expect(m.audit).toEqual(
      auditOf('reencrypt-secrets', undefined, {
        versions: [3, 1, 4, 2],
        fromKeyIds: ['k1'],
        toKeyId: 'k2',
        resigned: true,
      }),
    );
    for (const v of m.next!.versions) {
      expect(cipher12.keyIdOf(v.secret)).toBe('k2');
      expect(cipher12.decrypt(v.secret, { credentialId: ID, version: v.version })).toBe(`pw-${v.version}`);
    }
    expect(m.next!.versions.find((v) => v.version === 5)!.secret).toBe(fresh);
    expect(reencrypt(m.next!, ctx({ cipher: cipher12 }))).toEqual({ result: 0, audit: [] });
  });

  it('diffVersions tells inserted, updated (any persisted field) and deleted versions', () => {
    const before = [
      rec(1, 'revoked'),
      rec(2, 'previous'),
      rec(3, 'current', 'CURRENT'),
      rec(4, 'previous'),
      rec(5, 'previous'),
      rec(6, 'previous'),
      rec(7, 'previous'),
    ];
    const after = [
      { ...before[6]!, updatedAt: 'later' },
      { ...before[5]!, secret: 'enc1:other' },
      { ...before[4]!, username: 'someone' },
      { ...before[3]!, label: 'PREVIOUS' as const },
      { ...before[2]! },
      { ...before[1]!, state: 'revoked' as const },
      rec(8, 'pending', 'PENDING'),
    ];
    const d = diffVersions(before, after);
    expect(d.inserted.map((v) => v.version)).toEqual([8]);
    expect(d.updated.map((v) => v.version)).toEqual([7, 6, 5, 4, 2]);
    expect(d.deleted).toEqual([1]);
  });
});

describe('store transitions: audit records', () => {
  it('auditOnly needs actor, credential and action; keeps version and non-empty details', () => {
    expect(
      auditOnly({ actor: 'bob', credentialId: ID, action: 'note', version: 0, details: {} }, 'T'),
    ).toEqual({
      result: undefined,
      audit: [{ at: 'T', actor: 'bob', credentialId: ID, action: 'note', version: 0 }],
    });
    expect(
      auditOnly({ actor: 'bob', credentialId: ID, action: 'note', details: { why: 'x' } }, 'T').audit,
    ).toEqual([{ at: 'T', actor: 'bob', credentialId: ID, action: 'note', details: { why: 'x' } }]);
    for (const missing of ['actor', 'credentialId', 'action'] as const) {
      const input = { actor: 'bob', credentialId: ID, action: 'note', [missing]: '' };
      expect(storeError(() => auditOnly(input, 'T')).message).toBe(
        'audit record needs actor, credentialId and action',
      );
    }
  });

  it('sanitizeDetails redacts secret-looking keys at any depth, and only those', () => {
    const out = sanitizeDetails({
      password: 'a',
      newPassword: 'b',
      pass: 'c',
      pwd: 'd',
      clientSecret: 'e',
      authToken: 'f',
      APIKEY: 'g',
      api_key: 'h',
      privateKey: 'i',
      key: 'j',
      bypass: 'kept',
      keyId: 'kept',
      monkey: 'kept',
      passage: 'kept',
      nested: [{ token: 'x', user: 'u' }],
    });
    expect(out).toEqual({
      password: '[redacted]',
      newPassword: '[redacted]',
      pass: '[redacted]',
      pwd: '[redacted]',
      clientSecret: '[redacted]',
      authToken: '[redacted]',
      APIKEY: '[redacted]',
      api_key: '[redacted]',
      privateKey: '[redacted]',
      key: '[redacted]',
      bypass: 'kept',
      keyId: 'kept',
      monkey: 'kept',
      passage: 'kept',
      nested: [{ token: '[redacted]', user: 'u' }],
    });
  });

  it('sanitizeDetails makes values JSON-safe: bigint, dates, functions, symbols, cycles, depth', () => {
    const cyclic: Record<string, unknown> = { name: 'c' };
    cyclic.self = cyclic;
    let deep: Record<string, unknown> = { leaf: 'bottom' };
    for (let i = 0; i < 9; i++) deep = { down: deep };
    const out = sanitizeDetails({
      n: 10n,
      at: new Date('2026-12-01T00:00:00.000Z'),
      f: () => 1,
      s: Symbol('s'),
      u: undefined,
      z: null,
      list: [1, 'two', 3n],
      cyclic,
      deep,
    });
    expect(out).toEqual({
      n: '10',
      at: '2026-12-01T00:00:00.000Z',
      z: null,
      list: [1, 'two', '3'],
      cyclic: { name: 'c', self: '[omitted]' },
      deep: { down: { down: { down: { down: { down: { down: { down: { down: '[omitted]' } } } } } } } },
    });
    expect(Object.keys(out)).not.toContain('f');
    expect(Object.keys(out)).not.toContain('s');
    expect(Object.keys(out)).not.toContain('u');
  });

  it('transition audit records carry sanitized details and no empty details', () => {
    const m = discardPending(snapshot([rec(5, 'pending', 'PENDING', 'app_b')]), 5, ctx({ actor: 'carol' }));
    expect(m.audit[0]).toMatchObject({ actor: 'carol', version: 5 });
  });
});

describe('store transitions: what is persisted, exactly', () => {
  it('no explicit undefined members in records: no label after unlabelling, no version or wasLabel when absent', () => {
    const s = snapshot([rec(5, 'pending', 'PENDING', 'app_b')]);
    const m = promote(s, 5, ctx());
    const v3 = m.next!.versions.find((v) => v.version === 3)!;
    expect(Object.keys(v3)).not.toContain('label');
    const put = putDefinition({ id: ID, versions: [] }, definition(), ctx());
    expect(Object.keys(put.audit[0]!)).not.toContain('version');
    expect(Object.keys(markRevoked(s, 2, ctx()).audit[0]!.details!)).toEqual(['wasState']);
    expect(Object.keys(auditOnly({ actor: 'a', credentialId: ID, action: 'x' }, 'T').audit[0]!)).toEqual([
      'at',
      'actor',
      'credentialId',
      'action',
    ]);
  });

  it('demote finds the PREVIOUS version wherever it is listed', () => {
    const s: CredentialSnapshot = {
      id: ID,
      definition: definition(),
      versions: [
        rec(1, 'revoked'),
        rec(4, 'current', 'CURRENT'),
        rec(2, 'previous'),
        rec(3, 'previous', 'PREVIOUS'),
      ],
    };
    expect(stateOf(demote(s, 3, ctx()).next)).toEqual({
      1: 'revoked',
      2: 'previous',
      3: 'current/CURRENT',
      4: 'pending/PENDING',
    });
  });

  it('re-encryption reports the retired keys sorted', () => {
    const [ka, kb, kc] = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const viaB = new SecretCipher({ activeKeyId: 'kb', keys: { kb } });
    const viaA = new SecretCipher({ activeKeyId: 'ka', keys: { ka } });
    const all = new SecretCipher({ activeKeyId: 'kc', keys: { ka, kb, kc } });
    const s: CredentialSnapshot = {
      id: ID,
      definition: definition(),
      versions: [
        { ...rec(1, 'previous', 'PREVIOUS'), secret: viaB.encrypt('pw-1', { credentialId: ID, version: 1 }) },
        { ...rec(2, 'current', 'CURRENT'), secret: viaA.encrypt('pw-2', { credentialId: ID, version: 2 }) },
      ],
    };
    expect(reencrypt(s, ctx({ cipher: all })).audit[0]!.details).toEqual({
      versions: [1, 2],
      fromKeyIds: ['ka', 'kb'],
      toKeyId: 'kc',
      resigned: true,
    });
  });

  it('definitions: arrays of numbers compare element by element; a mismatched id is named', () => {
    const d = definition({ options: { ports: [1, 23] } });
    expect(sameDefinition(d, { ...d, options: { ports: [12, 3] } })).toBe(false);
    expect(() => putDefinition({ id: ID, versions: [] }, definition({ id: 'x.y/z' }), ctx())).toThrow(
      `definition id "x.y/z" does not match "${ID}"`,
    );
  });

  it('audit details are cut at depth 8 in nested arrays too', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 10; i++) deep = [deep];
    const out = sanitizeDetails({ deep }) as { deep: unknown };
    let cur: unknown = out.deep;
    let depth = 1;
    while (Array.isArray(cur)) {
      cur = cur[0];
      depth++;
    }
    expect(cur).toBe('[omitted]');
    expect(depth).toBe(9);
  });
});

describe('store transitions: purge and re-signing', () => {
  const CUTOFF = '2026-06-01T00:00:00.000Z';
  const at = (r: VersionRecord, updatedAt: string): VersionRecord => ({ ...r, updatedAt });

  it('purgeRevoked deletes the secrets of versions revoked at or before the cutoff, and only those', () => {
    const s: CredentialSnapshot = {
      id: ID,
      definition: definition(),
      versions: [
        at(rec(7, 'current', 'CURRENT'), '2026-01-01T00:00:00.000Z'), // old, but not revoked
        at(rec(6, 'previous', 'PREVIOUS'), '2026-01-01T00:00:00.000Z'),
        at(rec(5, 'revoked'), '2026-06-01T00:00:00.001Z'), // revoked just after the cutoff
        at(rec(4, 'revoked'), CUTOFF), // exactly at the cutoff
        { ...at(rec(3, 'revoked'), '2026-01-01T00:00:00.000Z'), secret: PURGED_SECRET }, // purged before
        at(rec(2, 'revoked'), '2026-02-01T00:00:00.000Z'),
      ],
    };
    const m = purgeRevoked(s, CUTOFF, 86_400_000, ctx());
    expect(m.result).toBe(2);
    const byVersion = new Map(m.next!.versions.map((v) => [v.version, v]));
    for (const v of [2, 4]) {
      expect(byVersion.get(v)!.secret).toBe(PURGED_SECRET);
      expect(byVersion.get(v)!.updatedAt).toBe(ctx().now);
    }
    for (const v of [3, 5, 6, 7]) expect(byVersion.get(v)).toEqual(s.versions.find((r) => r.version === v)); // untouched
    expect(m.audit).toEqual(
      auditOf('purge-revoked-secrets', undefined, { versions: [4, 2], retentionMs: 86_400_000 }),
    );
    expect(purgeRevoked(m.next!, CUTOFF, 86_400_000, ctx())).toEqual({ result: 0, audit: [] });
  });

  it('reencrypt re-signs (and says so) when only a tag was made with an old key; skips purged secrets', () => {
    const oldTag = cipher1.sign('record'); // mac1:k1:…
    const newTag = cipher12.sign('record'); // mac1:k2:…
    const under2 = (v: number, state: VersionState, label?: VersionLabel): VersionRecord => ({
      ...rec(v, state, label),
      secret: cipher12.encrypt(`pw-${v}`, { credentialId: ID, version: v }),
      tag: newTag,
    });
    const fresh: CredentialSnapshot = {
      id: ID,
      definition: definition(),
      definitionTag: newTag,
      versions: [
        { ...rec(1, 'revoked'), secret: PURGED_SECRET, tag: newTag },
        under2(3, 'current', 'CURRENT'),
        under2(2, 'previous', 'PREVIOUS'),
      ],
    };
    expect(reencrypt(fresh, ctx({ cipher: cipher12 }))).toEqual({ result: 0, audit: [] });
    const resignedOnly = auditOf('reencrypt-secrets', undefined, {
      versions: [],
      fromKeyIds: [],
      toKeyId: 'k2',
      resigned: true,
    });
    const staleDefinition = { ...fresh, definitionTag: oldTag };
    const m = reencrypt(staleDefinition, ctx({ cipher: cipher12 }));
    expect(m).toMatchObject({ result: 0, audit: resignedOnly });
    expect(m.next!.definitionTag).toBe(oldTag); // re-signed by the store when it persists `next`
    const staleVersion = {
      ...fresh,
      versions: fresh.versions.map((v) => (v.version === 2 ? { ...v, tag: oldTag } : v)),
    };
    expect(reencrypt(staleVersion, ctx({ cipher: cipher12 }))).toMatchObject({
      result: 0,
      audit: resignedOnly,
    });
    expect(m.next!.versions.find((v) => v.version === 1)!.secret).toBe(PURGED_SECRET);
  });

  it('versions left without a definition: purge and re-encryption add no empty definition or tag members', () => {
    const bare: CredentialSnapshot = {
      id: ID,
      versions: [at(rec(2, 'revoked'), '2026-01-01T00:00:00.000Z')],
    };
    expect(Object.keys(purgeRevoked(bare, CUTOFF, 0, ctx()).next!)).toEqual(['id', 'versions']);
    expect(Object.keys(reencrypt(bare, ctx({ cipher: cipher12 })).next!)).toEqual(['id', 'versions']);
  });

  it('diffVersions counts a changed tag as an update (the record was re-signed)', () => {
    const v2 = rec(2, 'previous');
    expect(diffVersions([v2], [{ ...v2, tag: 'mac1:k2:x' }]).updated).toEqual([{ ...v2, tag: 'mac1:k2:x' }]);
  });
});
