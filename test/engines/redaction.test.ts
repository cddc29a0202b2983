import { describe, expect, it } from 'vitest';
import {
  mysqlRetainStatement,
  mysqlSetStatement,
  mariadbSetHashesStatement,
  nativePasswordHash,
} from '../../src/engines/mysql/auth';
import { redactMysqlStatement } from '../../src/engines/mysql/connection';
import { redactPgStatement } from '../../src/engines/postgres/sql';
import { redactRedisCommand } from '../../src/engines/redis';
import { passwordHashRule } from '../../src/engines/redis/acl';
import { scramSha256Verifier } from '../../src/engines/postgres/scram';
import { secretFormsOf } from '../../src/engines';
import { redactValues, withRedactedErrors } from '../../src/engines/redaction';
import { ConfigError, TransientError } from '../../src/errors';

const pw = "it's a \\secret\\ pw";
const account = { user: 'app', host: '%' };

describe('dry-run redaction', () => {
  it('PostgreSQL: the SCRAM verifier of CREATE/ALTER ROLE', () => {
    const verifier = scramSha256Verifier(pw);
    const create = redactPgStatement(`CREATE ROLE "a" LOGIN PASSWORD '${verifier}' CONNECTION LIMIT 3`);
    expect(create).toBe(`CREATE ROLE "a" LOGIN PASSWORD '<redacted>' CONNECTION LIMIT 3`);
    expect(redactPgStatement(`ALTER ROLE "a" PASSWORD E'x\\\\y''z'`)).toBe(
      `ALTER ROLE "a" PASSWORD '<redacted>'`,
    );
    // Settings whose name starts with "password" are not touched.
    expect(redactPgStatement(`ALTER ROLE "a" SET password_encryption = 'scram-sha-256'`)).toContain(
      'scram-sha-256',
    );
  });

  it('MySQL/MariaDB: plaintext, native hashes and hex auth strings', () => {
    const statements = [
      mysqlRetainStatement(account, 'caching_sha2_password', pw),
      mysqlSetStatement(account, 'mysql_native_password', pw),
      mysqlSetStatement(account, 'caching_sha2_password', pw),
      mariadbSetHashesStatement(account, [nativePasswordHash(pw), nativePasswordHash('other')]),
      mariadbSetHashesStatement(account, [nativePasswordHash(pw)]),
      `ALTER USER 'app'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('${pw.replace(/[\\']/g, '\\$&')}')`,
      `ALTER USER 'app'@'%' IDENTIFIED WITH caching_sha2_password AS 0x244124303035 COMMENT 'as is'`,
    ].map(redactMysqlStatement);
    expect(statements).toEqual([
      `ALTER USER 'app'@'%' IDENTIFIED WITH caching_sha2_password BY '<redacted>' RETAIN CURRENT PASSWORD`,
      `ALTER USER 'app'@'%' IDENTIFIED WITH mysql_native_password AS '<redacted>'`,
      `ALTER USER 'app'@'%' IDENTIFIED WITH caching_sha2_password BY '<redacted>'`,
      `ALTER USER 'app'@'%' IDENTIFIED VIA mysql_native_password USING '<redacted>' OR mysql_native_password USING '<redacted>'`,
      `ALTER USER 'app'@'%' IDENTIFIED BY PASSWORD '<redacted>'`,
      `ALTER USER 'app'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('<redacted>')`,
      `ALTER USER 'app'@'%' IDENTIFIED WITH caching_sha2_password AS '<redacted>' COMMENT 'as is'`,
    ]);
  });

  it('Redis: password rules and requirepass', () => {
    expect(
      redactRedisCommand(['ACL', 'SETUSER', 'u', 'resetpass', passwordHashRule(pw), `>${pw}`, '~k:*']),
    ).toBe('ACL SETUSER u resetpass #<redacted> ><redacted> ~k:*');
    expect(redactRedisCommand(['CONFIG', 'SET', 'requirepass', pw])).toBe(
      'CONFIG SET requirepass <redacted>',
    );
    expect(redactRedisCommand(['ACL', 'SETUSER', 'u', '(~a:* +get)'])).toBe('ACL SETUSER u "(~a:* +get)"');
  });

  it('by value: a password and the hashes its engine sends, wherever they appear', () => {
    const mysql = `x ${pw} ${nativePasswordHash(pw)} ${nativePasswordHash(pw).slice(1)} y`;
    expect(redactValues(mysql, secretFormsOf('mysql', pw))).toBe('x <redacted> <redacted> <redacted> y');
    const redis = `x ${pw} ${passwordHashRule(pw).slice(1)} y`;
    expect(redactValues(redis, secretFormsOf('redis', pw))).toBe('x <redacted> <redacted> y');
    for (const kind of ['postgres', 'mongodb'] as const) {
      expect(redactValues(`x ${pw} y`, secretFormsOf(kind, pw))).toBe('x <redacted> y');
    }
  });

  it('withRedactedErrors: errors of any engine method leave without the secrets, class and retryability kept', async () => {
    const hash = nativePasswordHash(pw);
    const engine = {
      kind: 'mysql' as const,
      async describe() {
        return 'server';
      },
      async changePassword(login: string) {
        throw new ConfigError(`cannot change ${login}: statement had ${hash}`);
      },
      async verifyLogin() {
        throw new TransientError(`lost connection while sending ${pw}`);
      },
    };
    const wrapped = withRedactedErrors(engine, secretFormsOf('mysql', pw));
    expect(wrapped.kind).toBe('mysql');
    expect(await wrapped.describe()).toBe('server');
    const err = await wrapped.changePassword('app').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).retryable).toBe(false);
    expect((err as Error).message).toBe('cannot change app: statement had <redacted>');
    expect((err as Error).stack).not.toContain(hash);
    const transient = await wrapped.verifyLogin().catch((e: unknown) => e);
    expect(transient).toBeInstanceOf(TransientError);
    expect((transient as Error).message).toBe('lost connection while sending <redacted>');
    // Unwrapped, the same call leaks: the wrapper is what redacts.
    expect(await engine.changePassword('app').catch((e: Error) => e.message)).toContain(hash);
  });
});
