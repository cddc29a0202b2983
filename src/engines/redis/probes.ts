/**
 * ACL DRYRUN probes of the Redis engine (comparePrivileges on Redis 7+):
 * sample keys and channels from the users' patterns, the command table, one
 * probe per command. Pure, unit-tested without a server.
 */
import type { AclUser } from './acl';

type Reply = unknown;

/**
 * A concrete string that matches a Redis glob pattern (`*`, `?`, `[...]`,
 * `[^...]`, `\x`), used as a sample key/channel for ACL DRYRUN.
 */
export function globSample(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) {
      out += pattern[++i];
    } else if (c === '*' || c === '?') {
      out += 'x';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        out += c;
        continue;
      }
      let body = pattern.slice(i + 1, end);
      i = end;
      const negated = body.startsWith('^');
      if (negated) body = body.slice(1);
      const members = classMembers(body);
      if (negated) {
        out += [...'xyzaq09_'].find((ch) => !members(ch)) ?? '~';
      } else {
        out += body.replace(/^\\/, '').charAt(0) || 'x';
      }
    } else {
      out += c;
    }
  }
  return out;
}

function classMembers(body: string): (ch: string) => boolean {
  const ranges: [string, string][] = [];
  for (let i = 0; i < body.length; i++) {
    let a = body[i]!;
    if (a === '\\' && i + 1 < body.length) a = body[++i]!;
    if (body[i + 1] === '-' && i + 2 < body.length) {
      ranges.push([a, body[i + 2]!]);
      i += 2;
    } else {
      ranges.push([a, a]);
    }
  }
  return (ch) => ranges.some(([lo, hi]) => ch >= lo && ch <= hi);
}

/** The pattern of a key rule (`~p`, `%R~p`, `%RW~p`) or channel rule (`&p`); null for others. */
export function rulePattern(rule: string): string | null {
  if (rule.startsWith('&')) return rule.slice(1);
  const m = /^(?:%[RW]{1,2})?~(.*)$/.exec(rule);
  return m ? m[1]! : null;
}

/** A key / channel name that matches none of the user's patterns (unless one is `*`). */
export const OUTSIDE_SAMPLE = 'rotator-parity-probe:outside';

export function samplesOf(users: AclUser[], field: 'keys' | 'channels'): string[] {
  const out = new Set<string>();
  for (const u of users) {
    for (const s of [u, ...u.selectors]) {
      for (const rule of s[field]) {
        const p = rulePattern(rule);
        if (p !== null) out.add(globSample(p));
      }
    }
  }
  out.add(OUTSIDE_SAMPLE);
  return [...out];
}

export interface CommandSpec {
  /** "get" or "config|get". */
  name: string;
  arity: number;
  firstKey: number;
  lastKey: number;
  keyStep: number;
}

/** Flattens the reply of `COMMAND` (each entry: name, arity, flags, first, last, step, ..., subcommands at 9). */
export function parseCommandTable(reply: Reply): CommandSpec[] {
  const out: CommandSpec[] = [];
  const visit = (entry: Reply) => {
    if (!Array.isArray(entry) || entry.length < 6) return;
    const subs = entry[9];
    if (Array.isArray(subs) && subs.length > 0) {
      // A container command (CONFIG, ACL, CLIENT...): ACL rules apply to its subcommands.
      for (const s of subs) visit(s);
      return;
    }
    out.push({
      name: String(entry[0]).toLowerCase(),
      arity: Number(entry[1]),
      firstKey: Number(entry[3]),
      lastKey: Number(entry[4]),
      keyStep: Number(entry[5]) || 1,
    });
  };
  if (Array.isArray(reply)) for (const e of reply) visit(e);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Commands whose first argument is a channel (ACL checks it against `&` patterns). */
const CHANNEL_COMMANDS = new Set(['publish', 'spublish', 'subscribe', 'ssubscribe', 'psubscribe']);

/**
 * Argument vectors (without the user) for ACL DRYRUN: every command and
 * subcommand with the minimum arity, its key positions filled with each key
 * sample, channel commands with each channel sample. Commands whose keys are
 * found by parsing (movablekeys) get filler arguments; DRYRUN may reject
 * those as malformed, and such probes are ignored for both users alike.
 */
export function buildProbes(
  commands: CommandSpec[],
  keySamples: string[],
  channelSamples: string[],
): string[][] {
  const probes: string[][] = [];
  for (const c of commands) {
    const head = c.name.split('|');
    const argc = Math.max(Math.abs(c.arity), head.length);
    const keyPositions = new Set<number>();
    if (c.firstKey > 0) {
      const last = c.lastKey < 0 ? argc + c.lastKey : c.lastKey;
      for (let p = c.firstKey; p <= last && p < argc; p += c.keyStep) keyPositions.add(p);
    }
    const isChannel = CHANNEL_COMMANDS.has(c.name);
    const samples = isChannel ? channelSamples : keyPositions.size > 0 ? keySamples : [''];
    if (isChannel) keyPositions.add(1);
    for (const sample of samples) {
      const args = [...head];
      for (let p = head.length; p < argc; p++) args.push(keyPositions.has(p) ? sample : '1');
      probes.push(args);
    }
  }
  return probes;
}

/** ACL DRYRUN answers "OK" or a bulk string explaining the denial; errors mean a malformed probe. */
export function dryrunVerdict(reply: unknown): 'allowed' | 'denied' | 'invalid' {
  if (reply instanceof Error) return 'invalid';
  const text = String(reply);
  if (text === 'OK') return 'allowed';
  if (/no permissions/i.test(text)) return 'denied';
  return 'invalid';
}
