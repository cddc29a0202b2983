import { describe, expect, it } from 'vitest';
import {
  cachingSha2Matches,
  classifyStored,
  mariadbIdentifiedClause,
  mariadbSetHashesStatement,
  mysqlDiscardStatement,
  mysqlIdentifiedClause,
  mysqlRetainStatement,
  mysqlSetStatement,
  nativePasswordHash,
  planMysqlAddPassword,
  planMysqlKeepOnly,
  sha256Crypt,
  storedPasswordMatches,
} from '../../../src/engines/mysql/auth';
import { parseServerVersion, strategiesFor } from '../../../src/engines/mysql';
import { tokenize } from '../../../src/engines/mysql/tokens';

// Real MySQL caching_sha2_password strings (from MySQL-compatible servers' test suites).
const FOOBAR_SHA2 = Buffer.from(
  '24412430303524031A69251C34295C4B35167C7F1E5A7B63091349503974624D34504B5A424679354856336868686F52485A736E4A733368786E427575516C73446469496537',
  'hex',
);
const SIX_DIGITS_SHA2 = Buffer.from(
  '244124303035245e3e122f765160382d0b1e4d416f3f6752557c3c4d726e5a68756f4a547547682e536c504e6e76484a7854646b5452486d636e45464d61377a634147714144',
  'hex',
);

describe('mysql_native_password hash', () => {
  it("matches PASSWORD('password')", () => {
    expect(nativePasswordHash('password')).toBe('*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
  });

  it('hashes the UTF-8 bytes of the password', () => {
    // SELECT PASSWORD('pässwörd') on a utf8mb4 connection (MariaDB 10.11).
    expect(nativePasswordHash('pässwörd')).toBe('*0225EC5004ABB0B8CB557541FE53DE1A5D8CC825');
  });

  it('is compared case-insensitively against stored strings', () => {
    const stored = Buffer.from(nativePasswordHash('x').toLowerCase());
    expect(storedPasswordMatches('mysql_native_password', stored, 'x')).toBe(true);
    expect(storedPasswordMatches('mysql_native_password', stored, 'y')).toBe(false);
  });
});

describe('caching_sha2_password matching', () => {
  it('recognises the password of MySQL-generated strings', () => {
    expect(cachingSha2Matches(FOOBAR_SHA2, 'foobar')).toBe(true);
    expect(cachingSha2Matches(FOOBAR_SHA2, 'foobaz')).toBe(false);
    expect(cachingSha2Matches(SIX_DIGITS_SHA2, '123456')).toBe(true);
  });

  it('answers "unknown" for formats it does not know', () => {
    expect(cachingSha2Matches(Buffer.from('$5$abc$def'), 'x')).toBeUndefined();
    expect(storedPasswordMatches('sha256_password', Buffer.from('x'), 'x')).toBeUndefined();
  });
});

const account = { user: "app'; DROP USER root; --", host: '10.0.%' };

describe('MySQL 8 statement builders', () => {
  it('RETAIN CURRENT PASSWORD names the plugin and quotes everything', () => {
    const sql = mysqlRetainStatement(account, 'caching_sha2_password', "n3w'pw\\");
    expect(sql).toBe(
      "ALTER USER 'app\\'; DROP USER root; --'@'10.0.%' IDENTIFIED WITH caching_sha2_password BY 'n3w\\'pw\\\\' RETAIN CURRENT PASSWORD",
    );
    // One statement: the quotes hold (no stray top-level ';').
    expect(tokenize(sql).filter((t) => t.kind === 'punct' && t.value === ';')).toHaveLength(0);
  });

  it('DISCARD OLD PASSWORD', () => {
    expect(mysqlDiscardStatement({ user: 'app', host: '%' })).toBe(
      "ALTER USER 'app'@'%' DISCARD OLD PASSWORD",
    );
  });

  it('native accounts get a hash, caching_sha2 accounts the plaintext', () => {
    expect(mysqlIdentifiedClause('mysql_native_password', 'password')).toBe(
      "IDENTIFIED WITH mysql_native_password AS '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'",
    );
    expect(mysqlSetStatement({ user: 'a', host: '%' }, 'caching_sha2_password', 'pw')).toBe(
      "ALTER USER 'a'@'%' IDENTIFIED WITH caching_sha2_password BY 'pw'",
    );
  });

  it('refuses plugins without a stored password', () => {
    expect(() => mysqlRetainStatement(account, 'auth_socket', 'x')).toThrow(/does not store a password/);
  });
});

describe('MariaDB statement builders', () => {
  it('one password: IDENTIFIED BY PASSWORD with the hash', () => {
    expect(mariadbSetHashesStatement({ user: 'a', host: '%' }, [nativePasswordHash('password')])).toBe(
      "ALTER USER 'a'@'%' IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'",
    );
  });

  it('two passwords: an OR chain of native hashes, never PASSWORD(plaintext)', () => {
    const clause = mariadbIdentifiedClause([nativePasswordHash('new'), nativePasswordHash('old')]);
    expect(clause).toBe(
      `IDENTIFIED VIA mysql_native_password USING '${nativePasswordHash('new')}' OR mysql_native_password USING '${nativePasswordHash('old')}'`,
    );
    expect(clause).not.toMatch(/PASSWORD\(/);
  });
});

describe('MySQL dual-password plans converge from every state', () => {
  it('addPassword', () => {
    expect(planMysqlAddPassword('new', 'current')).toEqual([]);
    expect(planMysqlAddPassword('current', 'none')).toEqual(['retain-new']);
    expect(planMysqlAddPassword('current', 'other')).toEqual(['retain-new']);
    expect(planMysqlAddPassword('new', 'none')).toEqual(['set-current', 'retain-new']);
    expect(planMysqlAddPassword('other', 'current')).toEqual(['set-current', 'retain-new']);
    expect(planMysqlAddPassword('unknown', 'unknown')).toEqual(['set-current', 'retain-new']);
  });

  it('keepOnlyPassword', () => {
    expect(planMysqlKeepOnly('current', 'none')).toEqual([]);
    expect(planMysqlKeepOnly('current', 'unknown')).toEqual(['discard']);
    expect(planMysqlKeepOnly('other', 'unknown')).toEqual(['set-keep', 'discard']);
    expect(planMysqlKeepOnly('unknown', 'none')).toEqual(['set-keep']);
  });

  it('classifies stored credentials', () => {
    const native = (pw: string) => Buffer.from(nativePasswordHash(pw));
    const c = { new: 'n', current: 'c' };
    expect(classifyStored('mysql_native_password', native('c'), c)).toBe('current');
    expect(classifyStored('mysql_native_password', native('n'), c)).toBe('new');
    expect(classifyStored('mysql_native_password', native('z'), c)).toBe('other');
    expect(classifyStored('mysql_native_password', undefined, c)).toBe('none');
    expect(classifyStored('caching_sha2_password', FOOBAR_SHA2, { new: 'foobar', current: 'x' })).toBe('new');
    expect(classifyStored('sha256_password', Buffer.from('$5$...'), c)).toBe('unknown');
  });
});

describe('server versions and strategies', () => {
  it('reads MariaDB and MySQL version strings', () => {
    expect(parseServerVersion('10.11.19-MariaDB-0+deb12u1')).toEqual({ variant: 'mariadb', num: 101119 });
    expect(parseServerVersion('8.0.36')).toEqual({ variant: 'mysql', num: 80036 });
    expect(parseServerVersion('5.7.44-log')).toEqual({ variant: 'mysql', num: 50744 });
  });

  it('offers dual-password from MySQL 8.0.14 and MariaDB 10.4', () => {
    expect(strategiesFor('mysql', 80013)['dual-password'].supported).toBe(false);
    expect(strategiesFor('mysql', 80014)['dual-password'].supported).toBe(true);
    expect(strategiesFor('mariadb', 100311)['dual-password']).toEqual({
      supported: false,
      reason: 'MariaDB 10.3.11 has no authentication chains (needs 10.4 or newer)',
    });
    expect(strategiesFor('mariadb', 100400)['dual-password'].supported).toBe(true);
    expect(strategiesFor('mysql', 50744)['dual-user'].supported).toBe(true);
  });
});

describe('SHA-256 crypt and stored-credential matching: edges', () => {
  // Test vectors of Drepper's SHA-crypt specification (salt already cut to 16 bytes).
  it.each([
    ['Hello world!', 'saltstringsaltst', 10000, '3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA'],
    ['This is just a test', 'toolongsaltstrin', 5000, 'Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5'],
    [
      'we have a short salt string but not a short password',
      'short',
      77777,
      'JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/',
    ],
    [
      'the minimum number is still observed',
      'roundstoolow',
      1000,
      'yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC',
    ],
  ])('sha256Crypt(%j, %j, %i)', (password, salt, rounds, expected) => {
    expect(sha256Crypt(Buffer.from(password), Buffer.from(salt), rounds)).toBe(expected);
  });

  const sha2 = (roundsHex: string, salt: Buffer, password: string) =>
    Buffer.concat([
      Buffer.from(`$A$${roundsHex}$`, 'latin1'),
      salt,
      Buffer.from(sha256Crypt(Buffer.from(password, 'utf8'), salt, parseInt(roundsHex, 16) * 1000), 'latin1'),
    ]);

  it('caching_sha2 strings: rounds in hex of either case, exact length, anchored header', () => {
    const salt = Buffer.from('0123456789abcdefghij');
    const lower = sha2('00a', salt, 'pässwörd');
    expect(cachingSha2Matches(lower, 'pässwörd')).toBe(true);
    expect(cachingSha2Matches(Buffer.concat([Buffer.from('$A$00A$'), lower.subarray(7)]), 'pässwörd')).toBe(
      true,
    );
    expect(cachingSha2Matches(sha2('001', salt, 'x'), 'x')).toBe(true);
    expect(cachingSha2Matches(Buffer.concat([lower, Buffer.from('x')]), 'pässwörd')).toBeUndefined();
    expect(cachingSha2Matches(lower.subarray(0, lower.length - 1), 'pässwörd')).toBeUndefined();
    expect(
      cachingSha2Matches(Buffer.concat([Buffer.from('x'), lower.subarray(1)]), 'pässwörd'),
    ).toBeUndefined();
    expect(
      cachingSha2Matches(Buffer.concat([Buffer.from('$A$0g0$'), lower.subarray(7)]), 'pässwörd'),
    ).toBeUndefined();
    expect(
      cachingSha2Matches(Buffer.concat([Buffer.from('$A$0005'), lower.subarray(7)]), 'pässwörd'),
    ).toBeUndefined();
    // An empty stored string is an empty password.
    expect(cachingSha2Matches(Buffer.alloc(0), '')).toBe(true);
    expect(cachingSha2Matches(Buffer.alloc(0), 'x')).toBe(false);
    expect(storedPasswordMatches('caching_sha2_password', lower, 'pässwörd')).toBe(true);
    // The header must start the string, and the format belongs to caching_sha2_password only.
    const shifted = Buffer.concat([Buffer.from('x'), lower.subarray(0, lower.length - 1)]);
    expect(cachingSha2Matches(shifted, 'pässwörd')).toBeUndefined();
    expect(storedPasswordMatches('sha256_password', lower, 'pässwörd')).toBeUndefined();
    expect(storedPasswordMatches('caching_sha2_password', undefined, 'x')).toBeUndefined();
  });

  it('native: an empty stored string is an empty password, and only that', () => {
    expect(storedPasswordMatches('mysql_native_password', Buffer.alloc(0), '')).toBe(true);
    expect(storedPasswordMatches('mysql_native_password', Buffer.alloc(0), 'x')).toBe(false);
    expect(storedPasswordMatches('mysql_native_password', Buffer.from(nativePasswordHash('')), '')).toBe(
      false,
    );
  });

  it('classifies: unreadable new password, unreadable current password, no new candidate', () => {
    const odd = Buffer.from('$A$005$short');
    expect(classifyStored('caching_sha2_password', odd, { new: 'n', current: 'c' })).toBe('unknown');
    expect(classifyStored('caching_sha2_password', odd, { current: 'c' })).toBe('unknown');
    const native = Buffer.from(nativePasswordHash('z'));
    expect(classifyStored('mysql_native_password', native, { current: 'c' })).toBe('other');
    expect(
      classifyStored('mysql_native_password', Buffer.from(nativePasswordHash('c')), { current: 'c' }),
    ).toBe('current');
  });

  it('statements: no hash is refused; sha256_password is a password plugin; plans read both slots', () => {
    expect(() => mariadbIdentifiedClause([])).toThrow('at least one password hash is required');
    expect(mysqlIdentifiedClause('sha256_password', "p'w")).toBe(
      "IDENTIFIED WITH sha256_password BY 'p\\'w'",
    );
    expect(() => mysqlIdentifiedClause('auth_socket', 'x')).toThrow(
      'authentication plugin auth_socket does not store a password',
    );
    expect(() => mysqlSetStatement({ user: 'a', host: '%' }, 'unix_socket', 'x')).toThrow(/does not store/);
    expect(planMysqlAddPassword('new', 'other')).toEqual(['set-current', 'retain-new']);
    expect(planMysqlKeepOnly('current', 'current')).toEqual(['discard']);
    expect(planMysqlKeepOnly('new', 'none')).toEqual(['set-keep']);
  });
});
