import { describe, expect, it } from 'vitest';
import {
  checkNewRedisLogin,
  checkRedisLogin,
  cloneRules,
  compareAclUsers,
  diffCommandRules,
  describeRules,
  hasAcl,
  hasDryrun,
  parseAclGetUser,
  parseClientList,
  parseInfo,
  parsePersistOption,
  passwordHashRule,
  resolvePersist,
  type AclUser,
  splitCommandLine,
  toSession,
} from '../../../src/engines/redis/acl';
import {
  buildProbes,
  dryrunVerdict,
  globSample,
  OUTSIDE_SAMPLE,
  parseCommandTable,
  rulePattern,
  samplesOf,
} from '../../../src/engines/redis/probes';
import { UnsafeIdentifierError } from '../../../src/errors';

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
  // Parsed inside each test (not at collection time), so a mutant in the parser is active when it runs.
  const parsed = () => parseAclGetUser(redis7User)!;
  const with_ = (patch: Partial<AclUser>) => ({ ...parsed(), ...patch });

  it('identical users (different passwords) do not differ', () => {
    expect(
      compareAclUsers(parsed(), with_({ passwords: ['ab'], flags: ['on', 'sanitize-payload', 'nopass'] })),
    ).toEqual({
      missing: [],
      extra: [],
    });
  });

  it('reports missing and extra patterns, flags and selectors', () => {
    const other = with_({ keys: ['~app:*', '~more:*'], flags: ['off'], selectors: [] });
    const d = compareAclUsers(parsed(), other);
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
  it.each([
    ['app:*', 'app:x'],
    ['a?c', 'axc'],
    ['k[abc]z', 'kaz'],
    ['k[^x]z', 'kyz'],
    ['k[^a-z]z', 'k0z'],
    ['lit\\*eral', 'lit*eral'],
    ['*', 'x'],
    // unterminated classes, escapes in classes, ranges, fully covered negations
    ['a[bc', 'a[bc'],
    ['a[]b]c', 'a]c'],
    ['k[\\-x]', 'k-'],
    ['k[^xyzaq09_]', 'k~'],
    ['k[^a-z0-9_]', 'k~'],
    ['k[^\\x-z]', 'ka'],
    ['k[^a-y]', 'kz'],
    ['k[^x-]', 'ky'],
    ['end\\', 'end\\'],
    ['?\\?*', 'x?x'],
  ])('the glob sample of %s is %s, which the pattern matches', (pattern, sample) => {
    expect(globSample(pattern)).toBe(sample);
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

describe('redis-acl: inputs that tell right from wrong', () => {
  const user = (over: Partial<AclUser> = {}): AclUser => ({
    flags: ['on'],
    passwords: [],
    commands: ['-@all', '+get'],
    keys: ['~app:*'],
    channels: ['&news:*'],
    hasChannels: true,
    selectors: [],
    hasSelectors: true,
    ...over,
  });

  it('channel patterns are compared and cloned; a login without them differs', () => {
    const ref = user({ channels: ['&news:*', '&alerts'] });
    expect(compareAclUsers(ref, user({ channels: ['&news:*'] }))).toEqual({
      missing: ['channel pattern &alerts'],
      extra: [],
    });
    expect(compareAclUsers(user({ channels: [] }), ref).extra).toEqual([
      'channel pattern &news:*',
      'channel pattern &alerts',
    ]);
    expect(cloneRules(ref)).toContain('&alerts');
    expect(describeRules(ref)).toEqual([
      'flag on',
      'key pattern ~app:*',
      'channel pattern &news:*',
      'channel pattern &alerts',
    ]);
  });

  it('selectors are facts with their channels; nopass and duplicates are not facts', () => {
    const sel = { keys: ['~s:*'], channels: ['&c'], commands: ['+get'] };
    expect(describeRules(user({ flags: ['on', 'nopass', 'on'], selectors: [sel, sel] }))).toEqual([
      'flag on',
      'key pattern ~app:*',
      'channel pattern &news:*',
      'selector (~s:* &c +get)',
    ]);
    expect(cloneRules(user({ selectors: [sel] })).at(-1)).toBe('(~s:* resetchannels &c +get)');
    expect(cloneRules(user({ hasChannels: false, hasSelectors: false, channels: [] }))).toEqual([
      'off',
      'resetpass',
      'resetkeys',
      '-@all',
      'on',
      '~app:*',
      '-@all',
      '+get',
    ]);
  });

  it('command rules: an extra + rule in the same order is only extra; reordered + rules are missing as a whole', () => {
    expect(diffCommandRules(['-@all', '+get'], ['-@all', '+set', '+get'])).toEqual({
      missing: [],
      extra: ['command rule +set'],
    });
    expect(diffCommandRules(['-@all', '+get', '+set'], ['-@all', '+set', '+get'])).toEqual({
      missing: ['command rules "-@all +get +set" (other: "-@all +set +get")'],
      extra: [],
    });
    expect(diffCommandRules(['-@all', '+get'], ['-@all', '+get', '-get'])).toEqual({
      missing: ['command rules "-@all +get" (other: "-@all +get -get")'],
      extra: ['command rule -get'],
    });
    // A missing rule is reported as such, not as a sequence change as well.
    expect(diffCommandRules(['-@all', '+get', '+set'], ['+get', '-@all']).missing).toEqual([
      'command rule +set',
    ]);
  });

  it('parses replies of every shape, Buffers included; 6.x all* flags are not duplicated', () => {
    expect(parseAclGetUser('garbage')).toEqual({
      flags: [],
      passwords: [],
      commands: [],
      keys: [],
      channels: [],
      hasChannels: false,
      selectors: [],
      hasSelectors: false,
    });
    expect(parseAclGetUser(undefined)).toBeNull();
    const u = parseAclGetUser([
      'flags',
      ['on', 'allkeys', 'allchannels', 'allcommands'],
      'commands',
      Buffer.from('+@all  -keys'),
      'keys',
      ['*'],
      'channels',
      ['*'],
      'dangling',
    ])!;
    expect(u.flags).toEqual(['on']);
    expect(u.commands).toEqual(['+@all', '-keys']);
    expect(u.keys).toEqual(['~*']);
    expect(u.channels).toEqual(['&*']);
    expect(u.hasSelectors).toBe(false);
    expect(parseAclGetUser(['keys', ['a'], 'channels', ['b']])).toMatchObject({
      keys: ['~a'],
      channels: ['&b'],
    });
    expect(parseAclGetUser(['keys', '~a', 'channels', 7])).toMatchObject({ keys: ['~a'], channels: [] });
  });

  it('probes: every channel command (publish and the subscribe family) gets the channel samples', () => {
    const table = parseCommandTable(
      ['publish', 'spublish', 'subscribe', 'ssubscribe', 'psubscribe', 'punsubscribe'].map((n) => [
        n.toUpperCase(),
        -2,
        [],
        0,
        0,
        0,
        [],
        [],
        [],
        [],
      ]),
    );
    const probes = buildProbes(table, ['k'], ['c1', 'c2']);
    for (const n of ['publish', 'spublish', 'subscribe', 'ssubscribe', 'psubscribe']) {
      expect(probes).toContainEqual([n, 'c1']);
      expect(probes).toContainEqual([n, 'c2']);
    }
    expect(probes).toContainEqual(['punsubscribe', '1']);
    expect(probes.filter((p) => p[0] === 'punsubscribe')).toHaveLength(1);
  });

  it('probes: key positions follow first/last/step, negative last, subcommand heads', () => {
    const table = parseCommandTable([
      ['mset', -3, [], 1, -1, 2, [], [], [], []],
      ['lmove', 5, [], 1, 2, 1, [], [], [], []],
      ['bitop', -4, [], 2, -1, 1, [], [], [], []],
      ['weird', 3, [], 1, 1, 0, [], [], [], []],
      ['object', -2, [], 0, 0, 0, [], [], [], [['object|encoding', 3, [], 2, 2, 1, [], [], [], []]]],
      ['short', 2, []],
    ]);
    expect(table.map((c) => c.name)).toEqual(['bitop', 'lmove', 'mset', 'object|encoding', 'weird']);
    expect(table.find((c) => c.name === 'weird')!.keyStep).toBe(1);
    const probes = buildProbes(table, ['k'], ['c']);
    expect(probes).toEqual([
      ['bitop', '1', 'k', 'k'],
      ['lmove', 'k', 'k', '1', '1'],
      ['mset', 'k', '1'],
      ['object', 'encoding', 'k'],
      ['weird', 'k', '1'],
    ]);
    expect(parseCommandTable('nope')).toEqual([]);
  });

  it('rule patterns of key and channel rules only', () => {
    expect(rulePattern('~a:*')).toBe('a:*');
    expect(rulePattern('%R~r:*')).toBe('r:*');
    expect(rulePattern('%W~w:*')).toBe('w:*');
    expect(rulePattern('%RW~rw:*')).toBe('rw:*');
    expect(rulePattern('&ch')).toBe('ch');
    expect(rulePattern('+get')).toBeNull();
    expect(rulePattern('%X~k')).toBeNull();
    expect(rulePattern('x~k')).toBeNull();
    expect(rulePattern('%RWR~k')).toBeNull();
  });

  it('INFO: comments, odd lines, defaults, valkey by version field', () => {
    const s = parseInfo(
      '#x:y\n:z\nredis_version: 6.2.14 \nrole:slave\nconnected_slaves:abc\nvalkey_version:7.2.5\n',
    );
    expect(s).toEqual({
      version: '6.2.14',
      major: 6,
      minor: 2,
      variant: 'valkey',
      mode: 'standalone',
      role: 'slave',
      connectedReplicas: 0,
      configFile: '',
    });
    expect(parseInfo('redis_mode:cluster\n')).toMatchObject({
      version: '0.0.0',
      major: 0,
      minor: 0,
      mode: 'cluster',
      role: 'master',
    });
    expect(parseInfo('redis_version:x.y\n')).toMatchObject({ major: 0, minor: 0 });
    expect(parseInfo('redis_version:7\n')).toMatchObject({ major: 7, minor: 0 });
    expect(parseInfo('server_name:redis\n').variant).toBe('redis');
    expect([
      hasAcl({ major: 5 }),
      hasAcl({ major: 6 }),
      hasDryrun({ major: 6 }),
      hasDryrun({ major: 7 }),
    ]).toEqual([false, true, false, true]);
  });

  it('CLIENT LIST: skips blank lines and lines without id; missing fields stay undefined', () => {
    expect(parseClientList('\r\n  \nfd=3 user=x\nid=7 =bad noequals user=u\r\n')).toEqual([
      {
        id: '7',
        user: 'u',
        addr: undefined,
        age: undefined,
        idle: undefined,
        cmd: undefined,
        flags: undefined,
      },
    ]);
    expect(toSession({ id: '7' }, 'u')).toEqual({
      id: '7',
      username: 'u',
      clientAddress: undefined,
      ageSeconds: undefined,
      state: 'idle ?s, last command ?',
    });
    expect(toSession({ id: '8', addr: 'a:1', age: 5, idle: 2, cmd: 'get' }, 'u').state).toBe(
      'idle 2s, last command get',
    );
  });

  it('check command lines: tabs, single quotes keep backslashes, a trailing backslash in quotes', () => {
    expect(splitCommandLine('\tGET\t k ')).toEqual(['GET', 'k']);
    expect(splitCommandLine(`SET 'a\\b' x`)).toEqual(['SET', 'a\\b', 'x']);
    expect(splitCommandLine(`SET a"b c"d`)).toEqual(['SET', 'ab cd']);
    expect(() => splitCommandLine(`GET "x\\"`)).toThrow('unbalanced quotes');
    expect(splitCommandLine('')).toEqual([]);
  });

  it('names: messages say which name, and every control character is refused for new logins', () => {
    expect(() => checkRedisLogin('', 'admin login')).toThrow('admin login is empty');
    expect(() => checkRedisLogin(7 as unknown as string)).toThrow('login name is empty');
    expect(() => checkRedisLogin('a\tb')).toThrow('login name contains whitespace or a NUL byte');
    expect(() => checkNewRedisLogin('a b')).toThrow('new login name contains whitespace');
    for (const cp of [0x01, 0x1f, 0x7f])
      expect(() => checkNewRedisLogin(`a${String.fromCharCode(cp)}b`)).toThrow(
        /new login name contains a quote/,
      );
    expect(() => checkNewRedisLogin('a\u0080b')).not.toThrow();
  });

  it('persist option: each value as given, null as auto, anything else refused with the value', () => {
    for (const v of ['auto', 'aclfile', 'config', 'none'] as const) expect(parsePersistOption(v)).toBe(v);
    expect(parsePersistOption(null)).toBe('auto');
    expect(() => parsePersistOption('ACLFILE')).toThrow(
      'options.persist must be one of auto, aclfile, config, none (got "ACLFILE")',
    );
    expect(() => parsePersistOption(1)).toThrow(/\(got 1\)/);
    expect(resolvePersist('aclfile', null, '')).toBe('aclfile');
    expect(resolvePersist('config', '/a.acl', '')).toBe('config');
    expect(resolvePersist('auto', null, '/r.conf')).toBe('config');
  });

  it('DRYRUN verdicts: any other text is invalid; the match ignores case', () => {
    expect(dryrunVerdict('No Permissions to run')).toBe('denied');
    expect(dryrunVerdict('ERR unknown command')).toBe('invalid');
    expect(dryrunVerdict('ok')).toBe('invalid');
  });

  it('last edges: dangling reply keys, selector channels, escaped class ranges, odd command tables', () => {
    expect(parseAclGetUser(['flags', ['on'], 'channels'])!.hasChannels).toBe(false);
    expect(
      parseAclGetUser(['flags', [], 'selectors', [['keys', '~s:*', 'channels', '&c:*', 'commands', '+get']]])!
        .selectors,
    ).toEqual([{ keys: ['~s:*'], channels: ['&c:*'], commands: ['+get'] }]);
    expect(globSample('a[\\]')).toBe('ax');
    expect(globSample('k[^\\-z]')).toBe('kx');
    const u = parseAclGetUser(['flags', [], 'keys', '~a:* resetkeys', 'channels', ''])!;
    expect(samplesOf([u], 'keys')).toEqual(['a:x', OUTSIDE_SAMPLE]);
    expect(parseCommandTable([['get', 2, [], 1, 1, 1]]).map((c) => c.name)).toEqual(['get']);
    expect(parseCommandTable(null)).toEqual([]);
    const x = parseCommandTable([['x', -5, [], 1, -2, 1, [], [], [], []]]);
    expect(buildProbes(x, ['k'], [])).toEqual([['x', 'k', 'k', 'k', '1']]);
    expect(dryrunVerdict(new Error('NOPERM this user has no permissions'))).toBe('invalid');
  });
});
