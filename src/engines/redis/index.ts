/**
 * Redis engine (ioredis). Redis 6+ has ACL users with several passwords each:
 * - dual-password: `ACL SETUSER u resetpass #<old> #<new>`, later
 *   `ACL SETUSER u resetpass #<new>`; both are single atomic commands, so the
 *   user never has zero or a wrong set of passwords in between.
 * - dual-user: the template's ACL rules (flags, key/channel patterns, command
 *   rules, Redis 7 selectors) read with ACL GETUSER and applied to the new
 *   user with `ACL SETUSER new reset <rules> #<hash>`.
 * - single: `ACL SETUSER u resetpass #<hash>`; Redis < 6 (no ACL):
 *   `CONFIG SET requirepass` for the only user, "default".
 *
 * Passwords go to the server as `#<sha256 hex>` (never the plaintext) except
 * CONFIG SET requirepass on Redis < 6, which has no hashed form.
 *
 * ACL state is node-local: it is neither replicated to replicas nor shared by
 * cluster nodes. describe() refuses such topologies unless the connection
 * options say `nodeLocalAcl: true` (the operator rotates every node / manages
 * replicas' ACLs separately). Changes are persisted per `options.persist`
 * (see resolvePersist): ACL SAVE when an aclfile is used, else best-effort
 * CONFIG REWRITE of redis.conf.
 *
 * TLS: EngineConnection.tls (../tls.ts, verified by default). Connection
 * options (EngineConnection.options): `persist` ('auto' | 'aclfile' | 'config' |
 * 'none'), `nodeLocalAcl` (boolean). `database` is the db index the
 * application uses (verifyLogin SELECTs it).
 */
import { AdminPrivilegeError, ConfigError, TransientError, UnsupportedServerError } from '../../errors';
import type { ResolvedStrategy } from '../../shared/types';
import { EngineAdapter } from '../adapter';
import { NOT_EXECUTED } from '../recording';
import type {
  Engine,
  PasswordChange,
  EngineConnection,
  PrivilegeDiff,
  Secret,
  ServerInfo,
  SessionInfo,
  VerifyOptions,
} from '../types';
import {
  checkNewRedisLogin,
  checkRedisLogin,
  cloneRules,
  compareAclUsers,
  hasAcl,
  hasDryrun,
  parseClientList,
  passwordHashRule,
  sha256Hex,
  toSession,
  type AclUser,
} from './acl';
import { buildProbes, dryrunVerdict, parseCommandTable, samplesOf, type CommandSpec } from './probes';
import { mapRedisError, RedisConnector } from './connection';
import { verifyRedisLogin } from './verify';

export { redactRedisCommand } from './connection';

export function createRedisEngine(conn: EngineConnection): RedisEngine {
  return new RedisEngine(conn);
}

/** The forms in which a password can appear in our commands: itself and its SHA-256 hex (ACL #hash rules). */
export function secretForms(password: string): string[] {
  return password ? [password, sha256Hex(password)] : [];
}
/** The Redis engine (contract in ../types.ts); the admin connection is ./connection.ts. */
export class RedisEngine extends EngineAdapter<RedisConnector> implements Engine {
  readonly kind = 'redis' as const;
  private commandTable?: CommandSpec[];

  constructor(private readonly conn: EngineConnection) {
    super(new RedisConnector(conn));
  }

  // ------------------------------------------------------------ capabilities

  async describe(): Promise<ServerInfo> {
    const s = await this.db.facts();
    const problem = this.db.topologyProblem(s);
    const no = (reason: string) => ({ supported: false, reason });
    let strategies: ServerInfo['strategies'];
    if (problem) {
      strategies = { 'dual-password': no(problem), 'dual-user': no(problem), single: no(problem) };
    } else if (!hasAcl(s)) {
      const reason = `Redis ${s.version} has no ACL (needs 6.0): one password (requirepass) for user "default"`;
      strategies = {
        'dual-password': no(reason),
        'dual-user': no(reason),
        single: {
          supported: true,
          reason: `CONFIG SET requirepass (Redis ${s.version}, user "default" only)`,
        },
      };
    } else {
      strategies = {
        'dual-password': {
          supported: true,
          reason: `Redis ${s.version} ACL: a user holds several passwords (ACL SETUSER #new, later resetpass #new)`,
        },
        'dual-user': {
          supported: true,
          reason: `ACL SETUSER clones the template's rules (flags, keys, channels, commands${s.major >= 7 ? ', selectors' : ''})`,
        },
        single: { supported: true, reason: 'ACL SETUSER resetpass replaces the password in place' },
      };
    }
    return { engine: 'redis', version: s.version, variant: s.variant, strategies };
  }

  /** The checks, in order; throws the first problem. */
  protected async findBlockers(login: string, strategy: ResolvedStrategy): Promise<void> {
    checkRedisLogin(login);
    const s = await this.db.facts();
    const problem = this.db.topologyProblem(s);
    if (problem) throw new UnsupportedServerError(problem);
    if (!hasAcl(s)) {
      if (strategy !== 'single') await this.db.requireAcl(strategy);
      if (login !== 'default') {
        throw new ConfigError(
          `Redis ${s.version} has no ACL users; only "default" (requirepass) exists, not "${login}"`,
        );
      }
      return;
    }
    // Needs +acl|getuser; a NOPERM becomes AdminPrivilegeError.
    await this.db.requireUser(login);
    if (!hasDryrun(s)) return; // Redis 6.x cannot tell what the admin may do without trying it.

    const needed: string[][] = [['ACL', 'SETUSER', 'x']];
    if (strategy === 'dual-user') {
      needed.push(['ACL', 'DELUSER', 'x'], ['CLIENT', 'KILL', 'USER', 'x'], ['CLIENT', 'LIST'], ['COMMAND']);
    }
    const persist = await this.db.persistMode();
    if (persist === 'aclfile') needed.push(['ACL', 'SAVE']);
    if (persist === 'config' && this.conn.options?.persist === 'config') needed.push(['CONFIG', 'REWRITE']);
    const denied: string[] = [];
    for (const args of needed) {
      const reply = await this.db.cmd(['ACL', 'DRYRUN', this.db.adminUser, ...args], 'run ACL DRYRUN');
      if (dryrunVerdict(reply) === 'denied') denied.push(args.slice(0, 2).join(' ').toLowerCase());
    }
    if (denied.length > 0) {
      throw new AdminPrivilegeError(
        `admin "${this.db.adminUser}" cannot rotate "${login}" with ${strategy}: may not run ${denied.join(', ')}`,
      );
    }
  }

  async loginExists(login: string): Promise<boolean> {
    checkRedisLogin(login);
    const s = await this.db.facts();
    if (!hasAcl(s)) return login === 'default';
    return (await this.db.getUser(login)) !== null;
  }

  // ------------------------------------------------------------ dual-user

  async createLoginLike(template: string, newLogin: string, password: string): Promise<void> {
    checkRedisLogin(template, 'template login name');
    checkNewRedisLogin(newLogin);
    if (template === newLogin) throw new ConfigError('the new login must differ from the template');
    if (newLogin === 'default' || newLogin === this.db.adminUser) {
      throw new ConfigError(`refusing to overwrite "${newLogin}" with a copy of "${template}"`);
    }
    await this.db.requireAcl('dual-user');
    const tpl = await this.db.requireUser(template, 'template login');
    // Everything is reset first: a retry converges to exactly the template's rules and one password.
    await this.db.mutate(
      ['ACL', 'SETUSER', newLogin, ...cloneRules(tpl), passwordHashRule(password)],
      `create ACL user "${newLogin}" like "${template}"`,
    );
    await this.db.persist();
  }

  async comparePrivileges(reference: string, other: string): Promise<PrivilegeDiff> {
    checkRedisLogin(reference);
    checkRedisLogin(other);
    const s = await this.db.requireAcl('dual-user');
    const ref = await this.db.requireUser(reference);
    const oth = await this.db.getUser(other);
    if (!oth && this.db.writer.plannedLogin(other)) {
      // A login a recorded ACL SETUSER would create stands as one with no rules.
      const none = { ...ref, flags: [], passwords: [], keys: [], channels: [], commands: [], selectors: [] };
      return compareAclUsers(ref, none);
    }
    if (!oth) return { missing: [`login "${other}" does not exist`], extra: [] };
    const rules = compareAclUsers(ref, oth);
    if (!hasDryrun(s)) return rules;
    const dry = await this.dryrunDiff(reference, other, [ref, oth]);
    return { missing: [...rules.missing, ...dry.missing], extra: [...rules.extra, ...dry.extra] };
  }

  /**
   * Runs every command and subcommand the server knows, with sample keys and
   * channels derived from both users' patterns (plus one outside them), through
   * ACL DRYRUN for both users, and reports the verdicts that differ. Nothing is
   * executed.
   */
  private async dryrunDiff(reference: string, other: string, users: AclUser[]): Promise<PrivilegeDiff> {
    this.commandTable ??= parseCommandTable(await this.db.cmd(['COMMAND'], 'read the command table'));
    const probes = buildProbes(this.commandTable, samplesOf(users, 'keys'), samplesOf(users, 'channels'));
    const client = await this.db.admin();
    const pipeline = client.pipeline();
    for (const p of probes) {
      pipeline.call('ACL', 'DRYRUN', reference, ...p);
      pipeline.call('ACL', 'DRYRUN', other, ...p);
    }
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      throw mapRedisError(err, 'run ACL DRYRUN', this.db.adminUser);
    }
    if (!results || results.length !== probes.length * 2)
      throw new TransientError('ACL DRYRUN pipeline returned no results');
    const missing: string[] = [];
    const extra: string[] = [];
    probes.forEach((p, i) => {
      const [refErr, refReply] = results[2 * i]!;
      const [othErr, othReply] = results[2 * i + 1]!;
      if (refErr && /^NOPERM/.test(refErr.message))
        throw mapRedisError(refErr, 'run ACL DRYRUN', this.db.adminUser);
      const a = dryrunVerdict(refErr ?? refReply);
      const b = dryrunVerdict(othErr ?? othReply);
      const line = p.join(' ');
      if (a === 'allowed' && b === 'denied') missing.push(`may run "${line}" (ACL DRYRUN)`);
      if (a === 'denied' && b === 'allowed') extra.push(`may run "${line}" (ACL DRYRUN)`);
    });
    return { missing, extra };
  }

  async dropLogin(login: string, _heir?: string): Promise<void> {
    checkRedisLogin(login);
    if (login === 'default') throw new ConfigError('the Redis user "default" cannot be dropped');
    if (login === this.db.adminUser) throw new ConfigError(`refusing to drop the admin login "${login}"`);
    await this.db.requireAcl('dual-user');
    if (!(await this.db.getUser(login))) return;
    // ACL DELUSER disconnects the user's clients too; killing first keeps the order explicit.
    await this.endSessions(login);
    await this.db.mutate(['ACL', 'DELUSER', login], `drop ACL user "${login}"`);
    await this.db.persist();
  }

  // ------------------------------------------------------------ passwords

  async changePassword(login: string, change: PasswordChange): Promise<void> {
    switch (change.mode) {
      case 'add':
        return this.addPassword(login, change.password, change.current);
      case 'keep-only':
        return this.keepOnlyPassword(login, change.password);
      case 'replace':
        return this.setPassword(login, change.password);
    }
  }

  private async addPassword(login: string, newPassword: string, currentPassword: string): Promise<void> {
    checkRedisLogin(login);
    await this.db.requireAcl('dual-password');
    await this.db.requireUser(login);
    // Exactly {current, new}, atomically: a retry or a leftover from an undone rotation converges.
    await this.db.mutate(
      [
        'ACL',
        'SETUSER',
        login,
        'resetpass',
        passwordHashRule(currentPassword),
        passwordHashRule(newPassword),
      ],
      `add a password to "${login}"`,
    );
    await this.db.persist();
  }

  private async keepOnlyPassword(login: string, keepPassword: string): Promise<void> {
    checkRedisLogin(login);
    await this.db.requireAcl('dual-password');
    await this.db.requireUser(login);
    // resetpass touches passwords (and nopass) only; keys, channels, commands and flags stay.
    await this.db.mutate(
      ['ACL', 'SETUSER', login, 'resetpass', passwordHashRule(keepPassword)],
      `keep one password of "${login}"`,
    );
    await this.db.persist();
  }

  private async setPassword(login: string, password: string): Promise<void> {
    checkRedisLogin(login);
    const s = await this.db.facts();
    if (!hasAcl(s)) {
      if (login !== 'default')
        throw new ConfigError(`Redis ${s.version} has no ACL users; cannot set a password of "${login}"`);
      // Redis < 6 has no hashed form: the password travels inside CONFIG SET (use TLS).
      await this.db.mutate(['CONFIG', 'SET', 'requirepass', password], 'set requirepass');
      await this.db.persist();
      return;
    }
    await this.db.requireUser(login);
    await this.db.mutate(
      ['ACL', 'SETUSER', login, 'resetpass', passwordHashRule(password)],
      `set the password of "${login}"`,
    );
    await this.db.persist();
  }
  async verifyLogin(secret: Secret, options: VerifyOptions = {}): Promise<void> {
    await verifyRedisLogin(this.db, secret, options);
  }

  // ------------------------------------------------------------ sessions

  async listSessions(login: string): Promise<SessionInfo[]> {
    checkRedisLogin(login);
    const s = await this.db.facts();
    const own = await this.db.ownClientId();
    const list = parseClientList(String(await this.db.cmd(['CLIENT', 'LIST'], 'list clients')));
    return list
      .filter((c) => c.id !== own && (hasAcl(s) ? c.user === login : login === 'default'))
      .map((c) => toSession(c, login));
  }

  /** Ends every session of `login`; returns how many it ended. Idempotent. (Tests; dropLogin ends them.) */
  async endSessions(login: string): Promise<number> {
    checkRedisLogin(login);
    const s = await this.db.facts();
    if (!hasAcl(s)) {
      if (login !== 'default') return 0;
      let n = 0;
      for (const type of ['normal', 'pubsub']) {
        const killed = await this.db.mutate(
          ['CLIENT', 'KILL', 'TYPE', type, 'SKIPME', 'yes'],
          'kill clients',
        );
        n += killed === NOT_EXECUTED ? 0 : Number(killed);
      }
      return n;
    }
    const killed = await this.db
      .mutate(['CLIENT', 'KILL', 'USER', login, 'SKIPME', 'yes'], `kill clients of "${login}"`)
      .catch((err: Error) => {
        if (/No such user/i.test(err.message)) return 0;
        throw err;
      });
    if (killed !== NOT_EXECUTED) return Number(killed);
    // Recorded, not done: say who would be ended.
    const open = (await this.listSessions(login)).length;
    if (open > 0)
      this.db.writer.note(`${open} client(s) of "${login}" are connected now; they would be ended`);
    return open;
  }
}
