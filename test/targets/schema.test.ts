import { describe, expect, it } from 'vitest';
import { parseCredentialDefinition } from '../../src/store/schema';

const base = { id: 'orders/app', engine: 'postgres', host: 'db', port: 5432, baseUsername: 'app' };

function error(targets: unknown, engine = 'postgres'): string {
  try {
    parseCredentialDefinition({ ...base, engine, targets });
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('targets in a credential definition', () => {
  it('fills defaults and survives a second parse (stored definitions are parsed again on load)', () => {
    const d = parseCredentialDefinition({
      ...base,
      targets: [
        { type: 'file', dir: '/etc/creds/orders' },
        { type: 'pgbouncer', authFile: '/etc/pgbouncer/userlist.txt' },
        { type: 'aws-secrets-manager', secretId: 'prod/orders/app' },
        { type: 'webhook', url: 'https://deploy.example/hooks/rotation', signingSecretEnv: 'HOOK_KEY' },
      ],
    });
    expect(d.targets?.[0]).toEqual({
      type: 'file',
      dir: '/etc/creds/orders',
      dirMode: '0700',
      fileMode: '0600',
      renderings: [],
    });
    expect(d.targets?.[1]).toMatchObject({ host: '127.0.0.1', port: 6432 });
    expect(d.targets?.[2]).toMatchObject({ createIfMissing: true });
    expect(d.targets?.[3]).toMatchObject({ timeoutMs: 5000, events: expect.arrayContaining(['failed']) });
    expect(parseCredentialDefinition(d)).toEqual(d);
  });

  it('names each bad key path', () => {
    expect(error([{ type: 'ftp' }])).toMatch(/targets\[0\].type: expected one of file, pgbouncer/);
    expect(error([{ type: 'file', dir: 'relative/dir' }])).toMatch(
      /targets\[0\]\.dir: must be an absolute path/,
    );
    expect(error([{ type: 'file', dir: '/a/../b' }])).toMatch(/targets\[0\]\.dir/);
    expect(error([{ type: 'file', dir: '/a', fileMode: '644x' }])).toMatch(
      /targets\[0\]\.fileMode: expected an octal mode/,
    );
    expect(error([{ type: 'file', dir: '/a', colour: 'red' }])).toMatch(/targets\[0\]\.colour: unknown key/);
    expect(
      error([
        { type: 'file', dir: '/a' },
        { type: 'file', dir: '/a' },
      ]),
    ).toMatch(/targets\[1\]\.dir: the same directory/);
    expect(error([{ type: 'file', dir: '/a', renderings: ['pgpass'] }], 'redis')).toMatch(
      /targets\[0\]\.renderings: pgpass is for postgres/,
    );
    expect(error([{ type: 'pgbouncer', authFile: '/x' }], 'mysql')).toMatch(
      /targets\[0\]\.type: pgbouncer fronts postgres/,
    );
    expect(error([{ type: 'webhook', url: 'http://hooks.example/x', signingSecretEnv: 'K' }])).toMatch(
      /targets\[0\]\.url: plain http to a non-loopback host needs allowInsecureHttp/,
    );
    expect(error([{ type: 'webhook', url: 'https://u:p@hooks.example/x', signingSecretEnv: 'K' }])).toMatch(
      /must not contain credentials/,
    );
    expect(
      error([{ type: 'webhook', url: 'https://hooks.example/x', signingSecretEnv: 'not a name' }]),
    ).toMatch(/signingSecretEnv: expected an environment variable name/);
  });

  it('never echoes a value in the error (a misplaced secret must not leak)', () => {
    const msg = error([
      { type: 'webhook', url: 'https://hooks.example/x', signingSecretEnv: 's3cr3t-value' },
    ]);
    expect(msg).not.toContain('s3cr3t-value');
  });
});
