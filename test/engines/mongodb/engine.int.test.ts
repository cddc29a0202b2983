/**
 * The MongoDB engine against the shared FerretDB 1.24 (SQLite backend,
 * experimental SCRAM). What FerretDB does not implement (roles, role
 * enforcement, privileges, $currentOp/killOp/killAllSessionsByPattern,
 * invalidating a dropped user's connections) is listed in
 * docs/engine-notes-mongodb.md; the tests below pin FerretDB's current
 * behaviour where it differs, so a FerretDB upgrade that changes it is noticed.
 */
import type { MongoClient } from 'mongodb';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMongoEngine, type MongoEngine } from '../../../src/engines/mongodb';
import { generatePassword } from '../../../src/engines/password';
import type { EngineConnection } from '../../../src/engines/types';
import { ConfigError, UnsafeIdentifierError, VerificationError } from '../../../src/errors';
import { freshMongo, mongoConnect, waitForMongo, type MongoNamespace } from '../../helpers/mongo';
import { services } from '../../helpers/services';
import { adminConnection } from '../../helpers/engines';
import { expectWrongAdminPasswordRefused, preflight, setPassword } from '../../helpers/engine-calls';

let ns: MongoNamespace;
let engine: MongoEngine;

function engineFor(database: string | undefined, extra: Partial<EngineConnection> = {}): MongoEngine {
  return createMongoEngine(adminConnection('mongo', { database, ...extra }));
}

/** 'ok' or the server's code name of logging in. */
async function tryLogin(user: string, password: string, authSource = ns.database): Promise<string> {
  try {
    const c = await mongoConnect(user, password, authSource);
    await c.close();
    return 'ok';
  } catch (err) {
    return (err as { codeName?: string }).codeName ?? (err as Error).message;
  }
}

/** Reads and writes the test database as the client's user. */
async function readWrite(c: MongoClient, tag: string): Promise<void> {
  const coll = c.db(ns.database).collection('orders');
  await coll.insertOne({ tag });
  expect(await coll.findOne({ tag })).toMatchObject({ tag });
}

beforeAll(async () => {
  await waitForMongo();
}, 16 * 60_000);

beforeEach(async () => {
  ns = await freshMongo();
  engine = engineFor(ns.database);
});

afterEach(async () => {
  await engine.close();
  await ns.cleanup();
});

/** A SCRAM-SHA-256 user `app` with an old password, and a new password for it. */
async function appAndPasswords() {
  const oldPw = generatePassword();
  const user = await ns.createUser('app', oldPw, { mechanisms: ['SCRAM-SHA-256'] });
  return { oldPw, newPw: generatePassword(), user };
}

describe('MongoDB engine on FerretDB: describe and preflight', () => {
  it('detects FerretDB and offers dual-user and single, not dual-password', async () => {
    const info = await engine.describe();
    expect(info.engine).toBe('mongodb');
    expect(info.variant).toBe('ferretdb');
    expect(info.version).toMatch(/^\d+\.\d+\.\d+ \(FerretDB 1\.24\.\d+\)$/);
    expect(info.strategies['dual-user'].supported).toBe(true);
    expect(info.strategies.single.supported).toBe(true);
    expect(info.strategies['dual-password']).toEqual({
      supported: false,
      reason: expect.stringMatching(/one password/),
    });
  });

  it('a wrong admin password is a ConfigError without the password', async () => {
    const wrong = 'not-the-admin-pw';
    const e = engineFor(ns.database, { admin: { username: services.mongo.user, password: wrong } });
    await expectWrongAdminPasswordRefused(e, wrong);
  });

  it('$external users have no password to rotate', async () => {
    const e = engineFor('$external');
    try {
      await expect(preflight(e, 'CN=app', 'single')).rejects.toBeInstanceOf(ConfigError);
    } finally {
      await e.close();
    }
  });
});

describe('MongoDB engine on FerretDB: dual-user', () => {
  it('the new login authenticates and reads/writes; the old one keeps working until dropped', async () => {
    const { oldPw, newPw, user: template } = await appAndPasswords();
    const clone = `${ns.prefix}app_b`;

    await engine.createLoginLike(template, clone, newPw);
    expect((await ns.userInfo(clone))?.mechanisms).toEqual(['SCRAM-SHA-256']);
    expect(await engine.comparePrivileges(template, clone)).toEqual({ missing: [], extra: [] });
    await engine.verifyLogin(
      { username: clone, password: newPw },
      { checks: ['{"find": "orders", "limit": 1}', '{"count": "orders"}'] },
    );
    await engine.verifyLogin({ username: template, password: oldPw });
    const c = await ns.connectAs(clone, newPw);
    await readWrite(c, 'written-by-clone');
    const o = await ns.connectAs(template, oldPw);
    await readWrite(o, 'written-by-template');
    expect(await c.db(ns.database).collection('orders').countDocuments()).toBe(2);

    expect(await engine.listSessions(template)).toEqual([]); // FerretDB: no $currentOp (see notes)
    await engine.dropLogin(template, clone);
    expect(await engine.loginExists(template)).toBe(false);
    expect(await tryLogin(template, oldPw)).toBe('AuthenticationFailed');
    expect(await tryLogin(clone, newPw)).toBe('ok');
    const err = await engine.verifyLogin({ username: template, password: oldPw }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as Error).message).not.toContain(oldPw);
    await engine.dropLogin(template); // already gone: no error
  });

  it("FerretDB limitation pinned: a dropped user's open connection keeps working and is not listed", async () => {
    const pw = generatePassword();
    const user = await ns.createUser('app', pw);
    const open = await ns.connectAs(user, pw);
    await readWrite(open, 'before-drop');
    expect(await engine.listSessions(user)).toEqual([]);
    expect(await engine.endSessions(user)).toBe(0);
    await engine.dropLogin(user);
    // Real MongoDB revokes the connection's authorization at its next operation.
    await readWrite(open, 'after-drop');
  });

  it('is idempotent: a second run with another password converges; concurrent runs too', async () => {
    const template = await ns.createUser('app', generatePassword(), {
      mechanisms: ['SCRAM-SHA-1', 'SCRAM-SHA-256'],
    });
    const clone = `${ns.prefix}app_b`;
    const first = generatePassword();
    const second = generatePassword();
    await engine.createLoginLike(template, clone, first);
    // Drift: the clone lost a mechanism (as another tool might have left it).
    await ns.admin.db(ns.database).command({ updateUser: clone, pwd: first, mechanisms: ['SCRAM-SHA-1'] });
    const drifted = await engine.comparePrivileges(template, clone);
    expect(drifted.missing).toEqual(['mechanism SCRAM-SHA-256']);

    await engine.createLoginLike(template, clone, second);
    expect(await engine.comparePrivileges(template, clone)).toEqual({ missing: [], extra: [] });
    expect(await tryLogin(clone, first)).toBe('AuthenticationFailed');
    expect(await tryLogin(clone, second)).toBe('ok');

    // Two attempts at once (a retry racing a slow first attempt): one creates, the other updates.
    const third = `${ns.prefix}app_c`;
    const pw = generatePassword();
    const other = engineFor(ns.database);
    try {
      await Promise.all([
        engine.createLoginLike(template, third, pw),
        other.createLoginLike(template, third, pw),
      ]);
    } finally {
      await other.close();
    }
    expect(await tryLogin(third, pw)).toBe('ok');
  });

  it('comparePrivileges reports mechanism differences and a missing login', async () => {
    const template = await ns.createUser('app', generatePassword(), { mechanisms: ['SCRAM-SHA-256'] });
    const sha1 = await ns.createUser('sha1', generatePassword(), { mechanisms: ['SCRAM-SHA-1'] });
    expect(await engine.comparePrivileges(template, sha1)).toEqual({
      missing: ['mechanism SCRAM-SHA-256'],
      extra: ['mechanism SCRAM-SHA-1'],
    });
    expect((await engine.comparePrivileges(template, `${ns.prefix}nobody`)).missing).toEqual([
      `login "${ns.prefix}nobody" does not exist in database "${ns.database}"`,
    ]);
    await expect(engine.comparePrivileges(`${ns.prefix}nobody`, template)).rejects.toBeInstanceOf(
      ConfigError,
    );
    await expect(engine.createLoginLike(`${ns.prefix}nobody`, `${ns.prefix}x`, 'pw')).rejects.toBeInstanceOf(
      ConfigError,
    );
  });

  it('refuses to drop or overwrite the admin login', async () => {
    const inAdmin = engineFor(undefined);
    try {
      await expect(inAdmin.dropLogin(services.mongo.user)).rejects.toBeInstanceOf(ConfigError);
      const t = await ns.createUser('app', generatePassword(), {}, 'admin');
      await expect(
        inAdmin.createLoginLike(t, services.mongo.user, generatePassword()),
      ).rejects.toBeInstanceOf(ConfigError);
    } finally {
      await inAdmin.close();
    }
  });

  it('works with logins in the admin database (default auth database)', async () => {
    const inAdmin = engineFor(undefined);
    try {
      const pw = generatePassword();
      const template = await ns.createUser('app', generatePassword(), {}, 'admin');
      const clone = `${ns.prefix}app_b`;
      await inAdmin.createLoginLike(template, clone, pw);
      expect(await tryLogin(clone, pw, 'admin')).toBe('ok');
      expect(await tryLogin(clone, pw, ns.database)).toBe('AuthenticationFailed');
      await inAdmin.verifyLogin(
        { username: clone, password: pw },
        { checks: [`{"$db": "${ns.database}", "find": "orders"}`] },
      );
      await inAdmin.dropLogin(clone);
      expect(await tryLogin(clone, pw, 'admin')).toBe('AuthenticationFailed');
    } finally {
      await inAdmin.close();
    }
  });
});

describe('MongoDB engine on FerretDB: single and verification', () => {
  it('setPassword replaces the password in place, keeps the mechanisms; twice is a no-op', async () => {
    const { oldPw, newPw, user } = await appAndPasswords();
    await setPassword(engine, user, newPw);
    await setPassword(engine, user, newPw);
    expect(await tryLogin(user, oldPw)).toBe('AuthenticationFailed');
    expect(await tryLogin(user, newPw)).toBe('ok');
    expect((await ns.userInfo(user))?.mechanisms).toEqual(['SCRAM-SHA-256']);
    await expect(setPassword(engine, `${ns.prefix}nobody`, newPw)).rejects.toBeInstanceOf(ConfigError);
  });

  it('verifyLogin: wrong password, failing check, malformed check', async () => {
    const pw = generatePassword();
    const user = await ns.createUser('app', pw);
    const wrong = await engine
      .verifyLogin({ username: user, password: 'Wrong-password-123' })
      .catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(VerificationError);
    expect((wrong as Error).message).toMatch(/authentication failed/);
    expect((wrong as Error).message).not.toContain('Wrong-password-123');
    const failing = await engine
      .verifyLogin(
        { username: user, password: pw },
        {
          checks: [
            '{"ping": 1}',
            '{"aggregate": "orders", "pipeline": [{"$noSuchStage": {}}], "cursor": {}}',
          ],
        },
      )
      .catch((e: unknown) => e);
    expect(failing).toBeInstanceOf(VerificationError);
    expect((failing as Error).message).toMatch(/^check 2 \(\{"aggregate": "orders".*\) failed/);
    // only reading commands may run (issue 16)
    await expect(
      engine.verifyLogin({ username: user, password: pw }, { checks: ['{"drop": "orders"}'] }),
    ).rejects.toThrow(/verification check 1 command drop is not a read-only command/);
    await expect(
      engine.verifyLogin({ username: user, password: pw }, { checks: ['find orders'] }),
    ).rejects.toBeInstanceOf(ConfigError);
    await expect(
      engine.verifyLogin({ username: user, password: pw }, { checks: ['{}'] }),
    ).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('MongoDB engine on FerretDB: rotations in a row and names', () => {
  it('dual-user three times, alternating two login names', async () => {
    const names = [
      await ns.createUser('app', 'pw-v1-0123456789abcdef', { mechanisms: ['SCRAM-SHA-256'] }),
      `${ns.prefix}app_b`,
    ];
    let current = { username: names[0]!, password: 'pw-v1-0123456789abcdef' };
    for (let i = 0; i < 3; i++) {
      const next = { username: names[(i + 1) % 2]!, password: generatePassword() };
      await preflight(engine, current.username, 'dual-user');
      await engine.createLoginLike(current.username, next.username, next.password);
      await engine.verifyLogin(next, { checks: ['{"find": "orders", "limit": 1}'] });
      await engine.verifyLogin(current);
      expect((await engine.comparePrivileges(current.username, next.username)).missing).toEqual([]);
      await engine.dropLogin(current.username, next.username);
      expect(await tryLogin(current.username, current.password)).toBe('AuthenticationFailed');
      const c = await ns.connectAs(next.username, next.password);
      await readWrite(c, `round-${i}`);
      current = next;
    }
    expect((await ns.userInfo(current.username))?.mechanisms).toEqual(['SCRAM-SHA-256']);
  });

  it('single three times', async () => {
    const user = await ns.createUser('app', 'pw-v1-0123456789abcdef');
    let current = 'pw-v1-0123456789abcdef';
    for (let i = 0; i < 3; i++) {
      const next = generatePassword();
      await preflight(engine, user, 'single');
      await setPassword(engine, user, next);
      await engine.verifyLogin({ username: user, password: next });
      expect(await tryLogin(user, current)).toBe('AuthenticationFailed');
      current = next;
    }
  });

  it('hostile user names are data, not syntax; empty and NUL are refused', async () => {
    const template = await ns.createUser('app', generatePassword());
    for (const suffix of [`a b"'$.{}é@:/`, '{"$ne": 1}', 'x\\y;db.dropDatabase()']) {
      const name = ns.prefix + suffix;
      const pw = generatePassword();
      await engine.createLoginLike(template, name, pw);
      await engine.verifyLogin({ username: name, password: pw });
      expect(await tryLogin(name, pw)).toBe('ok');
      expect((await engine.comparePrivileges(template, name)).missing).toEqual([]);
      await setPassword(engine, name, pw);
      await engine.dropLogin(name);
      expect(await engine.loginExists(name)).toBe(false);
    }
    expect(await engine.loginExists(template)).toBe(true);
    for (const bad of ['', 'a\u0000b']) {
      await expect(engine.createLoginLike(template, bad, 'pw')).rejects.toBeInstanceOf(UnsafeIdentifierError);
      await expect(setPassword(engine, bad, 'pw')).rejects.toBeInstanceOf(UnsafeIdentifierError);
      await expect(engine.dropLogin(bad)).rejects.toBeInstanceOf(UnsafeIdentifierError);
      await expect(engine.verifyLogin({ username: bad, password: 'pw' })).rejects.toBeInstanceOf(
        UnsafeIdentifierError,
      );
    }
    for (const badDb of ['a.b', 'a$b', 'a b', 'a/b', '']) {
      const e = engineFor(badDb === '' ? '\u0000' : badDb);
      try {
        await expect(e.loginExists(template)).rejects.toBeInstanceOf(UnsafeIdentifierError);
      } finally {
        await e.close();
      }
    }
  });
});
