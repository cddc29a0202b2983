/**
 * Fleet throughput: rotate 100, 250 and 500 PostgreSQL credentials end to end
 * (grace 0) with one in-process worker on this machine, through the
 * rotateFleet workflow. Reports wall time, rotations/s and worker RSS.
 * Sizes via BENCH_FLEET_SIZES=100,250,500; concurrency via BENCH_FLEET_CONCURRENCY.
 * Writes reports/bench-fleet.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeIdentifier, escapeLiteral } from 'pg';
import type { FleetSummary } from '../src/shared/types';
import { createBenchRig } from './lib/rotation-rig';
import { createPgFixture } from './lib/pg-fixture';

const env = process.env;
const SIZES = (env.BENCH_FLEET_SIZES ?? '100,250,500').split(',').map(Number);
const CONCURRENCY = Number(env.BENCH_FLEET_CONCURRENCY ?? 10);

async function main(): Promise<void> {
  const admin = {
    host: env.PGHOST ?? '127.0.0.1',
    port: Number(env.PGPORT ?? 5432),
    user: env.ROTATOR_PG_ADMIN_USER ?? 'rotator_admin',
    password: env.ROTATOR_PG_ADMIN_PASSWORD ?? 'rotator_admin_pw',
  };
  const fx = await createPgFixture('bench_fleet');
  const rig = await createBenchRig(env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233');
  const results: Array<Record<string, number>> = [];
  try {
    const where = { engine: 'postgres' as const, host: admin.host, port: admin.port, database: fx.database };
    await rig.addCredential(
      { id: 'fleet/admin', ...where },
      { username: admin.user, password: admin.password },
    );
    for (const size of SIZES) {
      const label = `fleet${size}`;
      for (let i = 0; i < size; i++) {
        const login = `${fx.prefix}${label}_${i}`;
        const password = `Fleet-${label}-${i}-pw-000`;
        await fx.admin.query(
          `CREATE ROLE ${escapeIdentifier(login)} LOGIN PASSWORD ${escapeLiteral(password)}`,
        );
        await fx.grantApp(login);
        await rig.addCredential(
          {
            id: `fleet/${label}/${i}`,
            ...where,
            adminCredentialId: 'fleet/admin',
            baseUsername: login,
            labels: { fleet: label },
          },
          { username: login, password },
        );
      }
      const t0 = Date.now();
      const handle = await rig.client.workflow.start('rotateFleet', {
        args: [
          {
            selector: { labels: { fleet: label } },
            concurrency: CONCURRENCY,
            rotation: { graceMs: 0, drainTimeoutMs: 0 },
          },
        ],
        taskQueue: rig.taskQueue,
        workflowId: `bench-fleet-${label}-${Date.now()}`,
      });
      const summary = (await handle.result()) as FleetSummary;
      const seconds = (Date.now() - t0) / 1000;
      const rssMb = Math.round(process.memoryUsage().rss / 1024 / 1024);
      const row = {
        size,
        concurrency: CONCURRENCY,
        seconds: +seconds.toFixed(1),
        perSecond: +(size / seconds).toFixed(2),
        rotated: summary.counts.rotated,
        failed: summary.counts.failed,
        rssMb,
      };
      results.push(row);
      console.log(
        `  ${size} credentials: ${row.seconds} s (${row.perSecond}/s), rotated ${row.rotated}, failed ${row.failed}, worker RSS ${rssMb} MB`,
      );
      if (summary.failed.length) console.log(`    first failure: ${JSON.stringify(summary.failed[0])}`);
    }
    mkdirSync('reports', { recursive: true });
    writeFileSync(
      join('reports', 'bench-fleet.json'),
      JSON.stringify({ engine: 'postgres', results }, null, 2),
    );
  } finally {
    await rig.close();
    await fx.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
