/**
 * The Redis admin connection, as the engine (./index.ts) uses it: connect and
 * AUTH, commands and the one path for changes (`mutate`), the server's facts,
 * ACL users and persistence of ACL changes.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import {
  AdminPrivilegeError,
  ConfigError,
  RotatorError,
  TransientError,
  UnsupportedStrategyError,
} from '../../errors';
import type { ResolvedStrategy } from '../../shared/types';
import { changeWriter, type ChangeWriter } from '../recording';
import { REDACTED } from '../redaction';
import { connectionTls, nodeTlsOptions } from '../tls';
import { mentionsTransientNetworkCode } from '../transient';
import type { EngineConnection } from '../types';
import {
  hasAcl,
  parseAclGetUser,
  parseInfo,
  parsePersistOption,
  resolvePersist,
  type AclUser,
  type PersistMode,
  type RedisServerFacts,
} from './acl';

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
export const AUTH_FAILURE = /WRONGPASS|invalid password|invalid username-password|NOAUTH/i;

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
export function mapRedisError(err: unknown, context: string, adminUser: string): Error {
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
export class RedisConnector {
  private clientPromise?: Promise<Redis>;
  private client?: Redis;
  private closed = false;
  private factsCache?: RedisServerFacts;
  private persistCache?: PersistMode;
  private ownId?: string;
  /** The db index the application uses (verifyLogin SELECTs it). */
  readonly db: number;
  private readonly tls?: ConnectionOptions;
  /** Where changes go: the server, or (dry run) the recorder. The engine's one dry-run seam. */
  readonly writer: ChangeWriter<(string | number)[], unknown>;

  constructor(readonly conn: EngineConnection) {
    this.db = dbIndex(conn.database);
    this.tls = nodeTlsOptions(connectionTls(conn));
    this.writer = changeWriter(conn.dryRun, (args, context) => this.cmd(args, context), redactRedisCommand);
  }

  /** The admin's ACL user name ("default" when it logs in with a password only). */
  get adminUser(): string {
    return this.conn.admin.username || 'default';
  }

  baseOptions(): RedisOptions {
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
  async open(username: string | undefined, password: string): Promise<{ client: Redis; error?: Error }> {
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

  admin(): Promise<Redis> {
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

  async cmd(args: (string | number)[], context: string): Promise<unknown> {
    const client = await this.admin();
    try {
      return await client.call(String(args[0]), ...args.slice(1));
    } catch (err) {
      throw mapRedisError(err, context, this.adminUser);
    }
  }

  /**
   * The one way commands that change the server are sent: through the writer,
   * which in dry-run mode records them (password rules redacted) and answers
   * NOT_EXECUTED.
   */
  mutate(args: (string | number)[], context: string): Promise<unknown> {
    return this.writer.write(args, context);
  }

  async facts(): Promise<RedisServerFacts> {
    if (!this.factsCache) {
      const server = String(await this.cmd(['INFO', 'server'], 'read INFO server'));
      const replication = String(await this.cmd(['INFO', 'replication'], 'read INFO replication'));
      this.factsCache = parseInfo(`${server}\n${replication}`);
    }
    return this.factsCache;
  }

  /** Why ACL changes made on this node would not reach every node clients use; null if they do. */
  topologyProblem(s: RedisServerFacts): string | null {
    if (this.conn.options?.nodeLocalAcl === true) return null;
    const hint = 'rotate every node yourself and set options.nodeLocalAcl = true to acknowledge';
    if (s.mode === 'cluster') return `Redis Cluster: ACL changes apply to this node only (${hint})`;
    if (s.role === 'slave') return `this node is a replica: ACL changes apply to it only (${hint})`;
    if (s.connectedReplicas > 0) {
      return `${s.connectedReplicas} replica(s) attached: ACL changes are not replicated (${hint})`;
    }
    return null;
  }

  async requireAcl(strategy: ResolvedStrategy): Promise<RedisServerFacts> {
    const s = await this.facts();
    if (!hasAcl(s)) {
      throw new UnsupportedStrategyError(
        `${strategy} needs ACL users (Redis 6.0+); Redis ${s.version} has only requirepass`,
      );
    }
    return s;
  }

  async getUser(login: string): Promise<AclUser | null> {
    return parseAclGetUser(await this.cmd(['ACL', 'GETUSER', login], `read ACL user "${login}"`));
  }

  async requireUser(login: string, what = 'login'): Promise<AclUser> {
    const u = await this.getUser(login);
    if (!u) throw new ConfigError(`${what} "${login}" does not exist on Redis`);
    return u;
  }

  async ownClientId(): Promise<string> {
    this.ownId ??= String(await this.cmd(['CLIENT', 'ID'], 'read own client id'));
    return this.ownId;
  }

  // ------------------------------------------------------------ persistence

  async persistMode(): Promise<PersistMode> {
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
  async persist(): Promise<void> {
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
