/**
 * Follows README.md's "From zero to your first rotation" step by step: every
 * ```bash block of that section, in order, in one shell, with `db-rotator` on
 * PATH, against real PostgreSQL and the Temporal dev server. Only the reader's
 * own values (the ```sh block: server, logins, passwords) come from the test,
 * and credential ids get a unique prefix (the dev server is shared).
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escapeIdentifier } from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, SecretCipher } from '../../src/store';
import { parseKeyring } from '../../src/store/crypto';
import { freePort } from '../helpers/faults';
import { recordCodecKey } from '../helpers/leak-ledger';
import { freshPg, pgConnect, type PgNamespace } from '../helpers/pg';
import { REPO_ROOT, services, uniqueSuffix } from '../helpers/services';
import { uniqueTaskQueue } from '../helpers/temporal';

const SECTION = '## From zero to your first rotation';

/** The ```bash blocks of the walk-through section, in order. */
function walkthroughBlocks(readme: string): string[] {
  const start = readme.indexOf(SECTION);
  if (start < 0) throw new Error(`README has no "${SECTION}" section`);
  const end = readme.indexOf('\n## ', start + SECTION.length);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function run(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-euo', 'pipefail', '-c', script],
      { cwd, env, timeout: 280_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, out: `${stdout}${stderr}` });
      },
    );
  });
}

describe('README walk-through', () => {
  let pg: PgNamespace;
  let dir: string;

  beforeEach(async () => {
    pg = await freshPg();
    dir = mkdtempSync(join(tmpdir(), 'rotator-readme-'));
  });
  afterEach(async () => {
    await pg?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keys → admin → app credential → import → dry-run → rotate → status → history, as written', async () => {
    const blocks = walkthroughBlocks(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
    expect(blocks.length).toBeGreaterThanOrEqual(7);
    const prefix = `orders-${uniqueSuffix()}`;
    const script = blocks.join('\n').replaceAll('orders/', `${prefix}/`);
    for (const step of [
      'keys generate',
      'worker',
      'credentials add',
      'credentials import',
      '--dry-run',
      '--wait',
      'status',
      'history',
    ]) {
      expect(script, step).toContain(step);
    }

    const appPassword = 'readme-initial-Pw1';
    const appUser = await pg.createLogin('readme_app', appPassword);
    await pg.admin.query('CREATE TABLE public.orders (id int)');
    await pg.admin.query(`GRANT SELECT, INSERT ON public.orders TO ${escapeIdentifier(appUser)}`);

    // `db-rotator` as the reader has it after `npm install -g`: here the CLI from this checkout.
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'db-rotator'),
      `#!/bin/sh\nexec "${join(REPO_ROOT, 'node_modules', '.bin', 'tsx')}" "${join(REPO_ROOT, 'src', 'client.ts')}" "$@"\n`,
    );
    chmodSync(join(bin, 'db-rotator'), 0o755);
    const work = join(dir, 'work');
    mkdirSync(work);

    const env: NodeJS.ProcessEnv = {
      PATH: `${bin}:${process.env.PATH}`,
      HOME: process.env.HOME,
      USER: 'readme-reader',
      // the reader's ```sh block
      PGHOST: services.postgres.host,
      PGPORT: String(services.postgres.port),
      PGDATABASE: pg.database,
      ROTATOR_TLS_CA_FILE: services.tls.caFile,
      ADMIN_USER: services.postgres.user,
      ADMIN_PASSWORD: services.postgres.password,
      APP_USER: appUser,
      APP_PASSWORD: appPassword,
      // their Temporal server; a task queue and ports of their own
      TEMPORAL_ADDRESS: services.temporalAddress,
      ROTATOR_TASK_QUEUE: uniqueTaskQueue('readme'),
      ROTATOR_HEALTH_PORT: String(await freePort()),
      ROTATOR_METRICS_PORT: '0',
    };
    const result = await run(script, work, env);
    // The end-of-suite scans decode this run's history with the codec key the reader generated.
    const keyFile = join(work, 'rotator-keys.env');
    const codecLine = existsSync(keyFile)
      ? readFileSync(keyFile, 'utf8')
          .split('\n')
          .find((l) => l.startsWith('ROTATOR_CODEC_KEYS='))
      : undefined;
    if (codecLine) recordCodecKey(codecLine.slice('ROTATOR_CODEC_KEYS='.length));
    const output = `${result.out}\n--- worker.log\n${(() => {
      try {
        return readFileSync(join(work, 'worker.log'), 'utf8');
      } catch {
        return '';
      }
    })()}`;
    expect(result.code, output).toBe(0);
    expect(result.out).toContain('result       the rotation can run');
    expect(result.out).toContain('outcome: rotated');
    expect(result.out).toContain('phase        done (rotated)');
    expect(result.out).toMatch(/rotated/);
    expect(result.out).not.toContain(appPassword);

    // What the reader ends with: the new password logs in, the old login is gone.
    const keys = Object.fromEntries(
      readFileSync(join(work, 'rotator-keys.env'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    ) as Record<string, string>;
    const store = await openStore(
      { backend: 'file', path: join(work, 'rotator-state', 'store.json') },
      new SecretCipher(parseKeyring(keys.ROTATOR_STORE_KEYS!)),
    );
    try {
      const current = await store.getSecret(`${prefix}/app`, 'CURRENT');
      expect(current.version).toBe(2);
      expect(current.username).not.toBe(appUser);
      const c = await pgConnect(pg.database, current.username, current.password);
      await c.query('SELECT count(*) FROM public.orders');
      await c.end();
      await expect(pgConnect(pg.database, appUser, appPassword)).rejects.toThrow();
      const actions = (await store.listAudit(`${prefix}/app`)).map((a) => a.action);
      expect(actions).toEqual(
        expect.arrayContaining(['rotation-planned', 'rotation-started', 'rotation-rotated']),
      );
    } finally {
      await store.close();
    }
  }, 300_000); // ~10 CLI processes under tsx, a worker that bundles at start, a 10 s grace
});
