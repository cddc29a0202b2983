import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, services } from '../helpers/services';
import { withFileDeliveredApp } from '../helpers/with-pg-rig';

/**
 * The consumer library as users get it: `npm pack` of packages/consumer,
 * installed from the tarball into a scratch application outside the
 * repository (with only `pg` beside it), which then runs through a real
 * rotation reading the file target.
 */
const APP = `
const { FileSource } = require('@db-rotator/consumer/file-source');
const { RotatingPgPool } = require('@db-rotator/consumer/pg-pool');
const [dir, host, port, database] = process.argv.slice(2);
(async () => {
  const source = new FileSource({ path: dir, pollMs: 1000 });
  const pool = await RotatingPgPool.create({ source, pool: { host, port: Number(port), database, max: 4 } });
  let ok = 0, failed = 0, running = true;
  process.on('SIGTERM', () => (running = false));
  process.stderr.write('started');
  const loops = [0, 1, 2, 3].map(async () => {
    while (running) {
      try { await pool.query('SELECT 1'); ok++; } catch { failed++; }
      await new Promise((r) => setTimeout(r, 5));
    }
  });
  await Promise.all(loops);
  await pool.end();
  await source.close();
  process.stdout.write(JSON.stringify({ ok, failed, version: (await source.cached()).version }));
})().catch((e) => { process.stderr.write(String(e)); process.exit(1); });
`;

let scratch: string;
beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'consumer-app-'));
  const pkgDir = join(REPO_ROOT, 'packages', 'consumer');
  execFileSync('npm', ['pack', '--pack-destination', scratch], { cwd: pkgDir, stdio: 'pipe' });
  rmSync(join(pkgDir, 'dist'), { recursive: true, force: true });
  const tarball = readdirSync(scratch).find((f) => f.endsWith('.tgz'))!;
  const listing = execFileSync('tar', ['-tzf', join(scratch, tarball)]).toString();
  expect(listing).toContain('package/dist/consumer/index.d.ts');
  expect(listing).toContain('package/dist/consumer/file-source.js');
  expect(listing).toContain('package/README.md');
  // No TypeScript sources besides declarations.
  expect(listing.split('\n').filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', `./${tarball}`, 'pg@8.23.1'], {
    cwd: scratch,
    stdio: 'pipe',
  });
  writeFileSync(join(scratch, 'app.js'), APP);
}, 300_000);
afterAll(async () => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the consumer package installed from its tarball', () => {
  const { t, app } = withFileDeliveredApp('consumer-pkg-', 'pg-pkg');

  it('a scratch application runs through a rotation with 0 failed queries', async () => {
    expect(
      (await t.rig.rotate({ credentialId: app.credentialId, graceMs: 0, drainTimeoutMs: 0 })).outcome,
    ).toBe('rotated');
    const child = spawn(
      process.execPath,
      ['app.js', app.dir, services.postgres.host, String(services.postgres.port), t.pg.database],
      { cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    for (let i = 0; i < 200 && !err.includes('started'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(err).toContain('started');
    const r = await t.rig.rotate({ credentialId: app.credentialId, graceMs: 3000, drainTimeoutMs: 1000 });
    expect(r.outcome).toBe('rotated');
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    const result = JSON.parse(out) as { ok: number; failed: number; version: number };
    console.log(`packaged consumer: ${result.ok} ok, ${result.failed} failed`);
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(200);
    expect(result.version).toBe(3);
  });
});
