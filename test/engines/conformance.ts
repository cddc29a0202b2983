/**
 * The engine conformance suite: the contract of src/engines/types.ts, run by
 * every engine against its real server (test/engines/<engine>/conformance.int.test.ts).
 * Engine files keep only what is particular to their engine.
 *
 * Every case compares against something that really differs (a login with one
 * privilege more, a wrong password, a login that does not exist), so an engine
 * that answers "all equal" or "all fine" fails here.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isPermanent } from '../../src/engines/checks';
import type { Engine } from '../../src/engines/types';
import { generatePassword } from '../../src/engines/password';
import { UnsupportedStrategyError, VerificationError } from '../../src/errors';

/** One test's logins on the shared server, all named with one prefix and removed by cleanup(). */
export interface EngineNamespace {
  /** The engine under test, with the admin credential. */
  engine: Engine;
  /** A login name of this namespace (not created). */
  name(suffix: string): string;
  /** Creates a login with a few privileges (enough to log in and read); returns its name. */
  createTemplate(suffix: string, password: string): Promise<string>;
  /** Gives `login` one privilege (or attribute) more than createTemplate gave it. */
  widen(login: string, password: string): Promise<void>;
  /** Opens a session as login/password, kept open until cleanup(). */
  connectAs(login: string, password: string): Promise<void>;
  cleanup(): Promise<void>;
}

export interface EngineFixture {
  /** Waits for the server (once per file). */
  ready(): Promise<void>;
  fresh(): Promise<EngineNamespace>;
  /** The server keeps more than one password per login (dual-password). */
  dualPassword: boolean;
  /** The server lists another client's sessions (FerretDB 1.x does not). */
  sessionsVisible: boolean;
}

/** A test namespace of the helpers (mysql.ts, redis.ts, mongo.ts): one prefix, its sessions, clean-up. */
interface HelperNamespace {
  prefix: string;
  connectAs(login: string, password: string): Promise<unknown>;
  cleanup(): Promise<void>;
}

/**
 * `ready` and `fresh` of an engine whose namespace comes from the helpers: only the engine and the
 * two login shapes (createTemplate, widen) are the engine's own.
 */
export function onHelperNamespace<N extends HelperNamespace>(
  ready: () => Promise<void>,
  fresh: () => Promise<N>,
  parts: {
    engine(ns: N): Engine;
    createTemplate(ns: N, suffix: string, password: string): Promise<string>;
    widen(ns: N, login: string, password: string): Promise<void>;
  },
): Pick<EngineFixture, 'ready' | 'fresh'> {
  return {
    ready,
    async fresh() {
      const ns = await fresh();
      return {
        engine: parts.engine(ns),
        name: (suffix) => ns.prefix + suffix,
        createTemplate: (suffix, password) => parts.createTemplate(ns, suffix, password),
        widen: (login, password) => parts.widen(ns, login, password),
        async connectAs(login, password) {
          await ns.connectAs(login, password);
        },
        cleanup: () => ns.cleanup(),
      };
    },
  };
}

async function loginError(engine: Engine, username: string, password: string): Promise<unknown> {
  return engine.verifyLogin({ username, password }).then(
    () => undefined,
    (err: unknown) => err,
  );
}

async function expectLogin(engine: Engine, username: string, password: string, works: boolean) {
  const err = await loginError(engine, username, password);
  if (works) expect(err).toBeUndefined();
  else expect(err).toBeInstanceOf(VerificationError);
  if (err) expect((err as Error).message).not.toContain(password);
}

export function describeEngine(title: string, fixture: EngineFixture): void {
  describe(`${title}: engine conformance`, () => {
    let ns: EngineNamespace;
    let engine: Engine;
    beforeAll(() => fixture.ready(), 16 * 60_000);
    beforeEach(async () => {
      ns = await fixture.fresh();
      engine = ns.engine;
    });
    afterEach(async () => {
      await engine.close();
      await engine.close(); // twice is safe
      await ns.cleanup();
    });

    it('loginExists tells an existing login from a missing one', async () => {
      const template = await ns.createTemplate('app', generatePassword());
      expect(await engine.loginExists(template)).toBe(true);
      expect(await engine.loginExists(ns.name('nobody'))).toBe(false);
    });

    it('check: no blocker for an existing login, permanent blockers for a missing one', async () => {
      const template = await ns.createTemplate('app', generatePassword());
      expect(await engine.check(template, 'dual-user')).toEqual([]);
      expect(await engine.check(template, 'single')).toEqual([]);
      const missing = await engine.check(ns.name('nobody'), 'single');
      expect(missing.length).toBeGreaterThan(0);
      expect(missing.every(isPermanent)).toBe(true);
      const dual = await engine.check(template, 'dual-password');
      if (fixture.dualPassword) expect(dual).toEqual([]);
      else expect(dual[0]).toBeInstanceOf(UnsupportedStrategyError);
    });

    it('describe names the engine and its strategies', async () => {
      const info = await engine.describe();
      expect(info.engine).toBe(engine.kind);
      expect(info.strategies['dual-user'].supported).toBe(true);
      expect(info.strategies['dual-password'].supported).toBe(fixture.dualPassword);
    });

    it('createLoginLike: the new login logs in and has every privilege of the template; a repeat converges', async () => {
      const oldPw = generatePassword();
      const template = await ns.createTemplate('app', oldPw);
      const clone = ns.name('app_b');
      const first = generatePassword();
      await engine.createLoginLike(template, clone, first);
      expect(await engine.loginExists(clone)).toBe(true);
      await expectLogin(engine, clone, first, true);
      await expectLogin(engine, template, oldPw, true);
      expect((await engine.comparePrivileges(template, clone)).missing).toEqual([]);

      // Retry with another password: the password is reset, privileges stay in sync.
      const second = generatePassword();
      await engine.createLoginLike(template, clone, second);
      await expectLogin(engine, clone, second, true);
      await expectLogin(engine, clone, first, false);
      expect((await engine.comparePrivileges(template, clone)).missing).toEqual([]);
    });

    it('comparePrivileges reports what the other login lacks, and createLoginLike re-syncs it', async () => {
      const pw = generatePassword();
      const template = await ns.createTemplate('app', pw);
      const clone = ns.name('app_b');
      await engine.createLoginLike(template, clone, generatePassword());
      await ns.widen(template, pw);
      const diff = await engine.comparePrivileges(template, clone);
      expect(diff.missing.length).toBeGreaterThan(0);
      await engine.createLoginLike(template, clone, generatePassword());
      expect((await engine.comparePrivileges(template, clone)).missing).toEqual([]);
    });

    it('dropLogin removes the login; a repeat and a missing login are no errors', async () => {
      const template = await ns.createTemplate('app', generatePassword());
      const clone = ns.name('app_b');
      const pw = generatePassword();
      await engine.createLoginLike(template, clone, pw);
      await engine.dropLogin(clone);
      expect(await engine.loginExists(clone)).toBe(false);
      await expectLogin(engine, clone, pw, false);
      await engine.dropLogin(clone);
      await engine.dropLogin(ns.name('nobody'));
      expect(await engine.loginExists(template)).toBe(true);
    });

    it('listSessions lists the open sessions of a login and no other', async () => {
      const pw = generatePassword();
      const template = await ns.createTemplate('app', pw);
      const other = await ns.createTemplate('other', generatePassword());
      expect(await engine.listSessions(template)).toEqual([]);
      await ns.connectAs(template, pw);
      const sessions = await engine.listSessions(template);
      if (fixture.sessionsVisible) {
        expect(sessions.length).toBeGreaterThan(0);
        expect(sessions.every((s) => s.username === template && s.id !== '')).toBe(true);
      } else {
        expect(sessions).toEqual([]);
      }
      expect(await engine.listSessions(other)).toEqual([]);
    });

    it('changePassword replace: only the new password works; a repeat converges', async () => {
      const oldPw = generatePassword();
      const login = await ns.createTemplate('app', oldPw);
      const newPw = generatePassword();
      await engine.changePassword(login, { mode: 'replace', password: newPw });
      await engine.changePassword(login, { mode: 'replace', password: newPw });
      await expectLogin(engine, login, newPw, true);
      await expectLogin(engine, login, oldPw, false);
      await expect(
        engine.changePassword(ns.name('nobody'), { mode: 'replace', password: newPw }),
      ).rejects.toBeInstanceOf(Error);
    });

    if (fixture.dualPassword) {
      it('changePassword add then keep-only: both work during grace, then only the kept one', async () => {
        const oldPw = generatePassword();
        const login = await ns.createTemplate('app', oldPw);
        const newPw = generatePassword();
        await engine.changePassword(login, { mode: 'add', password: newPw, current: oldPw });
        await engine.changePassword(login, { mode: 'add', password: newPw, current: oldPw });
        await expectLogin(engine, login, newPw, true);
        await expectLogin(engine, login, oldPw, true);
        await engine.changePassword(login, { mode: 'keep-only', password: newPw });
        await engine.changePassword(login, { mode: 'keep-only', password: newPw });
        await expectLogin(engine, login, newPw, true);
        await expectLogin(engine, login, oldPw, false);
      });

      it('changePassword keep-only with the current password undoes an add', async () => {
        const oldPw = generatePassword();
        const login = await ns.createTemplate('app', oldPw);
        const newPw = generatePassword();
        await engine.changePassword(login, { mode: 'add', password: newPw, current: oldPw });
        await engine.changePassword(login, { mode: 'keep-only', password: oldPw });
        await expectLogin(engine, login, oldPw, true);
        await expectLogin(engine, login, newPw, false);
      });
    } else {
      it('changePassword add and keep-only are refused: the server has one password per login', async () => {
        const oldPw = generatePassword();
        const login = await ns.createTemplate('app', oldPw);
        const newPw = generatePassword();
        await expect(
          engine.changePassword(login, { mode: 'add', password: newPw, current: oldPw }),
        ).rejects.toBeInstanceOf(UnsupportedStrategyError);
        await expect(
          engine.changePassword(login, { mode: 'keep-only', password: newPw }),
        ).rejects.toBeInstanceOf(UnsupportedStrategyError);
        await expectLogin(engine, login, oldPw, true);
      });
    }
  });
}
