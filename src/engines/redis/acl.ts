/**
 * Pure helpers of the Redis engine: ACL user parsing and cloning, rule
 * comparison, CLIENT LIST parsing, password hashes, name checks and
 * persistence choice (ACL DRYRUN probes: ./probes.ts). No I/O here, so all of it is unit-tested without a server.
 */
import { createHash } from 'node:crypto';
import { UnsafeIdentifierError } from '../../errors';
import type { SessionInfo } from '../types';

/** `#<sha256 hex>`: how a password is given to ACL SETUSER without sending the plaintext. */
export function passwordHashRule(password: string): string {
  return `#${sha256Hex(password)}`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

// ------------------------------------------------------------------ names

/**
 * Any name we pass to Redis: Redis itself refuses whitespace and NUL in user
 * names ("Usernames can't contain spaces or null characters").
 */
export function checkRedisLogin(name: string, what = 'login name'): void {
  if (typeof name !== 'string' || name.length === 0) throw new UnsafeIdentifierError(`${what} is empty`);
  if (/\s/.test(name) || name.includes('\u0000')) {
    throw new UnsafeIdentifierError(
      `${what} contains whitespace or a NUL byte, which Redis user names cannot hold`,
    );
  }
}

/**
 * A name of a login we create. Stricter than Redis: ACL SAVE and CONFIG
 * REWRITE write `user <name> ...` unquoted, and the loader splits lines with
 * sdssplitargs, so a quote or backslash in a name would make the aclfile /
 * redis.conf unloadable at the next restart. Control characters are refused too.
 */
export function checkNewRedisLogin(name: string, what = 'new login name'): void {
  checkRedisLogin(name, what);
  // eslint-disable-next-line no-control-regex
  if (/["'\\\u0000-\u001f\u007f]/.test(name)) {
    throw new UnsafeIdentifierError(
      `${what} contains a quote, backslash or control character; Redis would persist it unquoted and fail to load it after a restart`,
    );
  }
}

// ------------------------------------------------------------------ versions

export interface RedisServerFacts {
  /** e.g. "7.0.15" */
  version: string;
  major: number;
  minor: number;
  /** "redis" or "valkey". */
  variant: string;
  /** redis_mode: standalone, cluster, sentinel. */
  mode: string;
  /** role:master / role:slave from INFO replication. */
  role: string;
  connectedReplicas: number;
  /** config_file from INFO server; empty if started without one. */
  configFile: string;
}

/** Parses `INFO server` + `INFO replication` text. */
export function parseInfo(text: string): RedisServerFacts {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) fields.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const version = fields.get('redis_version') ?? '0.0.0';
  const [major = 0, minor = 0] = version.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const serverName = fields.get('server_name') ?? '';
  return {
    version,
    major,
    minor,
    variant: serverName === 'valkey' || fields.has('valkey_version') ? 'valkey' : 'redis',
    mode: fields.get('redis_mode') ?? 'standalone',
    role: fields.get('role') ?? 'master',
    connectedReplicas: Number.parseInt(fields.get('connected_slaves') ?? '0', 10) || 0,
    configFile: fields.get('config_file') ?? '',
  };
}

export const hasAcl = (s: Pick<RedisServerFacts, 'major'>): boolean => s.major >= 6;
export const hasDryrun = (s: Pick<RedisServerFacts, 'major'>): boolean => s.major >= 7;

// ------------------------------------------------------------------ ACL users

export interface AclSelector {
  keys: string[];
  channels: string[];
  /** Command rules in server order (order matters: `-@all +get` differs from `+get -@all`). */
  commands: string[];
}

export interface AclUser extends AclSelector {
  flags: string[];
  /** sha256 hex of each password. */
  passwords: string[];
  /** False on Redis 6.0, which has no pub/sub ACL. */
  hasChannels: boolean;
  /** Redis 7 selectors (`(~other:* +get)`). */
  selectors: AclSelector[];
  /** False before Redis 7.0 (no selectors, no `clearselectors`). */
  hasSelectors: boolean;
}

type Reply = unknown;

function pairs(reply: Reply): Map<string, Reply> {
  const map = new Map<string, Reply>();
  if (!Array.isArray(reply)) return map;
  for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), reply[i + 1]);
  return map;
}

const words = (v: Reply): string[] =>
  typeof v === 'string' || Buffer.isBuffer(v)
    ? String(v)
        .split(' ')
        .filter((w) => w.length > 0)
    : Array.isArray(v)
      ? v.map(String)
      : [];

/**
 * Normalizes `ACL GETUSER` (RESP2 flat map) of Redis 6.0, 6.2 and 7.x:
 * 7.x gives keys/channels as one space-separated string of rules (`~a* %R~b*`,
 * `&c*`); 6.x gives arrays of bare patterns and `allkeys`/`allchannels` flags.
 * Patterns never contain spaces (Redis refuses them), so splitting is exact.
 * Returns null for a missing user.
 */
export function parseAclGetUser(reply: Reply): AclUser | null {
  if (reply === null || reply === undefined) return null;
  const m = pairs(reply);
  const rawFlags = words(m.get('flags'));
  const keysReply = m.get('keys');
  const channelsReply = m.get('channels');
  const arrayForm = Array.isArray(keysReply);
  let keys = words(keysReply);
  let channels = words(channelsReply);
  if (arrayForm) {
    // Redis 6.x: bare patterns.
    keys = keys.map((k) => `~${k}`);
    channels = channels.map((c) => `&${c}`);
    if (rawFlags.includes('allkeys') && !keys.includes('~*')) keys.push('~*');
    if (rawFlags.includes('allchannels') && !channels.includes('&*')) channels.push('&*');
  }
  const selectors: AclSelector[] = [];
  const sel = m.get('selectors');
  if (Array.isArray(sel)) {
    for (const s of sel) {
      const sm = pairs(s);
      selectors.push({
        keys: words(sm.get('keys')),
        channels: words(sm.get('channels')),
        commands: words(sm.get('commands')),
      });
    }
  }
  return {
    flags: rawFlags.filter((f) => !['allkeys', 'allchannels', 'allcommands'].includes(f)),
    passwords: words(m.get('passwords')),
    commands: words(m.get('commands')),
    keys,
    channels,
    hasChannels: m.has('channels'),
    selectors,
    hasSelectors: m.has('selectors'),
  };
}

/** Flags that describe authentication, not privileges: not cloned, not compared. */
const AUTH_FLAGS = new Set(['nopass']);

function selectorRules(s: AclSelector, hasChannels: boolean): string[] {
  return [...s.keys, ...(hasChannels ? ['resetchannels', ...s.channels] : []), ...s.commands];
}

/**
 * The ACL SETUSER arguments that give a user exactly the privileges of `u`,
 * whether it is new or already exists (a retry): every part is reset first,
 * then set. Not `reset`, which also sets `sanitize-payload`, a flag a user
 * created without it does not have. Passwords and `nopass` are not copied:
 * the caller appends the new login's own password hash.
 */
export function cloneRules(u: AclUser): string[] {
  return [
    'off',
    'resetpass',
    'resetkeys',
    ...(u.hasChannels ? ['resetchannels'] : []),
    ...(u.hasSelectors ? ['clearselectors'] : []),
    '-@all',
    ...u.flags.filter((f) => !AUTH_FLAGS.has(f)),
    ...selectorRules(u, u.hasChannels),
    // Each selector is one argument; Redis parses inside the parentheses itself.
    ...u.selectors.map((s) => `(${selectorRules(s, u.hasChannels).join(' ')})`),
  ];
}

/** Human-readable privilege facts of a user except command rules (set semantics), for comparison. */
export function describeRules(u: AclUser): string[] {
  const facts = [
    ...u.flags.filter((f) => !AUTH_FLAGS.has(f)).map((f) => `flag ${f}`),
    ...u.keys.map((k) => `key pattern ${k}`),
    ...u.channels.map((c) => `channel pattern ${c}`),
    // Selectors are alternatives: their order does not matter.
    ...u.selectors.map((s) => `selector (${[...s.keys, ...s.channels, ...s.commands].join(' ')})`),
  ];
  return [...new Set(facts)];
}

export function diffFacts(reference: string[], other: string[]): { missing: string[]; extra: string[] } {
  const o = new Set(other);
  const r = new Set(reference);
  return { missing: reference.filter((f) => !o.has(f)), extra: other.filter((f) => !r.has(f)) };
}

/**
 * Command rules apply in order (`+@all -get` denies GET, `-get +@all` allows
 * it), so beyond per-rule differences the sequence is compared: if the other
 * login has the reference's rules in another order, or extra `-` rules that
 * may take something away, the whole rule string is reported missing. Extra
 * `+` rules only ever add, and are reported as extra.
 */
export function diffCommandRules(
  reference: string[],
  other: string[],
): { missing: string[]; extra: string[] } {
  const r = new Set(reference);
  const o = new Set(other);
  const missing = reference.filter((t) => !o.has(t)).map((t) => `command rule ${t}`);
  const extraRules = other.filter((t) => !r.has(t));
  const extra = extraRules.map((t) => `command rule ${t}`);
  const sameOrder = other.filter((t) => r.has(t)).join(' ') === reference.join(' ');
  if (missing.length === 0 && (!sameOrder || extraRules.some((t) => t.startsWith('-')))) {
    missing.push(`command rules "${reference.join(' ')}" (other: "${other.join(' ')}")`);
  }
  return { missing, extra };
}

/** Everything but passwords and `nopass`: flags, key and channel patterns, command rules, selectors. */
export function compareAclUsers(reference: AclUser, other: AclUser): { missing: string[]; extra: string[] } {
  const facts = diffFacts(describeRules(reference), describeRules(other));
  const commands = diffCommandRules(reference.commands, other.commands);
  return { missing: [...facts.missing, ...commands.missing], extra: [...facts.extra, ...commands.extra] };
}

// ------------------------------------------------------------------ sessions

export interface ClientEntry {
  id: string;
  user?: string;
  addr?: string;
  age?: number;
  idle?: number;
  cmd?: string;
  flags?: string;
}

/** Parses `CLIENT LIST` (one `k=v k=v ...` line per client; values hold no spaces). */
export function parseClientList(text: string): ClientEntry[] {
  const out: ClientEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const f = new Map<string, string>();
    for (const part of line.split(' ')) {
      const i = part.indexOf('=');
      if (i > 0) f.set(part.slice(0, i), part.slice(i + 1));
    }
    const id = f.get('id');
    if (!id) continue;
    out.push({
      id,
      user: f.get('user'),
      addr: f.get('addr'),
      age: f.has('age') ? Number(f.get('age')) : undefined,
      idle: f.has('idle') ? Number(f.get('idle')) : undefined,
      cmd: f.get('cmd'),
      flags: f.get('flags'),
    });
  }
  return out;
}

export function toSession(c: ClientEntry, username: string): SessionInfo {
  return {
    id: c.id,
    username,
    clientAddress: c.addr,
    ageSeconds: c.age,
    state: `idle ${c.idle ?? '?'}s, last command ${c.cmd ?? '?'}`,
  };
}

// ------------------------------------------------------------------ commands for checks

/**
 * Splits a verification check ("GET some:key", `SET "a b" 1`) into
 * arguments: whitespace-separated, double or single quotes group, backslash
 * escapes inside double quotes.
 */
export function splitCommandLine(line: string): string[] {
  const args: string[] = [];
  let cur = '';
  let inToken = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inToken = true;
    } else if (/\s/.test(c)) {
      if (inToken) args.push(cur);
      cur = '';
      inToken = false;
    } else {
      cur += c;
      inToken = true;
    }
  }
  if (quote) throw new Error('unbalanced quotes');
  if (inToken) args.push(cur);
  return args;
}

// ------------------------------------------------------------------ persistence

/** How ACL changes survive a restart: `ACL SAVE` to the aclfile, `CONFIG REWRITE` of redis.conf, or not at all. */
export type PersistMode = 'aclfile' | 'config' | 'none';
export type PersistOption = PersistMode | 'auto';

export function parsePersistOption(value: unknown): PersistOption {
  if (value === undefined || value === null) return 'auto';
  if (value === 'auto' || value === 'aclfile' || value === 'config' || value === 'none') return value;
  throw new Error(
    `options.persist must be one of auto, aclfile, config, none (got ${JSON.stringify(value)})`,
  );
}

/**
 * `auto`: users loaded from an aclfile are saved back with ACL SAVE (the
 * aclfile is what a restart reads); otherwise, with a config file, CONFIG
 * REWRITE writes the users into redis.conf; without either nothing can persist.
 */
export function resolvePersist(
  option: PersistOption,
  aclfile: string | null,
  configFile: string,
): PersistMode {
  if (option !== 'auto') return option;
  if (aclfile) return 'aclfile';
  if (configFile) return 'config';
  return 'none';
}
