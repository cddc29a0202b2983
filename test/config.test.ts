/**
 * The documented production configuration (examples/production) loads as
 * written: config file + environment, with only the secrets that the example
 * leaves to a secret manager filled in. Every key of the example is
 * documented in its README.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';
import { generateKeyBase64 } from '../src/store/crypto';
import { REPO_ROOT } from './helpers/services';

const dir = join(REPO_ROOT, 'examples', 'production');

function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

describe('examples/production', () => {
  const fileEnv = readEnvFile(join(dir, 'rotator.env'));
  const secrets = {
    ROTATOR_STORE_KEYS: `store-1:${generateKeyBase64()}`,
    ROTATOR_CODEC_KEYS: `codec-1:${generateKeyBase64()}`,
    ROTATOR_CODEC_SERVER_TOKEN: 'a-token-of-at-least-16-chars',
  };

  it('loads: config file overlaid by the environment', () => {
    const cfg = loadConfig({ ...fileEnv, ...secrets, ROTATOR_CONFIG: join(dir, 'config.json') });
    expect(cfg.temporal).toEqual({
      address: 'temporal-frontend.temporal.svc:7233',
      namespace: 'db-rotation',
      taskQueue: 'db-rotation',
    });
    expect(cfg.store).toEqual({
      backend: 'postgres',
      // the variable (with the password) wins over the file
      connectionString: fileEnv.ROTATOR_STORE_URL,
      schema: 'rotator',
    });
    expect(cfg).toMatchObject({
      logLevel: 'info',
      metricsHost: '0.0.0.0',
      metricsPort: 9464,
      healthPort: 9465,
      shutdownGraceMs: 60000,
      codecServerPort: 8888,
      codecServerCorsOrigin: 'https://temporal-ui.internal',
      actor: 'db-rotator-worker',
    });
    expect(cfg.storeKeyring.activeKeyId).toBe('store-1');
    expect(cfg.codecKeyring.activeKeyId).toBe('codec-1');
  });

  it('the placeholders are not keys: without real ones the error names the key', () => {
    expect(() => loadConfig({ ...fileEnv, ROTATOR_CONFIG: join(dir, 'config.json') })).toThrow(
      /configuration: storeKeys: /,
    );
  });

  it('every key and variable of the example is explained in its README', () => {
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const keys = Object.entries(config).flatMap(([k, v]) =>
      v && typeof v === 'object' ? Object.keys(v).map((sub) => `${k}.${sub}`) : [k],
    );
    for (const key of keys) expect(readme, key).toContain(`\`${key}\``);
    for (const name of Object.keys(fileEnv)) expect(readme, name).toContain(`\`${name}\``);
  });
});
