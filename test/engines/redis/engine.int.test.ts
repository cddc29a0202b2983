import { Redis } from 'ioredis';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { generatePassword } from '../../../src/engines/password';
import { createRedisEngine, type RedisEngine } from '../../../src/engines/redis';
import { sha256Hex } from '../../../src/engines/redis/acl';
import type { EngineConnection } from '../../../src/engines/types';
import {
  AdminPrivilegeError,
  ConfigError,
  UnsafeIdentifierError,
  VerificationError,
} from '../../../src/errors';
import {
  aclRulesWithoutPasswords,
  freshRedis,
  redisConnect,
  waitForRedis,
  type RedisNamespace,
} from '../../helpers/redis';
import { services } from '../../helpers/services';
import { adminConnection } from '../../helpers/engines';
import {
  addPassword,
  expectWrongAdminPasswordRefused,
  keepOnlyPassword,
  preflight,
  setPassword,
} from '../../helpers/engine-calls';

function engineWith(
  admin = { username: services.redis.user, password: services.redis.password },
  extra: Partial<EngineConnection> = {},
): RedisEngine {
  // persist: 'none' — the shared server has a redis.conf; tests must not CONFIG REWRITE it.
  return createRedisEngine(adminConnection('redis', { admin, options: { persist: 'none' }, ...extra }));
}

/** 'ok' or the error message of logging in as user/password. */
async function tryLogin(user: string, password: string): Promise<string> {
  try {
    const c = await redisConnect(user, password);
    c.disconnect();
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  }
}

/** 'ok' or the error's first word (NOPERM, ERR...) of running one command. */
async function run(c: Redis, ...args: string[]): Promise<string> {
  try {
    await c.call(args[0]!, ...args.slice(1));
    return 'ok';
  } catch (err) {
    return (err as Error).message.split(' ')[0]!;
  }
}

async function passwordHashes(admin: Redis, user: string): Promise<string[]> {
  const reply = (await admin.call('ACL', 'GETUSER', user)) as unknown[];
  const i = reply.indexOf('passwords');
  return [...(reply[i + 1] as string[])].sort();
}

let ns: RedisNamespace;
let engine: RedisEngine;

beforeAll(async () => {
  await waitForRedis();
}, 16 * 60_000);

beforeEach(async () => {
  ns = await freshRedis();
  engine = engineWith();
});

afterEach(async () => {
  await engine.close();
  await ns.cleanup();
});

/** The template of the brief: keys app:*, channels chan:*, @read + SET, no FLUSHALL, and a selector for other:*. */
async function createTemplate(password: string): Promise<string> {
  const p = ns.prefix;
  return ns.createUser(
    'app',
    'on',
    `>${password}`,
    `~${p}app:*`,
    `&${p}chan:*`,
    '+@read',
    '+set',
    '-flushall',
    `(~${p}other:* +get)`,
  );
}

/** The template with an old password, the rules it has apart from passwords, and a new password for it. */
async function templateAndPasswords() {
  const oldPw = generatePassword();
  const user = await createTemplate(oldPw);
  return { oldPw, newPw: generatePassword(), user, before: await aclRulesWithoutPasswords(ns.admin, user) };
}

describe('Redis engine: describe and preflight', () => {
  it('reports Redis 7 with all three strategies', async () => {
    const info = await engine.describe();
    expect(info.engine).toBe('redis');
    expect(info.variant).toBe('redis');
    expect(info.version).toMatch(/^7\./);
    expect(info.strategies['dual-password'].supported).toBe(true);
    expect(info.strategies['dual-user'].supported).toBe(true);
    expect(info.strategies.single.supported).toBe(true);
  });

  it('preflight: an admin that may not manage ACLs gets AdminPrivilegeError', async () => {
    const user = await ns.createUser('app', 'on', '>pw-0123456789abcdef', '~x');
    const pw = generatePassword();
    const noAcl = await ns.createUser('adm1', 'on', `>${pw}`, '~*', '&*', '+@all', '-acl');
    const e1 = engineWith({ username: noAcl, password: pw });
    try {
      await expect(preflight(e1, user, 'dual-password')).rejects.toBeInstanceOf(AdminPrivilegeError);
    } finally {
      await e1.close();
    }
    // May set passwords but not drop users or kill clients: fine for dual-password, not for dual-user.
    const partial = await ns.createUser(
      'adm2',
      'on',
      `>${pw}`,
      '~*',
      '&*',
      '+@all',
      '-acl|deluser',
      '-client|kill',
    );
    const e2 = engineWith({ username: partial, password: pw });
    try {
      await preflight(e2, user, 'dual-password');
      const err = await preflight(e2, user, 'dual-user').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AdminPrivilegeError);
      expect((err as Error).message).toMatch(/acl deluser.*client kill/);
    } finally {
      await e2.close();
    }
  });

  it('a wrong admin password is a ConfigError that does not echo the password', async () => {
    const wrong = 'not-the-admin-password';
    await expectWrongAdminPasswordRefused(
      engineWith({ username: services.redis.user, password: wrong }),
      wrong,
    );
  });
});

describe('Redis engine: dual-password', () => {
  it('addPassword keeps both, keepOnlyPassword keeps only the new one and every other rule', async () => {
    const { oldPw, newPw, user, before } = await templateAndPasswords();

    await addPassword(engine, user, newPw, oldPw);
    expect(await tryLogin(user, oldPw)).toBe('ok');
    expect(await tryLogin(user, newPw)).toBe('ok');
    expect(await tryLogin(user, 'wrong-password-123456')).toMatch(/^WRONGPASS/);
    expect(await passwordHashes(ns.admin, user)).toEqual([sha256Hex(oldPw), sha256Hex(newPw)].sort());

    // Twice: still exactly those two.
    await addPassword(engine, user, newPw, oldPw);
    expect(await passwordHashes(ns.admin, user)).toEqual([sha256Hex(oldPw), sha256Hex(newPw)].sort());
    await engine.verifyLogin({ username: user, password: newPw });
    await engine.verifyLogin({ username: user, password: oldPw });

    // A session established with the old password survives its removal (heartbeats decide the drain).
    const oldSession = await ns.connectAs(user, oldPw);
    await keepOnlyPassword(engine, user, newPw);
    await keepOnlyPassword(engine, user, newPw); // idempotent
    expect(await tryLogin(user, oldPw)).toMatch(/^WRONGPASS/);
    expect(await tryLogin(user, newPw)).toBe('ok');
    expect(await passwordHashes(ns.admin, user)).toEqual([sha256Hex(newPw)]);
    expect(await run(oldSession, 'GET', `${ns.prefix}app:x`)).toBe('ok');
    expect(await aclRulesWithoutPasswords(ns.admin, user)).toEqual(before);

    const err = await engine.verifyLogin({ username: user, password: oldPw }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as Error).message).not.toContain(oldPw);
  });

  it('addPassword drops a stale third password left by an unfinished rotation', async () => {
    const [a, b, stale] = [generatePassword(), generatePassword(), generatePassword()];
    const user = await ns.createUser('app', 'on', `>${a}`, `>${stale}`, '~x');
    await addPassword(engine, user, b, a);
    expect(await passwordHashes(ns.admin, user)).toEqual([sha256Hex(a), sha256Hex(b)].sort());
    expect(await tryLogin(user, stale)).toMatch(/^WRONGPASS/);
  });

  it('the plaintext password never goes over the wire (only its sha256)', async () => {
    // MONITOR does not show ACL commands, so record what the engine hands to the driver.
    const oldPw = generatePassword();
    const newPw = generatePassword();
    const user = await ns.createUser('app', 'on', `>${oldPw}`, '~x');
    const sent: string[] = [];
    const original = Redis.prototype.call;
    const spy = vi.spyOn(Redis.prototype, 'call').mockImplementation(function (
      this: Redis,
      ...args: unknown[]
    ) {
      sent.push(args.map(String).join(' '));
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as never);
    try {
      await addPassword(engine, user, newPw, oldPw);
      await keepOnlyPassword(engine, user, newPw);
      await setPassword(engine, user, oldPw);
      await engine.createLoginLike(user, `${ns.prefix}copy`, newPw);
    } finally {
      spy.mockRestore();
    }
    const setuser = sent.filter((l) => l.startsWith('ACL SETUSER'));
    expect(setuser).toHaveLength(4);
    expect(setuser[0]).toContain(`#${sha256Hex(newPw)}`);
    for (const line of sent) {
      expect(line).not.toContain(newPw);
      expect(line).not.toContain(oldPw);
    }
    expect(await tryLogin(user, oldPw)).toBe('ok');
  });
});

describe('Redis engine: dual-user', () => {
  it('clones keys, channels, commands and selectors; the copy can do exactly what the template can', async () => {
    const p = ns.prefix;
    const tplPw = generatePassword();
    const newPw = generatePassword();
    const template = await createTemplate(tplPw);
    const tplRules = await aclRulesWithoutPasswords(ns.admin, template);
    const clone = `${p}app_b`;

    await engine.createLoginLike(template, clone, newPw);
    expect(await aclRulesWithoutPasswords(ns.admin, clone)).toEqual(tplRules);
    expect(await aclRulesWithoutPasswords(ns.admin, template)).toEqual(tplRules); // template untouched
    const diff = await engine.comparePrivileges(template, clone);
    expect(diff).toEqual({ missing: [], extra: [] });

    await engine.verifyLogin(
      { username: clone, password: newPw },
      { checks: [`GET ${p}app:x`, `EXISTS ${p}app:x`] },
    );
    await engine.verifyLogin({ username: template, password: tplPw });
    const c = await ns.connectAs(clone, newPw);
    expect(await run(c, 'SET', `${p}app:x`, 'v')).toBe('ok');
    expect(await c.call('GET', `${p}app:x`)).toBe('v');
    expect(await run(c, 'GET', `${p}other:1`)).toBe('ok'); // selector
    expect(await run(c, 'SET', `${p}other:1`, 'v')).toBe('NOPERM'); // selector allows GET only
    expect(await run(c, 'GET', `${p}elsewhere`)).toBe('NOPERM');
    expect(await run(c, 'FLUSHALL')).toBe('NOPERM');
    expect(await run(c, 'DEL', `${p}app:x`)).toBe('NOPERM');

    const failed = await engine
      .verifyLogin({ username: clone, password: newPw }, { checks: [`GET ${p}elsewhere`] })
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(VerificationError);
    expect((failed as Error).message).toMatch(/check 1 \(GET .*elsewhere\).*NOPERM/);
    // a check never writes: refused before it is sent (issue 16)
    await expect(
      engine.verifyLogin({ username: clone, password: newPw }, { checks: ['FLUSHALL'] }),
    ).rejects.toThrow(/verification check 1 command FLUSHALL is not a read-only command/);
  });

  it('is idempotent: a second run with another password converges (one password, same rules)', async () => {
    const template = await createTemplate(generatePassword());
    const clone = `${ns.prefix}app_b`;
    const first = generatePassword();
    const second = generatePassword();
    await engine.createLoginLike(template, clone, first);
    // Drift the clone as a partial earlier attempt might have left it.
    await ns.admin.call('ACL', 'SETUSER', clone, '+flushall', '~extra:*', '(~drift:* +set)', 'nopass');
    const drifted = await engine.comparePrivileges(template, clone);
    expect(drifted.missing).toEqual([]);
    expect(drifted.extra.some((x) => x.includes('~extra:*'))).toBe(true);
    expect(drifted.extra.some((x) => /may run "flushall"/.test(x))).toBe(true);

    await engine.createLoginLike(template, clone, second);
    expect(await engine.comparePrivileges(template, clone)).toEqual({ missing: [], extra: [] });
    expect(await passwordHashes(ns.admin, clone)).toEqual([sha256Hex(second)]);
    expect(await tryLogin(clone, first)).toMatch(/^WRONGPASS/);
  });

  it('comparePrivileges names what the other login lacks, statically and by ACL DRYRUN', async () => {
    const p = ns.prefix;
    const template = await createTemplate(generatePassword());
    const weaker = await ns.createUser(
      'weak',
      'on',
      '>pw-0123456789abcdef',
      `~${p}app:*`,
      `&${p}chan:*`,
      '+@read',
    );
    const diff = await engine.comparePrivileges(template, weaker);
    expect(diff.missing).toContain('command rule +set');
    expect(diff.missing.some((m) => m.startsWith('selector ('))).toBe(true);
    expect(diff.missing).toContain(`may run "set ${p}app:x 1" (ACL DRYRUN)`);
    expect(diff.missing).toContain(`may run "get ${p}other:x" (ACL DRYRUN)`);
    const absent = await engine.comparePrivileges(template, `${p}nobody`);
    expect(absent.missing).toEqual([`login "${p}nobody" does not exist`]);
  });

  it('clones %R~/%W~ key permissions, nopass is not copied, off stays off', async () => {
    const p = ns.prefix;
    const template = await ns.createUser(
      'ro',
      'on',
      'nopass',
      `%R~${p}ro:*`,
      `%W~${p}wo:*`,
      '+@all',
      'skip-sanitize-payload',
    );
    const clone = `${p}ro_b`;
    const pw = generatePassword();
    await engine.createLoginLike(template, clone, pw);
    expect(await engine.comparePrivileges(template, clone)).toEqual({ missing: [], extra: [] });
    expect(await tryLogin(clone, 'anything-goes-for-nopass')).toMatch(/^WRONGPASS/);
    const c = await ns.connectAs(clone, pw);
    expect(await run(c, 'GET', `${p}ro:1`)).toBe('ok');
    expect(await run(c, 'SET', `${p}ro:1`, 'x')).toBe('NOPERM');
    expect(await run(c, 'SET', `${p}wo:1`, 'x')).toBe('ok');

    const off = await ns.createUser('off', 'off', '>pw-0123456789abcdef', '~x', '+get');
    await engine.createLoginLike(off, `${p}off_b`, pw);
    expect(await tryLogin(`${p}off_b`, pw)).toMatch(/^WRONGPASS/);
  });

  it('dropLogin ends the sessions of the login and deletes it; a second drop is a no-op', async () => {
    const pw = generatePassword();
    const user = await createTemplate(pw);
    const session = await ns.connectAs(user, pw);
    const session2 = await ns.connectAs(user, pw);
    expect(await run(session, 'GET', `${ns.prefix}app:x`)).toBe('ok');
    const sessions = await engine.listSessions(user);
    expect(sessions).toHaveLength(2);
    expect(sessions[0]!.username).toBe(user);
    expect(sessions[0]!.clientAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    // The engine's own admin connection is not a session of the admin login.
    const adminPw = generatePassword();
    const ownAdmin = await ns.createUser('adm', 'on', `>${adminPw}`, '~*', '&*', '+@all');
    const e = engineWith({ username: ownAdmin, password: adminPw });
    try {
      expect(await e.listSessions(ownAdmin)).toEqual([]);
    } finally {
      await e.close();
    }

    await engine.dropLogin(user, `${ns.prefix}heir_is_ignored`);
    expect(await run(session, 'GET', `${ns.prefix}app:x`)).not.toBe('ok');
    expect(await run(session2, 'GET', `${ns.prefix}app:x`)).not.toBe('ok');
    expect(await engine.loginExists(user)).toBe(false);
    expect(await engine.listSessions(user)).toEqual([]);
    expect(await tryLogin(user, pw)).toMatch(/^WRONGPASS/);
    await engine.dropLogin(user);
    expect(await engine.endSessions(user)).toBe(0);
  });

  it('endSessions counts what it ended and leaves the login in place', async () => {
    const pw = generatePassword();
    const user = await createTemplate(pw);
    await ns.connectAs(user, pw);
    await ns.connectAs(user, pw);
    expect(await engine.endSessions(user)).toBe(2);
    expect(await engine.listSessions(user)).toEqual([]);
    expect(await engine.endSessions(user)).toBe(0);
    expect(await tryLogin(user, pw)).toBe('ok');
  });

  it('refuses to drop "default" or the admin, and to overwrite them', async () => {
    await expect(engine.dropLogin('default')).rejects.toBeInstanceOf(ConfigError);
    await expect(engine.dropLogin(services.redis.user)).rejects.toBeInstanceOf(ConfigError);
    const template = await createTemplate(generatePassword());
    await expect(engine.createLoginLike(template, 'default', generatePassword())).rejects.toBeInstanceOf(
      ConfigError,
    );
    await expect(
      engine.createLoginLike(template, services.redis.user, generatePassword()),
    ).rejects.toBeInstanceOf(ConfigError);
    await expect(
      engine.createLoginLike(`${ns.prefix}nobody`, `${ns.prefix}x`, generatePassword()),
    ).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('Redis engine: single', () => {
  it('setPassword replaces the password in place and keeps the rules; twice is a no-op', async () => {
    const { oldPw, newPw, user, before } = await templateAndPasswords();
    await setPassword(engine, user, newPw);
    await setPassword(engine, user, newPw);
    expect(await tryLogin(user, oldPw)).toMatch(/^WRONGPASS/);
    expect(await tryLogin(user, newPw)).toBe('ok');
    expect(await passwordHashes(ns.admin, user)).toEqual([sha256Hex(newPw)]);
    expect(await aclRulesWithoutPasswords(ns.admin, user)).toEqual(before);
    await expect(setPassword(engine, `${ns.prefix}nobody`, newPw)).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('Redis engine: rotations in a row (as the activities compose them)', () => {
  it('dual-password three times', async () => {
    const user = await createTemplate('pw-v1-0123456789abcdef');
    let current = 'pw-v1-0123456789abcdef';
    for (let i = 0; i < 3; i++) {
      const next = generatePassword();
      await preflight(engine, user, 'dual-password');
      await addPassword(engine, user, next, current); // apply
      await engine.verifyLogin({ username: user, password: next }); // verify
      await engine.verifyLogin({ username: user, password: current });
      await keepOnlyPassword(engine, user, next); // revoke
      expect(await tryLogin(user, current)).toMatch(/^WRONGPASS/);
      current = next;
      expect(await passwordHashes(ns.admin, user)).toEqual([sha256Hex(current)]);
    }
  });

  it('dual-user three times, alternating two login names', async () => {
    const names = [await createTemplate('pw-v1-0123456789abcdef'), `${ns.prefix}app_b`];
    const rules = await aclRulesWithoutPasswords(ns.admin, names[0]!);
    let current = { username: names[0]!, password: 'pw-v1-0123456789abcdef' };
    for (let i = 0; i < 3; i++) {
      const next = { username: names[(i + 1) % 2]!, password: generatePassword() };
      await preflight(engine, current.username, 'dual-user');
      await engine.createLoginLike(current.username, next.username, next.password);
      await engine.verifyLogin(next, { checks: [`GET ${ns.prefix}app:x`] });
      await engine.verifyLogin(current);
      expect((await engine.comparePrivileges(current.username, next.username)).missing).toEqual([]);
      await engine.dropLogin(current.username, next.username);
      expect(await engine.loginExists(current.username)).toBe(false);
      expect(await aclRulesWithoutPasswords(ns.admin, next.username)).toEqual(rules);
      current = next;
    }
  });
});

describe('Redis engine: names', () => {
  it('rejects names Redis cannot hold or could not reload after ACL SAVE / CONFIG REWRITE', async () => {
    const template = await createTemplate(generatePassword());
    for (const bad of ['', 'a b', 'a\tb', 'a\u0000b']) {
      await expect(engine.createLoginLike(template, bad, generatePassword())).rejects.toBeInstanceOf(
        UnsafeIdentifierError,
      );
      await expect(setPassword(engine, bad, generatePassword())).rejects.toBeInstanceOf(
        UnsafeIdentifierError,
      );
      await expect(engine.dropLogin(bad)).rejects.toBeInstanceOf(UnsafeIdentifierError);
      // An empty user name means "default" (AUTH <password>), as for Redis < 6.
      if (bad !== '') {
        await expect(engine.verifyLogin({ username: bad, password: 'x' })).rejects.toBeInstanceOf(
          UnsafeIdentifierError,
        );
      }
    }
    for (const bad of ['a"b', "a'b", 'a\\b', 'a\u0007b']) {
      await expect(
        engine.createLoginLike(template, ns.prefix + bad, generatePassword()),
      ).rejects.toBeInstanceOf(UnsafeIdentifierError);
    }
  });

  it('unusual but safe names work end to end (rule-like characters are just a name)', async () => {
    const template = await createTemplate(generatePassword());
    for (const suffix of ['ü(x)', '#>~&+@all', 'user=1;flushall', '(reset']) {
      const name = ns.prefix + suffix;
      const pw = generatePassword();
      await engine.createLoginLike(template, name, pw);
      await engine.verifyLogin({ username: name, password: pw }, { checks: [`GET ${ns.prefix}app:x`] });
      expect((await engine.comparePrivileges(template, name)).missing).toEqual([]);
      const c = await ns.connectAs(name, pw);
      expect(await run(c, 'FLUSHALL')).toBe('NOPERM');
      const sessions = await engine.listSessions(name);
      expect(sessions.map((s) => s.username)).toEqual([name]);
      await engine.dropLogin(name);
      expect(await engine.loginExists(name)).toBe(false);
    }
  });
});
