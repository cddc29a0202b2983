import { escapeId } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { parseLogin, quoteAccount } from '../../../src/engines/mysql/accounts';
import { adminGaps } from '../../../src/engines/mysql/admin';
import {
  type GrantFact,
  describeGrant,
  diffGrants,
  grantStatements,
  parseGrants,
  revokeStatements,
} from '../../../src/engines/mysql/grants';
import { renderTokens, SqlParseError, tokenize } from '../../../src/engines/mysql/tokens';
import {
  attributeClauses,
  attributeFacts,
  parseCreateUser,
  readAccount,
} from '../../../src/engines/mysql/user';
import { UnsafeIdentifierError } from '../../../src/errors';

/** How MariaDB/MySQL print an account in SHOW output. */
const shown = (user: string, host = '%') => `${escapeId(user, true)}@${escapeId(host, true)}`;

/** Parses a generated statement and returns the account after its last top-level TO/FROM/FOR. */
function granteeOf(sql: string) {
  const tokens = tokenize(sql);
  let k = -1;
  tokens.forEach((t, i) => {
    if (t.kind === 'word' && ['TO', 'FROM', 'FOR'].includes(t.value)) k = i;
  });
  return readAccount(tokens, k + 1).account;
}

const HOSTILE = [
  "o'brien",
  'back\\slash',
  'tick`tock',
  'semi;colon -- x',
  'pct%_under',
  'at@sign',
  'sp ace',
  'ünï©ødé',
  'quote"double',
  "mix'`\\%@; é",
];

describe('SHOW GRANTS rewriting', () => {
  it('copies a MariaDB grant set to another account', () => {
    const owner = { user: 'app', host: '%' };
    const lines = [
      'GRANT `r1` TO `app`@`%`',
      'GRANT `r2` TO `app`@`%` WITH ADMIN OPTION',
      "GRANT PROCESS ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*B69027D44F6E5EDC07F1AEAD1477967B16F28227' REQUIRE SSL WITH MAX_USER_CONNECTIONS 5 MAX_STATEMENT_TIME 10.000000",
      'GRANT SELECT, INSERT ON `shop`.* TO `app`@`%` WITH GRANT OPTION',
      'GRANT SELECT (`c`), UPDATE (`a`, `b`) ON `shop`.`t` TO `app`@`%`',
      'GRANT EXECUTE ON PROCEDURE `shop`.`p` TO `app`@`%`',
      'SET DEFAULT ROLE `r1` FOR `app`@`%`',
    ];
    const facts = parseGrants(lines, owner);
    expect(facts.map(describeGrant).sort()).toEqual(
      [
        'role `r1`',
        'role `r2`',
        'ADMIN OPTION on role `r2`',
        'PROCESS ON *.*',
        'SELECT ON `shop`.*',
        'INSERT ON `shop`.*',
        'GRANT OPTION ON `shop`.*',
        'SELECT (`c`) ON `shop`.`t`',
        'UPDATE (`a`) ON `shop`.`t`',
        'UPDATE (`b`) ON `shop`.`t`',
        'EXECUTE ON PROCEDURE `shop`.`p`',
        'default role `r1`',
      ].sort(),
    );
    const target = { user: 'app_b', host: '%' };
    const statements = grantStatements(facts, facts, target, 'mariadb');
    expect(statements).toEqual([
      "GRANT PROCESS ON *.* TO 'app_b'@'%'",
      "GRANT SELECT, INSERT ON `shop`.* TO 'app_b'@'%' WITH GRANT OPTION",
      "GRANT SELECT (`c`), UPDATE (`a`, `b`) ON `shop`.`t` TO 'app_b'@'%'",
      "GRANT EXECUTE ON PROCEDURE `shop`.`p` TO 'app_b'@'%'",
      "GRANT `r1` TO 'app_b'@'%'",
      "GRANT `r2` TO 'app_b'@'%' WITH ADMIN OPTION",
      "SET DEFAULT ROLE `r1` FOR 'app_b'@'%'",
    ]);
    // The hash and the account attributes of the USAGE line are never copied.
    expect(statements.join('\n')).not.toMatch(/IDENTIFIED|REQUIRE|MAX_/);
  });

  it('replays only the objects that miss something', () => {
    const owner = { user: 'a', host: '%' };
    const template = parseGrants(
      ['GRANT SELECT ON `x`.* TO `a`@`%`', 'GRANT INSERT ON `y`.* TO `a`@`%`'],
      owner,
    );
    const other = parseGrants(['GRANT SELECT ON `x`.* TO `a`@`%`'], owner);
    const { missing, extra } = diffGrants(template, other);
    expect(missing.map(describeGrant)).toEqual(['INSERT ON `y`.*']);
    expect(extra).toEqual([]);
    expect(grantStatements(template, missing, { user: 'b', host: '%' }, 'mariadb')).toEqual([
      "GRANT INSERT ON `y`.* TO 'b'@'%'",
    ]);
  });

  it.each(HOSTILE)(
    'rewrites only the grantee for user %j, even where the name is also a database',
    (name) => {
      const owner = { user: name, host: 'h%st' };
      const db = escapeId(name, true);
      const lines = [
        `GRANT USAGE ON *.* TO ${shown(name, 'h%st')} IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'`,
        `GRANT SELECT, INSERT ON ${db}.* TO ${shown(name, 'h%st')} WITH GRANT OPTION`,
        `GRANT UPDATE (${escapeId(name, true)}) ON ${db}.${db} TO ${shown(name, 'h%st')}`,
        `GRANT ${escapeId(name, true)} TO ${shown(name, 'h%st')}`,
      ];
      const facts = parseGrants(lines, owner);
      const target = { user: `${name}_b`, host: 'h%st' };
      const statements = grantStatements(facts, facts, target, 'mariadb');
      expect(statements).toHaveLength(3);
      for (const sql of statements) {
        expect(granteeOf(sql)).toEqual(target);
        const tokens = tokenize(sql);
        // Nothing but the grantee names the new user; the database/table/column/role keep the old name.
        expect(tokens.filter((t) => t.value === target.user)).toHaveLength(1);
        expect(tokens.some((t) => t.kind === 'ident' && t.value === name)).toBe(true);
        expect(tokens.filter((t) => t.kind === 'punct' && t.value === ';')).toHaveLength(0);
      }
      expect(quoteAccount(target)).toBe(renderTokens(tokenize(quoteAccount(target))));
    },
  );

  it('reads what MariaDB 10.11 actually printed for a hostile account', () => {
    // Captured from SHOW GRANTS on MariaDB 10.11 for user  zz_h'q`b\s%@;x é  (single backslash).
    const user = "zz_h'q`b\\s%@;x é";
    const lines = [
      "GRANT USAGE ON *.* TO `zz_h'q``b\\s%@;x é`@`%` IDENTIFIED BY PASSWORD '*B69027D44F6E5EDC07F1AEAD1477967B16F28227' REQUIRE ISSUER '/C=F''I' SUBJECT 'sub\\\\j' CIPHER 'EDH-RSA'",
      "GRANT SELECT ON `zz_h'q``b\\s%@;x é`.* TO `zz_h'q``b\\s%@;x é`@`%`",
    ];
    const facts = parseGrants(lines, { user, host: '%' });
    expect(facts.map(describeGrant)).toEqual(["SELECT ON `zz_h'q``b\\s%@;x é`.*"]);
  });

  it('refuses lines for another grantee and lines it cannot place', () => {
    expect(() => parseGrants(['GRANT SELECT ON *.* TO `b`@`%`'], { user: 'a', host: '%' })).toThrow(
      SqlParseError,
    );
    expect(() => parseGrants(['GRANT SELECT ON *.* `a`@`%`'], { user: 'a', host: '%' })).toThrow(
      SqlParseError,
    );
    expect(() => parseGrants(['GRANT SELECT ON `x`.`y`.`z` TO `a`@`%`'], { user: 'a', host: '%' })).toThrow(
      SqlParseError,
    );
    expect(() => parseGrants(["GRANT SELECT ON 'unterminated TO `a`@`%`"], { user: 'a', host: '%' })).toThrow(
      SqlParseError,
    );
  });

  it('reads MySQL 8 lines: dynamic privileges, role@host, partial revokes, proxy', () => {
    const owner = { user: 'app', host: '%' };
    const lines = [
      'GRANT SELECT, RELOAD ON *.* TO `app`@`%` WITH GRANT OPTION',
      'GRANT APPLICATION_PASSWORD_ADMIN,XA_RECOVER_ADMIN ON *.* TO `app`@`%`',
      'REVOKE SELECT ON `mysql`.* FROM `app`@`%`',
      "GRANT PROXY ON ''@'' TO `app`@`%`",
      'GRANT `reader`@`%`,`writer`@`%` TO `app`@`%` WITH ADMIN OPTION',
    ];
    const facts = parseGrants(lines, owner);
    const keys = facts.map(describeGrant);
    expect(keys).toContain('APPLICATION_PASSWORD_ADMIN ON *.*');
    expect(keys).toContain('partial revoke of SELECT ON `mysql`.*');
    expect(keys).toContain("PROXY ON ''@''");
    expect(keys).toContain('ADMIN OPTION on role `writer`@`%`');
    const target = { user: 'app_b', host: '%' };
    const defaults: GrantFact[] = [{ kind: 'default-role', role: tokenize('`reader`@`%`') }];
    const statements = grantStatements([...facts, ...defaults], [...facts, ...defaults], target, 'mysql');
    expect(statements).toEqual([
      // Grant option belongs to the level (*.*), so one statement per object is equivalent.
      "GRANT SELECT, RELOAD, APPLICATION_PASSWORD_ADMIN, XA_RECOVER_ADMIN ON *.* TO 'app_b'@'%' WITH GRANT OPTION",
      "GRANT PROXY ON ''@'' TO 'app_b'@'%'",
      "GRANT `reader`@`%` TO 'app_b'@'%' WITH ADMIN OPTION",
      "GRANT `writer`@`%` TO 'app_b'@'%' WITH ADMIN OPTION",
      "SET DEFAULT ROLE `reader`@`%` TO 'app_b'@'%'",
      "REVOKE SELECT ON `mysql`.* FROM 'app_b'@'%'",
    ]);
  });

  it('revokes what the other account has beyond the template', () => {
    const owner = { user: 'a', host: '%' };
    const extra = parseGrants(
      [
        'GRANT DELETE, UPDATE (`c`) ON `x`.`t` TO `a`@`%` WITH GRANT OPTION',
        'GRANT `r` TO `a`@`%` WITH ADMIN OPTION',
        'SET DEFAULT ROLE `r` FOR `a`@`%`',
      ],
      owner,
    );
    const revoke = (what: string) => `REVOKE ${what} FROM 'a_b'@'%'`;
    expect(revokeStatements(extra, { user: 'a_b', host: '%' }, 'mariadb')).toEqual([
      ...['DELETE ON `x`.`t`', 'UPDATE (`c`) ON `x`.`t`', 'GRANT OPTION ON `x`.`t`'].map(revoke),
      ...['`r`', 'ADMIN OPTION FOR `r`'].map(revoke),
      "SET DEFAULT ROLE NONE FOR 'a_b'@'%'",
    ]);
  });
});

describe('SHOW CREATE USER', () => {
  it('reads MariaDB attributes, including the two-row form of an expired account', () => {
    const def = parseCreateUser([
      "CREATE USER `a`@`%` IDENTIFIED VIA mysql_native_password USING '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' OR mysql_native_password USING '*023494FBCDFBF9C93B6B2663B348A1C4A939B247' REQUIRE ISSUER '/C=F''I' SUBJECT 'sub\\\\j' WITH MAX_QUERIES_PER_HOUR 100 MAX_USER_CONNECTIONS 5 MAX_STATEMENT_TIME 10.000000 ACCOUNT LOCK PASSWORD EXPIRE",
      'ALTER USER `a`@`%` PASSWORD EXPIRE INTERVAL 30 DAY',
    ]);
    expect(def.auth.map((r) => [r.plugin, r.authString?.toString()])).toEqual([
      ['mysql_native_password', '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'],
      ['mysql_native_password', '*023494FBCDFBF9C93B6B2663B348A1C4A939B247'],
    ]);
    expect(def.expired).toBe(true);
    expect(def.locked).toBe(true);
    expect(attributeClauses(def, 'mariadb', false)).toEqual([
      "REQUIRE ISSUER '/C=F\\'I' SUBJECT 'sub\\\\j'",
      'WITH MAX_QUERIES_PER_HOUR 100 MAX_USER_CONNECTIONS 5 MAX_STATEMENT_TIME 10',
      'PASSWORD EXPIRE INTERVAL 30 DAY',
      'ACCOUNT LOCK',
    ]);
    expect(attributeFacts(def)).toContain('account attribute MAX_USER_CONNECTIONS 5');
  });

  it('resets missing attributes to defaults when converging an existing login', () => {
    const def = parseCreateUser([
      "CREATE USER `a`@`%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'",
    ]);
    expect(attributeClauses(def, 'mariadb', true)).toEqual([
      'REQUIRE NONE',
      'WITH MAX_QUERIES_PER_HOUR 0 MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 MAX_USER_CONNECTIONS 0 MAX_STATEMENT_TIME 0',
      'PASSWORD EXPIRE DEFAULT',
      'ACCOUNT UNLOCK',
    ]);
    expect(attributeClauses(def, 'mysql', true)[1]).toBe(
      'WITH MAX_QUERIES_PER_HOUR 0 MAX_UPDATES_PER_HOUR 0 MAX_CONNECTIONS_PER_HOUR 0 MAX_USER_CONNECTIONS 0',
    );
  });

  it('reads MySQL 8 output: hex auth strings, default roles, password options, comments', () => {
    const def = parseCreateUser([
      "CREATE USER `app`@`%` IDENTIFIED WITH 'caching_sha2_password' AS 0x24412430303524031A69 DEFAULT ROLE `reader`@`%`,`writer`@`%` REQUIRE X509 WITH MAX_USER_CONNECTIONS 3 PASSWORD EXPIRE NEVER ACCOUNT UNLOCK PASSWORD HISTORY 5 PASSWORD REUSE INTERVAL DEFAULT PASSWORD REQUIRE CURRENT OPTIONAL FAILED_LOGIN_ATTEMPTS 3 PASSWORD_LOCK_TIME UNBOUNDED COMMENT 'it''s ours'",
    ]);
    expect(def.auth).toHaveLength(1);
    expect(def.auth[0]!.plugin).toBe('caching_sha2_password');
    expect(def.auth[0]!.authString).toEqual(Buffer.from('24412430303524031A69', 'hex'));
    expect(def.defaultRoles.map(renderTokens)).toEqual(['`reader`@`%`', '`writer`@`%`']);
    expect(attributeClauses(def, 'mysql', false)).toEqual([
      'REQUIRE X509',
      'WITH MAX_USER_CONNECTIONS 3',
      'PASSWORD EXPIRE NEVER',
      'PASSWORD HISTORY 5',
      'PASSWORD REUSE INTERVAL DEFAULT',
      'PASSWORD REQUIRE CURRENT OPTIONAL',
      'FAILED_LOGIN_ATTEMPTS 3',
      'PASSWORD_LOCK_TIME UNBOUNDED',
      "COMMENT 'it\\'s ours'",
    ]);
  });

  it('refuses output it does not understand', () => {
    expect(() => parseCreateUser(['CREATE USER `a`@`%` FROBNICATE'])).toThrow(SqlParseError);
    expect(() => parseCreateUser(['DROP USER `a`@`%`'])).toThrow(SqlParseError);
  });
});

describe('login names', () => {
  it('a bare name is the user name, @ included', () => {
    expect(parseLogin('app', 80)).toEqual({ user: 'app' });
    expect(parseLogin('svc@corp', 80)).toEqual({ user: 'svc@corp' });
  });

  it("'user'@'host' and `user`@`host` name the host", () => {
    expect(parseLogin("'app'@'10.0.%'", 80)).toEqual({ user: 'app', host: '10.0.%' });
    expect(parseLogin("`o'brien`@`%`", 80)).toEqual({ user: "o'brien", host: '%' });
    expect(parseLogin("'a\\'b'@''", 80)).toEqual({ user: "a'b", host: '' });
  });

  it('rejects what the server cannot store exactly', () => {
    expect(() => parseLogin('', 80)).toThrow(UnsafeIdentifierError);
    expect(() => parseLogin('a\u0000b', 80)).toThrow(/NUL/);
    expect(() => parseLogin('emoji😀', 80)).toThrow(/Basic Multilingual Plane/);
    expect(() => parseLogin('x'.repeat(33), 32)).toThrow(/at most 32/);
    expect(parseLogin('é'.repeat(32), 32)).toEqual({ user: 'é'.repeat(32) });
    expect(() => parseLogin("'app'@'h' ; DROP", 80)).toThrow(UnsafeIdentifierError);
    expect(() => parseLogin("'unterminated", 80)).toThrow(UnsafeIdentifierError);
  });
});

describe('admin privilege check', () => {
  const admin = (lines: string[]) => parseGrants(lines, { user: 'adm', host: 'localhost' });
  // Parsed inside each test (not at collection time), so a mutant in the parser is active when it runs.
  const templateFacts = () =>
    parseGrants(['GRANT SELECT ON `shop`.* TO `app`@`%`', 'GRANT `r` TO `app`@`%`'], {
      user: 'app',
      host: '%',
    });

  it('ALL PRIVILEGES WITH GRANT OPTION (and admin option on roles) is enough', () => {
    const a = admin([
      'GRANT ALL PRIVILEGES ON *.* TO `adm`@`localhost` WITH GRANT OPTION',
      'GRANT `r` TO `adm`@`localhost` WITH ADMIN OPTION',
    ]);
    expect(adminGaps(a, templateFacts(), 'dual-user', 'mariadb')).toEqual([]);
  });

  it('names what is missing', () => {
    const a = admin(['GRANT SELECT ON *.* TO `adm`@`localhost`']);
    expect(adminGaps(a, [], 'single', 'mariadb')).toEqual([
      'CREATE USER (global, to alter and create accounts)',
    ]);
    const gaps = adminGaps(a, templateFacts(), 'dual-user', 'mariadb');
    expect(gaps).toContain('SELECT ON `shop`.* WITH GRANT OPTION');
    expect(gaps).toContain('ADMIN OPTION on role `r`');
    expect(gaps).toContain("PROCESS (global, to see the old login's sessions)");
  });

  it('a database-level grant option covers tables of that database only', () => {
    const a = admin([
      'GRANT CREATE USER, PROCESS, SUPER ON *.* TO `adm`@`localhost`',
      'GRANT SELECT ON `shop`.* TO `adm`@`localhost` WITH GRANT OPTION',
    ]);
    const t = parseGrants(
      ['GRANT SELECT ON `shop`.`t` TO `app`@`%`', 'GRANT SELECT ON `other`.`t` TO `app`@`%`'],
      { user: 'app', host: '%' },
    );
    expect(adminGaps(a, t, 'dual-user', 'mariadb')).toEqual([
      'SELECT on mysql.* (to read accounts and their grants)',
      'SELECT ON `other`.`t` WITH GRANT OPTION',
    ]);
  });
});

describe('grant replay: differences that only an option or a name can show', () => {
  const owner = { user: 'app', host: '%' };
  const target = { user: 'app_b', host: '%' };
  const facts = (...lines: string[]) => parseGrants(lines, owner);
  const replay = (template: GrantFact[], other: GrantFact[], variant: 'mysql' | 'mariadb' = 'mariadb') =>
    grantStatements(template, diffGrants(template, other).missing, target, variant);

  it('a login that lacks only the GRANT OPTION gets the whole grant again, with the option', () => {
    const template = facts(
      'GRANT SELECT ON `x`.* TO `app`@`%`',
      'GRANT SELECT, INSERT ON `y`.* TO `app`@`%` WITH GRANT OPTION',
    );
    const other = facts('GRANT SELECT ON `x`.* TO `app`@`%`', 'GRANT SELECT, INSERT ON `y`.* TO `app`@`%`');
    expect(diffGrants(template, other).missing.map(describeGrant)).toEqual(['GRANT OPTION ON `y`.*']);
    expect(replay(template, other)).toEqual([
      "GRANT SELECT, INSERT ON `y`.* TO 'app_b'@'%' WITH GRANT OPTION",
    ]);
  });

  it('a grant option alone (USAGE WITH GRANT OPTION) is replayed as USAGE with the option', () => {
    const template = facts('GRANT USAGE ON `z`.* TO `app`@`%` WITH GRANT OPTION');
    expect(template.map(describeGrant)).toEqual(['GRANT OPTION ON `z`.*']);
    expect(replay(template, [])).toEqual(["GRANT USAGE ON `z`.* TO 'app_b'@'%' WITH GRANT OPTION"]);
  });

  it('a login that lacks only the ADMIN OPTION of a role gets the role again with it', () => {
    const template = facts('GRANT `r1` TO `app`@`%`', 'GRANT `r2` TO `app`@`%` WITH ADMIN OPTION');
    const other = facts('GRANT `r1` TO `app`@`%`', 'GRANT `r2` TO `app`@`%`');
    expect(diffGrants(template, other).missing.map(describeGrant)).toEqual(['ADMIN OPTION on role `r2`']);
    expect(replay(template, other)).toEqual(["GRANT `r2` TO 'app_b'@'%' WITH ADMIN OPTION"]);
    // The admin option of another role does not spill over.
    expect(replay(template, facts('GRANT `r2` TO `app`@`%` WITH ADMIN OPTION'))).toEqual([
      "GRANT `r1` TO 'app_b'@'%'",
    ]);
  });

  it('column names with dots stay one quoted name (never schema-qualified)', () => {
    const template = facts('GRANT SELECT (`a.b`, `c`) ON `shop`.`t.1` TO `app`@`%`');
    expect(template.map(describeGrant)).toEqual([
      'SELECT (`a.b`) ON `shop`.`t.1`',
      'SELECT (`c`) ON `shop`.`t.1`',
    ]);
    expect(replay(template, [])).toEqual(["GRANT SELECT (`a.b`, `c`) ON `shop`.`t.1` TO 'app_b'@'%'"]);
    expect(revokeStatements(template, target, 'mysql')).toEqual([
      "REVOKE SELECT (`a.b`) ON `shop`.`t.1` FROM 'app_b'@'%'",
      "REVOKE SELECT (`c`) ON `shop`.`t.1` FROM 'app_b'@'%'",
    ]);
  });

  it('extra facts of every kind are revoked, per variant, each statement once', () => {
    const extra = facts(
      'GRANT SELECT ON `x`.* TO `app`@`%` WITH GRANT OPTION',
      'GRANT `r`@`%` TO `app`@`%` WITH ADMIN OPTION',
      'REVOKE DELETE ON `mysql`.* FROM `app`@`%`',
      'SET DEFAULT ROLE `r`@`%` TO `app`@`%`',
    );
    expect(revokeStatements(extra, target, 'mysql')).toEqual([
      "REVOKE SELECT ON `x`.* FROM 'app_b'@'%'",
      "REVOKE GRANT OPTION ON `x`.* FROM 'app_b'@'%'",
      "REVOKE `r`@`%` FROM 'app_b'@'%'",
      "GRANT DELETE ON `mysql`.* TO 'app_b'@'%'",
      "SET DEFAULT ROLE NONE TO 'app_b'@'%'",
    ]);
    expect(revokeStatements(extra, target, 'mariadb')).toContain(
      "REVOKE ADMIN OPTION FOR `r`@`%` FROM 'app_b'@'%'",
    );
  });

  it('default roles: several on MySQL, the first on MariaDB, NONE when the template has none', () => {
    const template = facts('SET DEFAULT ROLE `r1`@`%`,`r2`@`%` TO `app`@`%`');
    expect(template.map(describeGrant)).toEqual(['default role `r1`@`%`', 'default role `r2`@`%`']);
    expect(replay(template, [], 'mysql')).toEqual(["SET DEFAULT ROLE `r1`@`%`, `r2`@`%` TO 'app_b'@'%'"]);
    expect(replay(template, [], 'mariadb')).toEqual(["SET DEFAULT ROLE `r1`@`%` FOR 'app_b'@'%'"]);
    expect(facts('SET DEFAULT ROLE NONE FOR `app`@`%`')).toEqual([]);
    expect(revokeStatements(template, target, 'mariadb')).toEqual(["SET DEFAULT ROLE NONE FOR 'app_b'@'%'"]);
  });

  it('a partial revoke missing on the other login is applied after the grants', () => {
    const template = facts('GRANT SELECT ON *.* TO `app`@`%`', 'REVOKE SELECT ON `mysql`.* FROM `app`@`%`');
    const other = facts('GRANT SELECT ON *.* TO `app`@`%`');
    expect(replay(template, other, 'mysql')).toEqual(["REVOKE SELECT ON `mysql`.* FROM 'app_b'@'%'"]);
  });

  it('ALL is ALL PRIVILEGES; USAGE is no fact; a repeated line is one fact; objects of every form', () => {
    expect(facts('GRANT ALL ON `x`.* TO `app`@`%`').map(describeGrant)).toEqual(['ALL PRIVILEGES ON `x`.*']);
    expect(facts('GRANT USAGE ON *.* TO `app`@`%`')).toEqual([]);
    expect(facts('GRANT SELECT ON `x`.* TO `app`@`%`', 'GRANT SELECT ON `x`.* TO `app`@`%`')).toHaveLength(1);
    expect(
      facts(
        'GRANT EXECUTE ON FUNCTION `x`.`f` TO `app`@`%`',
        'GRANT EXECUTE ON PACKAGE BODY `x`.`p` TO `app`@`%`',
        'GRANT SELECT ON TABLE `x`.`t` TO `app`@`%`',
        'GRANT SELECT ON `t` TO `app`@`%`',
      ).map(describeGrant),
    ).toEqual([
      'EXECUTE ON FUNCTION `x`.`f`',
      'EXECUTE ON PACKAGE BODY `x`.`p`',
      'SELECT ON TABLE `x`.`t`',
      'SELECT ON `t`',
    ]);
  });

  it('refuses what it cannot place, naming the line', () => {
    const bad = (line: string, message: RegExp) => {
      expect(() => parseGrants(['GRANT SELECT ON `x`.* TO `app`@`%`', line], owner)).toThrow(SqlParseError);
      expect(() => parseGrants(['GRANT SELECT ON `x`.* TO `app`@`%`', line], owner)).toThrow(message);
    };
    bad('SET DEFAULT ROLE `r`', /^SHOW GRANTS line 2: SET DEFAULT ROLE without grantee$/);
    bad('SET DEFAULT ROLE `r` FOR `app`@`%` x', /line 2: unexpected tokens after the grantee/);
    bad('SET DEFAULT ROLE `r`.`s` FOR `app`@`%`', /line 2: unexpected role name/);
    bad('DENY SELECT ON `x`.* TO `app`@`%`', /line 2: line is neither GRANT, REVOKE nor SET DEFAULT ROLE/);
    bad('REVOKE `r` FROM `app`@`%`', /line 2: REVOKE of a role/);
    bad('GRANT SELECT ON `x`.* FROM `app`@`%`', /line 2: no grantee/);
    bad('GRANT `r`@ TO `app`@`%`', /line 2: unexpected role name/);
    bad('GRANT `r` `s` TO `app`@`%`', /line 2: unexpected role name/);
    bad('GRANT SELECT (`a`) x ON `x`.`t` TO `app`@`%`', /line 2: unterminated column list/);
    bad('GRANT SELECT (`a` `b`) ON `x`.`t` TO `app`@`%`', /line 2: unexpected column/);
    bad('GRANT SELECT (,) ON `x`.`t` TO `app`@`%`', /line 2: unexpected column/);
    bad('GRANT `s` ON `x`.* TO `app`@`%`', /line 2: unexpected privilege/);
    bad('GRANT SELECT ON `x`. TO `app`@`%`', /line 2: unexpected object/);
    bad('GRANT SELECT ON TABLE TO `app`@`%`', /line 2: unexpected object/);
    bad('GRANT SELECT ON `x`.`t` `u` TO `app`@`%`', /line 2: unexpected tokens in object/);
    bad('GRANT SELECT ON `x`.* TO `other`@`%`', /line 2: grantee is not the account asked about/);
    bad('GRANT ON `x`.* TO `app`@`%`', /line 2: unexpected privilege/);
    bad('GRANT SELECT `s` ON `x`.* TO `app`@`%`', /line 2: unexpected privilege/);
    bad('GRANT (`a`) ON `x`.`t` TO `app`@`%`', /line 2: unexpected privilege/);
    bad('GRANT SELECT (*) ON `x`.`t` TO `app`@`%`', /line 2: unexpected column/);
    bad('GRANT `r`@`h` `x` TO `app`@`%`', /line 2: unexpected role name/);
  });

  it('extra facts are reported as extra (so they are revoked); CREATE ROLE is a privilege, not SET DEFAULT ROLE', () => {
    const template = facts('GRANT SELECT ON `x`.* TO `app`@`%`');
    const other = facts('GRANT SELECT, DELETE ON `x`.* TO `app`@`%`', 'GRANT `r` TO `app`@`%`');
    expect(diffGrants(template, other).extra.map(describeGrant)).toEqual(['DELETE ON `x`.*', 'role `r`']);
    expect(facts('GRANT CREATE ROLE, DROP ROLE ON *.* TO `app`@`%`').map(describeGrant)).toEqual([
      'CREATE ROLE ON *.*',
      'DROP ROLE ON *.*',
    ]);
  });
});
