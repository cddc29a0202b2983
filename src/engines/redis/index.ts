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
 * TLS: EngineConnection.tls (./tls.ts, verified by default). Connection
 * options (EngineConnection.options): `persist` ('auto' | 'aclfile' | 'config' |
 * 'none'), `nodeLocalAcl` (boolean). `database` is the db index the
 * application uses (verifyLogin SELECTs it).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { assertVerifyCheck } from '../verify-checks';
import { connectionTls, nodeTlsOptions } from '../tls';
import { mentionsTransientNetworkCode } from '../transient';
import type { ConnectionOptions } from 'node:tls';
import {
  AdminPrivilegeError,
  ConfigError,
  RotatorError,
  TransientError,
  UnsupportedServerError,
  UnsupportedStrategyError,
  VerificationError,
} from '../../errors';
import type { ResolvedStrategy } from '../../shared/types';
import { collectBlockers } from '../checks';
import { REDACTED } from '../redaction';
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
  buildProbes,
  checkNewRedisLogin,
  checkRedisLogin,
  cloneRules,
  compareAclUsers,
  dryrunVerdict,
  hasAcl,
  hasDryrun,
  parseAclGetUser,
  parseClientList,
  parseCommandTable,
  parseInfo,
  parsePersistOption,
  passwordHashRule,
  sha256Hex,
  resolvePersist,
  samplesOf,
  splitCommandLine,
  toSession,
  type AclUser,
  type CommandSpec,
  type PersistMode,
  type RedisServerFacts,
} from './acl';

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const AUTH_FAILURE = /WRONGPASS|invalid password|invalid username-password|NOAUTH/i;

export function createRedisEngine(conn: EngineConnection): RedisEngine {
  return new RedisEngine(conn);
}

/** The forms in which a password can appear in our commands: itself and its SHA-256 hex (ACL #hash rules). */
export function secretForms(password: string): string[] {
  return password ? [password, sha256Hex(password)] : [];
}

interface RedisErrorLike {
  name?: string;
  message?: string;
  code?: string;
}

/**
 * A driver error as one of ours. ioredis attaches the command's arguments to
 * reply errors (`err.command.args`), which may hold a hash or, for CONFIG SET
 * requirepass, a password: only the message is kept, never the object.
 */
function mapRedisError(err: unknown, context: string, adminUser: string): Error {
  if (err instanceof RotatorError) return err;
  const e = (err ?? {}) as RedisErrorLike;
  const message = e.message ?? String(err);
  const text = `${context}: ${message}`;
  if (/^NOPERM/.test(message))
    return new AdminPrivilegeError(`admin "${adminUser}" may not ${context}: ${message}`);
  if (/^(LOADING|BUSY|TRYAGAIN|MASTERDOWN)/.test(message)) return new TransientError(text);
  if (
    mentionsTransientNetworkCode(message) ||
    /Connection is closed|timed? ?out|Stream isn't writeable/i.test(message)
  ) {
    return new TransientError(text);
  }
  return new Error(text);
}

function dbIndex(database: string | undefined): number {
  if (database === undefined || database === '') return 0;
  if (!/^\d{1,5}$/.test(database))
    throw new ConfigError(`Redis database must be a db index, got "${database}"`);
  return Number(database);
}

export class RedisEngine implements Engine {
  readonly kind = 'redis' as const;
  private clientPromise?: Promise<Redis>;
  private client?: Redis;
  private closed = false;
  private factsCache?: RedisServerFacts;
  private persistCache?: PersistMode;
  private commandTable?: CommandSpec[];
  private ownId?: string;
  private readonly db: number;
  private readonly tls?: ConnectionOptions;

  constructor(private readonly conn: EngineConnection) {
    this.db = dbIndex(conn.database);
    this.tls = nodeTlsOptions(connectionTls(conn));
  }

  /** The admin's ACL user name ("default" when it logs in with a password only). */
  private get adminUser(): string {
    return this.conn.admin.username || 'default';
  }

  private baseOptions(): RedisOptions {
    return {
      host: this.conn.host,
      port: this.conn.port,
      tls: this.tls,
      lazyConnect: true,
      enableReadyCheck: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      autoResubscribe: false,
      connectTimeout: this.conn.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    };
  }

  /**
   * Opens a connection and authenticates with an explicit AUTH, so the result
   * is the server's answer: with the ready check off (it would need INFO,
   * which application users often may not run), ioredis resolves connect()
   * before its own AUTH is answered. Errors are returned, never thrown, and
   * are ours to turn into messages: ioredis attaches the command's arguments
   * (the password, here) to reply errors.
   */
  private async open(
    username: string | undefined,
    password: string,
  ): Promise<{ client: Redis; error?: Error }> {
    const client = new Redis(this.baseOptions());
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      client.disconnect();
      return { client, error: new Error((err as Error).message ?? String(err)) };
    }
    try {
      await client.call('AUTH', ...(username === undefined ? [password] : [username, password]));
      return { client };
    } catch (err) {
      client.disconnect();
      return { client, error: new Error((err as Error).message ?? String(err)) };
    }
  }

  private admin(): Promise<Redis> {
    if (this.closed) return Promise.reject(new Error('Redis engine is closed'));
    this.clientPromise ??= (async () => {
      const { username, password } = this.conn.admin;
      // "default" logs in with AUTH <password>, which also works on Redis < 6.
      const { client, error } = await this.open(
        username && username !== 'default' ? username : undefined,
        password,
      );
      if (error) {
        this.clientPromise = undefined;
        if (AUTH_FAILURE.test(error.message)) {
          throw new ConfigError(
            `Redis rejected the admin login "${this.adminUser}" (wrong password or user disabled)`,
          );
        }
        throw new TransientError(
          `cannot connect to Redis at ${this.conn.host}:${this.conn.port}: ${error.message}`,
        );
      }
      if (this.closed) {
        client.disconnect();
        throw new Error('Redis engine is closed');
      }
      this.client = client;
      return client;
    })();
    return this.clientPromise;
  }

  private async cmd(args: (string | number)[], context: string): Promise<unknown> {
    const client = await this.admin();
    try {
      return await client.call(String(args[0]), ...args.slice(1));
    } catch (err) {
      throw mapRedisError(err, context, this.adminUser);
    }
  }

  /**
   * The one way commands that change the server are sent; in dry-run mode
   * they are recorded instead (password rules redacted) and answer "OK".
   */
  private async mutate(args: (string | number)[], context: string): Promise<unknown> {
    const recorder = this.conn.dryRun;
    if (!recorder) return this.cmd(args, context);
    recorder.record(redactRedisCommand(args));
    return 'OK';
  }

  private async facts(): Promise<RedisServerFacts> {
    if (!this.factsCache) {
      const server = String(await this.cmd(['INFO', 'server'], 'read INFO server'));
      const replication = String(await this.cmd(['INFO', 'replication'], 'read INFO replication'));
      this.factsCache = parseInfo(`${server}\n${replication}`);
    }
    return this.factsCache;
  }

  /** Why ACL changes made on this node would not reach every node clients use; null if they do. */
  private topologyProblem(s: RedisServerFacts): string | null {
    if (this.conn.options?.nodeLocalAcl === true) return null;
    const hint = 'rotate every node yourself and set options.nodeLocalAcl = true to acknowledge';
    if (s.mode === 'cluster') return `Redis Cluster: ACL changes apply to this node only (${hint})`;
    if (s.role === 'slave') return `this node is a replica: ACL changes apply to it only (${hint})`;
    if (s.connectedReplicas > 0) {
      return `${s.connectedReplicas} replica(s) attached: ACL changes are not replicated (${hint})`;
    }
    return null;
  }

  private async requireAcl(strategy: ResolvedStrategy): Promise<RedisServerFacts> {
    const s = await this.facts();
    if (!hasAcl(s)) {
      throw new UnsupportedStrategyError(
        `${strategy} needs ACL users (Redis 6.0+); Redis ${s.version} has only requirepass`,
      );
    }
    return s;
  }

  private async getUser(login: string): Promise<AclUser | null> {
    return parseAclGetUser(await this.cmd(['ACL', 'GETUSER', login], `read ACL user "${login}"`));
  }

  private async requireUser(login: string, what = 'login'): Promise<AclUser> {
    const u = await this.getUser(login);
    if (!u) throw new ConfigError(`${what} "${login}" does not exist on Redis`);
    return u;
  }

  // ------------------------------------------------------------ capabilities

  async describe(): Promise<ServerInfo> {
    const s = await this.facts();
    const problem = this.topologyProblem(s);
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

  async check(login: string, strategy: ResolvedStrategy): Promise<RotatorError[]> {
    return collectBlockers(() => this.preflight(login, strategy));
  }

  /** The checks, in order; throws the first problem. */
  private async preflight(login: string, strategy: ResolvedStrategy): Promise<void> {
    checkRedisLogin(login);
    const s = await this.facts();
    const problem = this.topologyProblem(s);
    if (problem) throw new UnsupportedServerError(problem);
    if (!hasAcl(s)) {
      if (strategy !== 'single') await this.requireAcl(strategy);
      if (login !== 'default') {
        throw new ConfigError(
          `Redis ${s.version} has no ACL users; only "default" (requirepass) exists, not "${login}"`,
        );
      }
      return;
    }
    // Needs +acl|getuser; a NOPERM becomes AdminPrivilegeError.
    await this.requireUser(login);
    if (!hasDryrun(s)) return; // Redis 6.x cannot tell what the admin may do without trying it.

    const needed: string[][] = [['ACL', 'SETUSER', 'x']];
    if (strategy === 'dual-user') {
      needed.push(['ACL', 'DELUSER', 'x'], ['CLIENT', 'KILL', 'USER', 'x'], ['CLIENT', 'LIST'], ['COMMAND']);
    }
    const persist = await this.persistMode();
    if (persist === 'aclfile') needed.push(['ACL', 'SAVE']);
    if (persist === 'config' && this.conn.options?.persist === 'config') needed.push(['CONFIG', 'REWRITE']);
    const denied: string[] = [];
    for (const args of needed) {
      const reply = await this.cmd(['ACL', 'DRYRUN', this.adminUser, ...args], 'run ACL DRYRUN');
      if (dryrunVerdict(reply) === 'denied') denied.push(args.slice(0, 2).join(' ').toLowerCase());
    }
    if (denied.length > 0) {
      throw new AdminPrivilegeError(
        `admin "${this.adminUser}" cannot rotate "${login}" with ${strategy}: may not run ${denied.join(', ')}`,
      );
    }
  }

  async loginExists(login: string): Promise<boolean> {
    checkRedisLogin(login);
    const s = await this.facts();
    if (!hasAcl(s)) return login === 'default';
    return (await this.getUser(login)) !== null;
  }

  // ------------------------------------------------------------ dual-user

  async createLoginLike(template: string, newLogin: string, password: string): Promise<void> {
    checkRedisLogin(template, 'template login name');
    checkNewRedisLogin(newLogin);
    if (template === newLogin) throw new ConfigError('the new login must differ from the template');
    if (newLogin === 'default' || newLogin === this.adminUser) {
      throw new ConfigError(`refusing to overwrite "${newLogin}" with a copy of "${template}"`);
    }
    await this.requireAcl('dual-user');
    const tpl = await this.requireUser(template, 'template login');
    // Everything is reset first: a retry converges to exactly the template's rules and one password.
    await this.mutate(
      ['ACL', 'SETUSER', newLogin, ...cloneRules(tpl), passwordHashRule(password)],
      `create ACL user "${newLogin}" like "${template}"`,
    );
    await this.persist();
  }

  async comparePrivileges(reference: string, other: string): Promise<PrivilegeDiff> {
    checkRedisLogin(reference);
    checkRedisLogin(other);
    const s = await this.requireAcl('dual-user');
    const ref = await this.requireUser(reference);
    const oth = await this.getUser(other);
    if (!oth && this.conn.dryRun) {
      // Dry run: a login the recorded ACL SETUSER would create stands as one with no rules.
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
    this.commandTable ??= parseCommandTable(await this.cmd(['COMMAND'], 'read the command table'));
    const probes = buildProbes(this.commandTable, samplesOf(users, 'keys'), samplesOf(users, 'channels'));
    const client = await this.admin();
    const pipeline = client.pipeline();
    for (const p of probes) {
      pipeline.call('ACL', 'DRYRUN', reference, ...p);
      pipeline.call('ACL', 'DRYRUN', other, ...p);
    }
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      throw mapRedisError(err, 'run ACL DRYRUN', this.adminUser);
    }
    if (!results || results.length !== probes.length * 2)
      throw new TransientError('ACL DRYRUN pipeline returned no results');
    const missing: string[] = [];
    const extra: string[] = [];
    probes.forEach((p, i) => {
      const [refErr, refReply] = results[2 * i]!;
      const [othErr, othReply] = results[2 * i + 1]!;
      if (refErr && /^NOPERM/.test(refErr.message))
        throw mapRedisError(refErr, 'run ACL DRYRUN', this.adminUser);
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
    if (login === this.adminUser) throw new ConfigError(`refusing to drop the admin login "${login}"`);
    await this.requireAcl('dual-user');
    if (!(await this.getUser(login))) return;
    // ACL DELUSER disconnects the user's clients too; killing first keeps the order explicit.
    await this.endSessions(login);
    await this.mutate(['ACL', 'DELUSER', login], `drop ACL user "${login}"`);
    await this.persist();
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
    await this.requireAcl('dual-password');
    await this.requireUser(login);
    // Exactly {current, new}, atomically: a retry or a leftover from an undone rotation converges.
    await this.mutate(
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
    await this.persist();
  }

  private async keepOnlyPassword(login: string, keepPassword: string): Promise<void> {
    checkRedisLogin(login);
    await this.requireAcl('dual-password');
    await this.requireUser(login);
    // resetpass touches passwords (and nopass) only; keys, channels, commands and flags stay.
    await this.mutate(
      ['ACL', 'SETUSER', login, 'resetpass', passwordHashRule(keepPassword)],
      `keep one password of "${login}"`,
    );
    await this.persist();
  }

  private async setPassword(login: string, password: string): Promise<void> {
    checkRedisLogin(login);
    const s = await this.facts();
    if (!hasAcl(s)) {
      if (login !== 'default')
        throw new ConfigError(`Redis ${s.version} has no ACL users; cannot set a password of "${login}"`);
      // Redis < 6 has no hashed form: the password travels inside CONFIG SET (use TLS).
      await this.mutate(['CONFIG', 'SET', 'requirepass', password], 'set requirepass');
      await this.persist();
      return;
    }
    await this.requireUser(login);
    await this.mutate(
      ['ACL', 'SETUSER', login, 'resetpass', passwordHashRule(password)],
      `set the password of "${login}"`,
    );
    await this.persist();
  }

  // ------------------------------------------------------------ verification

  async verifyLogin(secret: Secret, options: VerifyOptions = {}): Promise<void> {
    const user = secret.username || 'default';
    checkRedisLogin(user);
    const s = await this.facts();
    const username = hasAcl(s) && user !== 'default' ? user : undefined;
    const { client, error } = await this.open(username, secret.password);
    try {
      if (error) {
        if (AUTH_FAILURE.test(error.message)) {
          throw new VerificationError(
            `login failed for ${user}: Redis rejected the password (or the user is disabled)`,
          );
        }
        throw new TransientError(
          `cannot connect to Redis at ${this.conn.host}:${this.conn.port}: ${error.message}`,
        );
      }
      try {
        await client.call('PING');
      } catch (err) {
        // NOPERM proves the login worked; the user may just not be allowed PING.
        const message = (err as Error).message ?? String(err);
        if (!/^NOPERM/.test(message)) throw new VerificationError(`PING failed for ${user}: ${message}`);
      }
      if (this.db !== 0) {
        try {
          await client.call('SELECT', this.db);
        } catch (err) {
          throw new VerificationError(`SELECT ${this.db} failed for ${user}: ${(err as Error).message}`);
        }
      }
      for (const [i, check] of (options.checks ?? []).entries()) {
        let args: string[];
        try {
          args = splitCommandLine(check);
        } catch {
          throw new ConfigError(`check ${i + 1} (${check}) has unbalanced quotes`);
        }
        if (args.length === 0) throw new ConfigError(`check ${i + 1} is empty`);
        assertVerifyCheck('redis', args[0]!, i);
        try {
          await client.call(args[0]!, ...args.slice(1));
        } catch (err) {
          throw new VerificationError(
            `check ${i + 1} (${check}) failed for ${user}: ${(err as Error).message}`,
          );
        }
      }
    } finally {
      client.disconnect();
    }
  }

  // ------------------------------------------------------------ sessions

  private async ownClientId(): Promise<string> {
    this.ownId ??= String(await this.cmd(['CLIENT', 'ID'], 'read own client id'));
    return this.ownId;
  }

  async listSessions(login: string): Promise<SessionInfo[]> {
    checkRedisLogin(login);
    const s = await this.facts();
    const own = await this.ownClientId();
    const list = parseClientList(String(await this.cmd(['CLIENT', 'LIST'], 'list clients')));
    return list
      .filter((c) => c.id !== own && (hasAcl(s) ? c.user === login : login === 'default'))
      .map((c) => toSession(c, login));
  }

  /** Ends every session of `login`; returns how many it ended. Idempotent. (Tests; dropLogin ends them.) */
  async endSessions(login: string): Promise<number> {
    checkRedisLogin(login);
    const s = await this.facts();
    if (!hasAcl(s)) {
      if (login !== 'default') return 0;
      let n = 0;
      for (const type of ['normal', 'pubsub']) {
        n += Number(await this.mutate(['CLIENT', 'KILL', 'TYPE', type, 'SKIPME', 'yes'], 'kill clients'));
      }
      return n;
    }
    if (this.conn.dryRun) {
      const open = (await this.listSessions(login)).length;
      await this.mutate(['CLIENT', 'KILL', 'USER', login, 'SKIPME', 'yes'], `kill clients of "${login}"`);
      if (open > 0)
        this.conn.dryRun.note(`${open} client(s) of "${login}" are connected now; they would be ended`);
      return open;
    }
    try {
      return Number(
        await this.cmd(['CLIENT', 'KILL', 'USER', login, 'SKIPME', 'yes'], `kill clients of "${login}"`),
      );
    } catch (err) {
      if (/No such user/i.test((err as Error).message)) return 0;
      throw err;
    }
  }

  // ------------------------------------------------------------ persistence

  private async persistMode(): Promise<PersistMode> {
    if (this.persistCache) return this.persistCache;
    let option;
    try {
      option = parsePersistOption(this.conn.options?.persist);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    let aclfile: string | null = null;
    if (option === 'auto') {
      try {
        const reply = await this.cmd(['CONFIG', 'GET', 'aclfile'], 'read CONFIG aclfile');
        aclfile = Array.isArray(reply) && reply.length >= 2 ? String(reply[1]) : '';
      } catch (err) {
        // CONFIG disabled or renamed (managed services): the provider owns persistence.
        if (err instanceof TransientError) throw err;
        this.persistCache = 'none';
        return 'none';
      }
    }
    this.persistCache = resolvePersist(option, aclfile, (await this.facts()).configFile);
    return this.persistCache;
  }

  /**
   * Makes the ACL change survive a restart. An aclfile that cannot be saved is
   * an error (the next restart would undo the rotation); CONFIG REWRITE is best
   * effort unless asked for explicitly (redis.conf is often read-only, e.g. a
   * mounted ConfigMap, and then managed by the operator).
   */
  private async persist(): Promise<void> {
    const mode = await this.persistMode();
    if (mode === 'none') return;
    const explicit = this.conn.options?.persist === mode;
    try {
      if (mode === 'aclfile') await this.mutate(['ACL', 'SAVE'], 'save the ACL file');
      else await this.mutate(['CONFIG', 'REWRITE'], 'rewrite redis.conf');
    } catch (err) {
      if (err instanceof TransientError) throw err;
      if (mode === 'aclfile' || explicit) {
        throw new ConfigError(
          `the ACL change is live but not persisted (${(err as Error).message}); a restart would undo it. Fix the file or set options.persist = "none"`,
        );
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    this.clientPromise = undefined;
    client?.disconnect();
  }
}

/** A command as dry-run mode records it: password rules and requirepass values redacted. */
export function redactRedisCommand(args: (string | number)[]): string {
  const words = args.map(String);
  const upper = words.map((w) => w.toUpperCase());
  return words
    .map((w, i) => {
      if (upper[0] === 'CONFIG' && upper[1] === 'SET' && i >= 3 && upper[i - 1] === 'REQUIREPASS')
        return REDACTED;
      if (upper[0] === 'ACL' && upper[1] === 'SETUSER' && i >= 3 && /^[#>!<]/.test(w))
        return `${w[0]}${REDACTED}`;
      return /^[\w:.@*~&%+\-|=]+$/.test(w) ? w : JSON.stringify(w);
    })
    .join(' ');
}
