import { describe, expect, it } from 'vitest';
import {
  buildProbes,
  checkNewRedisLogin,
  checkRedisLogin,
  cloneRules,
  compareAclUsers,
  diffCommandRules,
  dryrunVerdict,
  globSample,
  OUTSIDE_SAMPLE,
  parseAclGetUser,
  parseClientList,
  parseCommandTable,
  parseInfo,
  parsePersistOption,
  passwordHashRule,
  resolvePersist,
  samplesOf,
  splitCommandLine,
} from '../../src/engines/redis-acl';
import { UnsafeIdentifierError } from '../../src/errors';

const redis7User = [
  'flags',
  ['on', 'sanitize-payload'],
  'passwords',
  ['c592df4a86933b92addc9842402ddf198c638ea9be58916ee6e3734e1e3152f8'],
  'commands',
  '-@all +@read +set',
  'keys',
  '~app:* %R~ro:*',
  'channels',
  '&chan:*',
  'selectors',
  [['commands', '-@all +get', 'keys', '~other:*', 'channels', '']],
];

describe('redis-acl: ACL GETUSER parsing and cloning', () => {
  it('parses the Redis 7 shape (strings of rules, selectors)', () => {
    const u = parseAclGetUser(redis7User)!;
    expect(u).toEqual({
      flags: ['on', 'sanitize-payload'],
      passwords: ['c592df4a86933b92addc9842402ddf198c638ea9be58916ee6e3734e1e3152f8'],
      commands: ['-@all', '+@read', '+set'],
      keys: ['~app:*', '%R~ro:*'],
      channels: ['&chan:*'],
      hasChannels: true,
      selectors: [{ commands: ['-@all', '+get'], keys: ['~other:*'], channels: [] }],
      hasSelectors: true,
    });
    expect(parseAclGetUser(null)).toBeNull();
  });

  it('parses the Redis 6.x shape (arrays of bare patterns, all* flags)', () => {
    const u = parseAclGetUser([
      'flags',
      ['on', 'allchannels', 'nopass'],
      'passwords',
      [],
      'commands',
      '+@all -flushall',
      'keys',
      ['app:*', 'x?'],
      'channels',
      [],
    ])!;
    expect(u.keys).toEqual(['~app:*', '~x?']);
    expect(u.channels).toEqual(['&*']);
    expect(u.flags).toEqual(['on', 'nopass']);
    expect(u.hasSelectors).toBe(false);
    // 6.0: no channels field at all.
    const u60 = parseAclGetUser([
      'flags',
      ['on', 'allkeys'],
      'passwords',
      [],
      'commands',
      '+get',
      'keys',
      [],
    ])!;
    expect(u60.hasChannels).toBe(false);
    expect(u60.keys).toEqual(['~*']);
    expect(cloneRules(u60)).toEqual(['off', 'resetpass', 'resetkeys', '-@all', 'on', '~*', '+get']);
  });

  it('clone rules reset every part, copy flags/keys/channels/commands/selectors, never passwords or nopass', () => {
    const u = parseAclGetUser(redis7User)!;
    u.flags.push('nopass');
    expect(cloneRules(u)).toEqual([
      'off',
      'resetpass',
      'resetkeys',
      'resetchannels',
      'clearselectors',
      '-@all',
      'on',
      'sanitize-payload',
      '~app:*',
      '%R~ro:*',
      'resetchannels',
      '&chan:*',
      '-@all',
      '+@read',
      '+set',
      '(~other:* resetchannels -@all +get)',
    ]);
    expect(cloneRules(u).some((r) => r.startsWith('#') || r.startsWith('>'))).toBe(false);
  });

  it('a password is sent as #<sha256 hex>', () => {
    expect(passwordHashRule('pw1')).toBe('#c592df4a86933b92addc9842402ddf198c638ea9be58916ee6e3734e1e3152f8');
  });
});

describe('redis-acl: comparison', () => {
  const ref = parseAclGetUser(redis7User)!;
  const with_ = (patch: Partial<typeof ref>) => ({ ...ref, ...patch });

  it('identical users (different passwords) do not differ', () => {
    expect(
      compareAclUsers(ref, with_({ passwords: ['ab'], flags: ['on', 'sanitize-payload', 'nopass'] })),
    ).toEqual({
      missing: [],
      extra: [],
    });
  });

  it('reports missing and extra patterns, flags and selectors', () => {
    const other = with_({ keys: ['~app:*', '~more:*'], flags: ['off'], selectors: [] });
    const d = compareAclUsers(ref, other);
    expect(d.missing).toEqual([
      'flag on',
      'flag sanitize-payload',
      'key pattern %R~ro:*',
      'selector (~other:* -@all +get)',
    ]);
    expect(d.extra).toEqual(['flag off', 'key pattern ~more:*']);
  });

  it('command rules: per rule, plus the whole sequence when order or a removal can change the meaning', () => {
    expect(diffCommandRules(['-@all', '+get'], ['-@all', '+get', '+set'])).toEqual({
      missing: [],
      extra: ['command rule +set'],
    });
    expect(diffCommandRules(['-@all', '+get', '+set'], ['-@all', '+get'])).toEqual({
      missing: ['command rule +set'],
      extra: [],
    });
    // Same rules, other order: `-get +@all` allows GET, `+@all -get` does not.
    expect(diffCommandRules(['+@all', '-get'], ['-get', '+@all']).missing).toEqual([
      'command rules "+@all -get" (other: "-get +@all")',
    ]);
    // An extra removal may take something away.
    expect(diffCommandRules(['+@all'], ['+@all', '-get']).missing).toHaveLength(1);
  });
});

describe('redis-acl: DRYRUN probes', () => {
  it('glob samples match their pattern', () => {
    expect(globSample('app:*')).toBe('app:x');
    expect(globSample('a?c')).toBe('axc');
    expect(globSample('k[abc]z')).toBe('kaz');
    expect(globSample('k[^x]z')).toBe('kyz');
    expect(globSample('k[^a-z]z')).toBe('k0z');
    expect(globSample('lit\\*eral')).toBe('lit*eral');
    expect(globSample('*')).toBe('x');
  });

  it('samples come from both users and every selector, plus one outside key', () => {
    const u = parseAclGetUser(redis7User)!;
    expect(samplesOf([u], 'keys')).toEqual(['app:x', 'ro:x', 'other:x', OUTSIDE_SAMPLE]);
    expect(samplesOf([u], 'channels')).toEqual(['chan:x', OUTSIDE_SAMPLE]);
  });

  it('builds argument vectors with keys at key positions, subcommands and channels', () => {
    const table = parseCommandTable([
      ['get', 2, ['readonly'], 1, 1, 1, ['@read'], [], [], []],
      ['mset', -3, ['write'], 1, -1, 2, ['@write'], [], [], []],
      [
        'config',
        -2,
        [],
        0,
        0,
        0,
        ['@slow'],
        [],
        [],
        [['config|get', -3, [], 0, 0, 0, ['@admin'], [], [], []]],
      ],
      ['publish', 3, ['pubsub'], 0, 0, 0, ['@pubsub'], [], [], []],
      ['flushall', -1, ['write'], 0, 0, 0, ['@write'], [], [], []],
    ]);
    expect(table.map((c) => c.name)).toEqual(['config|get', 'flushall', 'get', 'mset', 'publish']);
    const probes = buildProbes(table, ['k1', 'k2'], ['c1']);
    expect(probes).toEqual([
      ['config', 'get', '1'],
      ['flushall'],
      ['get', 'k1'],
      ['get', 'k2'],
      ['mset', 'k1', '1'],
      ['mset', 'k2', '1'],
      ['publish', 'c1', '1'],
    ]);
  });

  it('reads DRYRUN verdicts', () => {
    expect(dryrunVerdict('OK')).toBe('allowed');
    expect(dryrunVerdict("This user has no permissions to run the 'flushall' command")).toBe('denied');
    expect(dryrunVerdict("This user has no permissions to access the 'x' key")).toBe('denied');
    expect(dryrunVerdict(new Error("ERR wrong number of arguments for 'get' command"))).toBe('invalid');
  });
});

describe('redis-acl: names, INFO, CLIENT LIST, checks, persistence', () => {
  it('names: Redis-impossible ones and ones that would break a saved aclfile are refused', () => {
    for (const bad of ['', 'a b', 'a\nb', 'a\u0000b'])
      expect(() => checkRedisLogin(bad)).toThrow(UnsafeIdentifierError);
    for (const bad of ['a"b', "a'b", 'a\\b', 'a\u001bb']) {
      expect(() => checkRedisLogin(bad)).not.toThrow();
      expect(() => checkNewRedisLogin(bad)).toThrow(UnsafeIdentifierError);
    }
    for (const ok of ['app', 'ü(x)', '#>~&+@all', 'user=1;flushall'])
      expect(() => checkNewRedisLogin(ok)).not.toThrow();
  });

  it('parses INFO server + replication', () => {
    const s = parseInfo(
      '# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nconfig_file:/etc/redis.conf\r\n# Replication\r\nrole:master\r\nconnected_slaves:2\r\n',
    );
    expect(s).toMatchObject({
      version: '7.0.15',
      major: 7,
      minor: 0,
      variant: 'redis',
      mode: 'standalone',
      connectedReplicas: 2,
      configFile: '/etc/redis.conf',
    });
    expect(parseInfo('redis_version:7.2.4\nserver_name:valkey\n').variant).toBe('valkey');
    expect(parseInfo('redis_version:5.0.7\n').major).toBe(5);
  });

  it('parses CLIENT LIST', () => {
    const list = parseClientList(
      'id=40 addr=127.0.0.1:57742 laddr=127.0.0.1:6379 fd=7 name= age=12 idle=3 flags=N db=0 cmd=get user=app=1 redir=-1\n' +
        'id=41 addr=[::1]:5000 fd=8 name=x age=0 idle=0 flags=N db=0 cmd=client|list user=rotator_admin\n',
    );
    expect(list).toEqual([
      { id: '40', user: 'app=1', addr: '127.0.0.1:57742', age: 12, idle: 3, cmd: 'get', flags: 'N' },
      {
        id: '41',
        user: 'rotator_admin',
        addr: '[::1]:5000',
        age: 0,
        idle: 0,
        cmd: 'client|list',
        flags: 'N',
      },
    ]);
  });

  it('splits check command lines with quotes', () => {
    expect(splitCommandLine('GET some:key')).toEqual(['GET', 'some:key']);
    expect(splitCommandLine(`SET "a b" 'c d'  ""`)).toEqual(['SET', 'a b', 'c d', '']);
    expect(splitCommandLine('SET "a\\"b" x')).toEqual(['SET', 'a"b', 'x']);
    expect(() => splitCommandLine('GET "x')).toThrow();
  });

  it('resolves the persistence mode', () => {
    expect(parsePersistOption(undefined)).toBe('auto');
    expect(() => parsePersistOption('yes')).toThrow();
    expect(resolvePersist('auto', '/etc/users.acl', '/etc/redis.conf')).toBe('aclfile');
    expect(resolvePersist('auto', '', '/etc/redis.conf')).toBe('config');
    expect(resolvePersist('auto', '', '')).toBe('none');
    expect(resolvePersist('none', '/etc/users.acl', '')).toBe('none');
  });
});
