import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AwsSecretsManagerSource } from '../../src/consumer/aws-source';
import { FileSource } from '../../src/consumer/file-source';
import { RotatingPgPool } from '../../src/consumer/pg-pool';
import type { ConsumerCredential } from '../../src/consumer/types';
import { AwsSecretsManagerTarget } from '../../src/targets/aws-secrets-manager';
import { FileTarget } from '../../src/targets/file';
import { publishFiles } from '../../src/targets/file/layout';
import { awsSecretsManagerTargetSchema, fileTargetSchema } from '../../src/targets/schema';
import { delivered, deliveryStep, withMotoEnv } from '../helpers/delivery';
import { services, uniqueSuffix } from '../helpers/services';
import { addDualUserApp } from '../helpers/pg-rig';
import { withPgRig } from '../helpers/with-pg-rig';

withMotoEnv();

const v = (version: number, password: string) => delivered(version, password);
const step = deliveryStep;

async function nextVersion(
  source: { subscribe(l: (c: ConsumerCredential) => void): () => void },
  timeoutMs = 5000,
) {
  return new Promise<ConsumerCredential>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no new version seen')), timeoutMs);
    const off = source.subscribe((c) => {
      clearTimeout(t);
      off();
      resolve(c);
    });
  });
}

/** The source reads version 1 ('one'), then sees version 2 ('two') once `publish` makes it current; closes it. */
async function expectFollowsToV2(
  source: FileSource | AwsSecretsManagerSource,
  publish: () => Promise<unknown>,
): Promise<void> {
  try {
    expect(await source.current()).toEqual({ version: 1, username: 'app_v1', password: 'one' });
    const seen = nextVersion(source);
    await publish();
    expect(await seen).toEqual({ version: 2, username: 'app_v2', password: 'two' });
  } finally {
    await source.close();
  }
}

describe('consumer sources for delivered credentials', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'consumer-sources-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('FileSource follows a file-target directory (..data swaps) without polling', async () => {
    const dir = join(root, 'app');
    const target = await FileTarget.create(fileTargetSchema.parse({ type: 'file', dir }));
    await target.restore(step(v(1, 'one')));
    await expectFollowsToV2(new FileSource({ path: dir, pollMs: 0 }), () =>
      target.publishCurrent(step(v(1, 'one'), v(2, 'two'))),
    );
  });

  it("FileSource reads AWS's secret JSON (rotatorVersion) and a directory of one file per key", async () => {
    const aws = join(root, 'aws.json');
    writeFileSync(
      aws,
      JSON.stringify({
        engine: 'postgres',
        host: 'h',
        port: 5432,
        username: 'u',
        password: 'p',
        rotatorVersion: 7,
      }),
    );
    const a = new FileSource({ path: aws, pollMs: 0 });
    expect(await a.current()).toEqual({ version: 7, username: 'u', password: 'p' });
    await a.close();

    const keys = join(root, 'k8s-secret');
    const files = (ver: string, pw: string) =>
      new Map([
        ['username', 'u'],
        ['password', pw],
        ['rotatorVersion', ver],
      ]);
    await publishFiles(keys, files('3', 'p3'), { dirMode: 0o700, fileMode: 0o600 });
    const k = new FileSource({ path: keys, pollMs: 0 });
    try {
      expect(await k.current()).toEqual({ version: 3, username: 'u', password: 'p3' });
      const seen = nextVersion(k);
      await publishFiles(keys, files('4', 'p4'), { dirMode: 0o700, fileMode: 0o600 });
      expect(await seen).toEqual({ version: 4, username: 'u', password: 'p4' });
    } finally {
      await k.close();
    }
    // No version anywhere: refused, without echoing the content.
    const bare = join(root, 'bare');
    await publishFiles(
      bare,
      new Map([
        ['username', 'u'],
        ['password', 'TOPSECRET'],
      ]),
      { dirMode: 0o700, fileMode: 0o600 },
    );
    const b = new FileSource({ path: bare, pollMs: 0, readAttempts: 1 });
    const err = await b.current().catch((e: Error) => e);
    expect(String(err)).toMatch(/expected \{version: integer/);
    expect(String(err)).not.toContain('TOPSECRET');
    await b.close();
  });

  it('AwsSecretsManagerSource reads AWSCURRENT with a TTL', async () => {
    const secretId = `consumer-src/${uniqueSuffix()}`;
    const t = new AwsSecretsManagerTarget(
      awsSecretsManagerTargetSchema.parse({ type: 'aws-secrets-manager', secretId }),
    );
    await t.publishPending(step(v(1, 'one'), v(2, 'two'))); // AWSCURRENT v1, AWSPENDING v2
    try {
      await expectFollowsToV2(new AwsSecretsManagerSource({ secretId, ttlMs: 300 }), () =>
        t.publishCurrent(step(v(1, 'one'), v(2, 'two'))),
      );
    } finally {
      await t.close();
    }
  });

  describe('AwsSecretsManagerSource re-reads on an authentication failure (real rotation, PostgreSQL, moto)', () => {
    const t = withPgRig();

    it('a pool that never polls (TTL 10 min) still runs with 0 failed queries after the old login is dropped', async () => {
      const app = await t.pg.createLogin('app', 'initial-Pw-1');
      const secretId = `consumer-e2e/${uniqueSuffix()}`;
      const credentialId = await addDualUserApp(t.rig, t.pg, {
        login: app,
        password: 'initial-Pw-1',
        idPrefix: 'pg-aws',
        targets: [{ type: 'aws-secrets-manager', secretId }],
      });
      expect((await t.rig.rotate({ credentialId, graceMs: 0, drainTimeoutMs: 0 })).outcome).toBe('rotated');
      const source = new AwsSecretsManagerSource({ secretId, ttlMs: 600_000, random: () => 0.99 });
      // idle connections are closed quickly so new logins happen after revoke
      const pool = await RotatingPgPool.create({
        source,
        pool: {
          host: services.postgres.host,
          port: services.postgres.port,
          database: t.pg.database,
          max: 2,
          idleTimeoutMillis: 100,
        },
      });
      try {
        expect((await source.current()).version).toBe(2);
        await pool.query('SELECT 1');
        expect((await t.rig.rotate({ credentialId, graceMs: 0, drainTimeoutMs: 0 })).outcome).toBe('rotated');
        await new Promise((r) => setTimeout(r, 300));
        let failed = 0;
        for (let i = 0; i < 50; i++) await pool.query('SELECT 1').catch(() => failed++);
        expect(failed).toBe(0);
        expect((await source.current()).version).toBe(3); // learned by the auth failure, not by the TTL
      } finally {
        await pool.end();
        await source.close();
      }
    });
  });
});
