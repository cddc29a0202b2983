import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors';
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_CONSUMER_DISCOVERY_MS,
  DEFAULT_GRACE_MS,
  DEFAULT_MIGRATION_TIMEOUT_MS,
} from '../../src/shared/constants';
import { parseCredentialDefinition } from '../../src/store/schema';

const minimal = {
  id: 'orders-pg/app',
  engine: 'postgres',
  host: 'db.internal',
  port: 5432,
  baseUsername: 'app',
};

function message(input: unknown): string {
  try {
    parseCredentialDefinition(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected ConfigError');
}

describe('parseCredentialDefinition', () => {
  it('fills in defaults', () => {
    expect(parseCredentialDefinition(minimal)).toEqual({
      ...minimal,
      strategy: 'auto',
      loginNaming: 'alternate',
      policy: {
        graceMs: DEFAULT_GRACE_MS,
        migrationTimeoutMs: DEFAULT_MIGRATION_TIMEOUT_MS,
        drainTimeoutMs: DEFAULT_DRAIN_TIMEOUT_MS,
        consumerDiscoveryMs: DEFAULT_CONSUMER_DISCOVERY_MS,
        rotateEveryDays: 90,
      },
      verifyChecks: [],
      options: {},
      labels: {},
    });
  });

  it('keeps given values and fills missing policy fields', () => {
    const d = parseCredentialDefinition({
      ...minimal,
      database: 'orders',
      adminCredentialId: 'orders-pg/admin',
      strategy: 'dual-user',
      loginNaming: 'versioned',
      policy: { graceMs: 1000 },
      verifyChecks: ['SELECT 1 FROM orders LIMIT 1'],
      options: { ssl: { rejectUnauthorized: false } },
      labels: { team: 'payments' },
      expiresAt: '2030-01-01T00:00:00Z',
    });
    expect(d.policy).toEqual({
      graceMs: 1000,
      migrationTimeoutMs: DEFAULT_MIGRATION_TIMEOUT_MS,
      drainTimeoutMs: DEFAULT_DRAIN_TIMEOUT_MS,
      consumerDiscoveryMs: DEFAULT_CONSUMER_DISCOVERY_MS,
      rotateEveryDays: 90,
    });
    expect(d.strategy).toBe('dual-user');
    expect(d.options).toEqual({ ssl: { rejectUnauthorized: false } });
    expect(d).not.toHaveProperty('nothing');
  });

  it('does not add undefined optional keys', () => {
    expect(Object.keys(parseCredentialDefinition(minimal))).not.toContain('database');
  });

  it('names the credential and each bad key path', () => {
    const m = message({ ...minimal, id: 'x', port: '5432', policy: { graceMs: -1 }, labels: { a: 1 } });
    expect(m).toMatch(/^credential "x": /);
    expect(m).toContain('port: expected number, received string');
    expect(m).toContain('policy.graceMs: ');
    expect(m).toContain('labels.a: expected string, received number');
  });

  it('reports missing and unknown keys', () => {
    const m = message({ id: 'x', engine: 'postgres', port: 1, baseUsername: 'a', rotateEveryDay: 3 });
    expect(m).toContain('host: required');
    expect(m).toContain('rotateEveryDay: unknown key');
  });

  it('lists allowed engines', () => {
    expect(message({ ...minimal, engine: 'oracle' })).toContain(
      'engine: expected one of postgres, mysql, redis, mongodb',
    );
  });

  it('checks ids', () => {
    expect(message({ ...minimal, id: 'bad id' })).toMatch(
      /^credential definition: id: must be 1-200 letters/,
    );
    expect(message({ ...minimal, id: 'a'.repeat(201) })).toContain('id: must be 1-200');
    expect(parseCredentialDefinition({ ...minimal, id: 'A.b_c-d/e:f9' }).id).toBe('A.b_c-d/e:f9');
    expect(message({ ...minimal, adminCredentialId: 'a b' })).toContain('adminCredentialId: must be 1-200');
    expect(message({ ...minimal, adminCredentialId: minimal.id })).toContain(
      'adminCredentialId: must not be the credential itself',
    );
    expect(message({ ...minimal, id: undefined })).toContain('id: required');
  });

  it('checks baseUsername', () => {
    expect(message({ ...minimal, baseUsername: '' })).toContain('baseUsername: must not be empty');
    expect(message({ ...minimal, baseUsername: 'a\0b' })).toContain('baseUsername: must not contain a NUL');
    expect(message({ ...minimal, baseUsername: 'u'.repeat(129) })).toContain(
      'baseUsername: must be at most 128',
    );
    expect(
      parseCredentialDefinition({ ...minimal, baseUsername: 'ü'.repeat(128) }).baseUsername,
    ).toHaveLength(128);
  });

  it('checks ports, array items and dates', () => {
    expect(message({ ...minimal, port: 70000 })).toMatch(/port: /);
    expect(message({ ...minimal, port: 1.5 })).toMatch(/port: expected integer/);
    expect(message({ ...minimal, verifyChecks: ['ok', ''] })).toContain('verifyChecks[1]: must not be empty');
    expect(message({ ...minimal, expiresAt: 'soon' })).toContain('expiresAt: expected an ISO 8601 date/time');
  });

  it('checks nodes: replicating engines only, never the primary itself', () => {
    const nodes = [{ host: '10.0.0.2', port: 5433 }];
    const def = parseCredentialDefinition({ ...minimal, nodes, nodeSyncTimeoutMs: 5000 });
    expect(def).toMatchObject({ nodes, nodeSyncTimeoutMs: 5000 });
    expect(message({ ...minimal, engine: 'mongodb', nodes })).toContain(
      'nodes: not supported for engine mongodb yet (define each node as its own credential)',
    );
    expect(parseCredentialDefinition({ ...minimal, engine: 'redis', nodes }).nodes).toEqual(nodes);
    expect(message({ ...minimal, nodes: [{ host: minimal.host, port: minimal.port }] })).toContain(
      'nodes[0]: is the primary itself (host/port)',
    );
    expect(message({ ...minimal, nodes: [{ host: 'x' }], nodeSyncTimeoutMs: 0 })).toMatch(
      /nodes\[0\]\.port: required.*nodeSyncTimeoutMs/,
    );
  });

  it('rejects non-objects', () => {
    expect(message(null)).toBe('credential definition: expected an object, received null');
    expect(message([])).toBe('credential definition: expected an object, received array');
  });

  it('never echoes values', () => {
    const m = message({ ...minimal, port: 'hunter2-secret', options: 'hunter3-secret' });
    expect(m).not.toContain('hunter');
  });
});
