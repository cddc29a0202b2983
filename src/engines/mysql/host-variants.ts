/**
 * MySQL/MariaDB host variants (issue 13, item 5): one application login that
 * exists as several accounts, e.g. 'app'@'10.%' and 'app'@'localhost'. With
 * `options.accountHosts` (["10.%", "localhost"]) the definition says they are
 * one logical login: every change is made to each variant (a MySQL engine
 * per host, as if `options.accountHost` named it), privilege parity is
 * checked per variant, and the login exists only when every variant does.
 * Without the option, a login with several hosts is still refused ("exists
 * for several hosts"), so nothing is rotated half.
 *
 * Sessions and verification are by user name: the processlist does not
 * say which variant a session authenticated as, and a verification login
 * matches whichever variant the server picks for the worker's address.
 */
import { ConfigError } from '../../errors';
import type { Engine, EngineConnection, PrivilegeDiff } from '../types';

/** The variants the definition lists, or undefined when it lists none. */
function accountHosts(conn: EngineConnection): string[] | undefined {
  const hosts = conn.options?.accountHosts;
  if (hosts === undefined) return undefined;
  if (!Array.isArray(hosts) || hosts.length === 0 || !hosts.every((h) => typeof h === 'string' && h !== '')) {
    throw new ConfigError(
      'option accountHosts must be a non-empty list of host names, e.g. ["10.%", "localhost"]',
    );
  }
  if (conn.options?.accountHost !== undefined) {
    throw new ConfigError('options accountHost and accountHosts exclude each other');
  }
  if (new Set(hosts).size !== hosts.length) throw new ConfigError('option accountHosts lists a host twice');
  return hosts as string[];
}

/** The MySQL engine for `conn`, or one that drives every host variant when the options list them. */
export function withHostVariants(conn: EngineConnection, create: (c: EngineConnection) => Engine): Engine {
  const hosts = accountHosts(conn);
  if (!hosts) return create(conn);
  const variants = hosts.map((host) => ({
    host,
    engine: create({ ...conn, options: { ...conn.options, accountHosts: undefined, accountHost: host } }),
  }));
  const first = variants[0]!.engine;
  async function each<T>(fn: (e: Engine) => Promise<T>): Promise<T[]> {
    const out: T[] = [];
    for (const v of variants) out.push(await fn(v.engine));
    return out;
  }
  const done = async (p: Promise<unknown>) => {
    await p;
  };
  return {
    kind: first.kind,
    describe: () => first.describe(),
    async check(login, strategy) {
      const all = (await each((e) => e.check(login, strategy))).flat();
      // The same blocker on every variant is one blocker.
      return all.filter((err, i) => all.findIndex((o) => o.message === err.message) === i);
    },
    loginExists: async (login) => (await each((e) => e.loginExists(login))).every(Boolean),
    createLoginLike: (template, login, password) =>
      done(each((e) => e.createLoginLike(template, login, password))),
    dropLogin: (login, heir) => done(each((e) => e.dropLogin(login, heir))),
    changePassword: (login, change) => done(each((e) => e.changePassword(login, change))),
    verifyLogin: (secret, options) => first.verifyLogin(secret, options),
    async comparePrivileges(reference, other): Promise<PrivilegeDiff> {
      const diffs = await each((e) => e.comparePrivileges(reference, other));
      const tag = (i: number, s: string) => `@'${variants[i]!.host}': ${s}`;
      return {
        missing: diffs.flatMap((d, i) => d.missing.map((s) => tag(i, s))),
        extra: diffs.flatMap((d, i) => d.extra.map((s) => tag(i, s))),
      };
    },
    listSessions: (login) => first.listSessions(login),
    endSessions: (login) => first.endSessions(login),
    close: () => done(each((e) => e.close())),
  };
}
