import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, services } from '../helpers/services';
import { withFileDeliveredApp } from '../helpers/with-pg-rig';

interface WorkloadResult {
  ok: number;
  failed: number;
  errors: Record<string, number>;
  versions: number[];
}

/** examples/python/workload.py: 4 processes × 4 psycopg connections reading the file target. */
function startPythonWorkload(dir: string) {
  const child = spawn(
    services.python,
    [join(REPO_ROOT, 'examples', 'python', 'workload.py'), dir, '--refresh', '1.0'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  return {
    started: async () => {
      for (let i = 0; i < 200 && !stderr.includes('started'); i++)
        await new Promise((r) => setTimeout(r, 50));
      if (!stderr.includes('started')) throw new Error(`python workload did not start: ${stderr}`);
    },
    async stop(): Promise<WorkloadResult> {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`python workload exited ${code}: ${stderr}`);
      return JSON.parse(stdout.trim().split('\n').pop()!) as WorkloadResult;
    },
  };
}

describe('a Python application (psycopg, 4 processes × 4 connections) reads the file target through a rotation', () => {
  const { t, app } = withFileDeliveredApp('delivery-python-', 'pg-py', async (pg, login) => {
    await pg.admin.query(`CREATE TABLE py_counter (n int)`);
    await pg.admin.query(`GRANT INSERT ON py_counter TO "${login}"`);
  });

  it('0 failed operations across two rotations (old login dropped each time)', async () => {
    // The first rotation publishes the directory; the application starts on it.
    expect(
      (await t.rig.rotate({ credentialId: app.credentialId, graceMs: 0, drainTimeoutMs: 0 })).outcome,
    ).toBe('rotated');
    const workload = startPythonWorkload(app.dir);
    await workload.started();
    await new Promise((r) => setTimeout(r, 1500));
    for (let i = 0; i < 2; i++) {
      // Grace longer than the applications' refresh period (1 s + phase): everyone moves before revoke.
      const r = await t.rig.rotate({ credentialId: app.credentialId, graceMs: 4000, drainTimeoutMs: 2000 });
      expect(r.outcome).toBe('rotated');
      await new Promise((r) => setTimeout(r, 1000));
    }
    const result = await workload.stop();
    console.log(`python workload: ${result.ok} ok, ${result.failed} failed`, result.errors, result.versions);
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(1000);
    expect(result.versions).toEqual([2, 3, 4]);
    const rows = await t.pg.admin.query<{ n: string }>('SELECT count(*) AS n FROM py_counter');
    expect(Number(rows.rows[0]!.n)).toBe(result.ok);
  });
});
