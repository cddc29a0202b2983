/**
 * Active-phase benchmark: start → promoted (grace 0) over N rotations of one
 * PostgreSQL credential through Temporal, and the same activity sequence
 * called directly in-process (no Temporal) in the same run, as a ratio.
 * Also: history events and bytes per rotation, and the whole rotation time.
 * Writes reports/bench-active-phase.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createRotationActivities } from '../src/activities/rotation';
import { createEngine } from '../src/engines';
import { statusQuery } from '../src/shared/messages';
import type { RotationInput, RotationResult } from '../src/shared/types';
import { createBenchRig } from './lib/rotation-rig';
import { createPgFixture, pgAdminFromEnv } from './lib/pg-fixture';
import { activePhaseSegments, medianSegments, type Segment } from './lib/history-breakdown';

const N = Number(process.env.BENCH_ROTATIONS ?? 20);
const env = process.env;

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { n: s.length, min: s[0]!, median: at(0.5), p95: at(0.95), max: s[s.length - 1]! };
}

async function main(): Promise<void> {
  const admin = pgAdminFromEnv(env);
  const fx = await createPgFixture('bench_active');
  const rig = await createBenchRig(env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233');
  try {
    const where = { engine: 'postgres' as const, host: admin.host, port: admin.port, database: fx.database };
    await rig.addCredential(
      { id: 'bench/admin', ...where },
      { username: admin.user, password: admin.password },
    );
    await rig.addCredential(
      { id: 'bench/app', ...where, adminCredentialId: 'bench/admin', baseUsername: fx.login },
      { username: fx.login, password: fx.password },
    );
    const input: RotationInput = {
      credentialId: 'bench/app',
      graceMs: 0,
      drainTimeoutMs: 0,
      migrationTimeoutMs: 0,
    };

    // Warm-up: the first rotation pays for workflow bundle caches and connections.
    await (await rig.start(input)).result();

    const temporalMs: number[] = [];
    const recordedMs: number[] = [];
    const breakdowns: Segment[][] = [];
    const totalMs: number[] = [];
    const events: number[] = [];
    const bytes: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = Date.now();
      const h = await rig.start(input);
      const result = (await h.result()) as RotationResult;
      totalMs.push(Date.now() - t0);
      if (result.outcome !== 'rotated')
        throw new Error(`rotation ${i} ended ${result.outcome}: ${result.error}`);
      const status = await h.query(statusQuery);
      const promote = status.phases.find((p) => p.phase === 'promote');
      temporalMs.push(Date.parse(promote!.endedAt!) - t0);
      const history = await h.fetchHistory();
      const { segments, endMs } = activePhaseSegments(history, t0, 'promote');
      breakdowns.push(segments);
      recordedMs.push(endMs - t0);
      events.push(history.events?.length ?? 0);
      bytes.push(JSON.stringify(history).length);
    }

    // The same activities, called directly: preflight → create pending → apply → verify → promote.
    const acts = createRotationActivities({ store: rig.store, createEngine, actor: 'bench-direct' });
    const directMs: number[] = [];
    const directSteps: Segment[][] = [];
    for (let i = 0; i < N; i++) {
      const t0 = Date.now();
      const steps: Segment[] = [];
      const timed = async <R>(label: string, call: () => Promise<R>): Promise<R> => {
        const s = Date.now();
        const r = await call();
        steps.push({ label, ms: Date.now() - s });
        return r;
      };
      const plan = await timed('preflight', () => acts.preflight(input));
      await timed('createPending', () => acts.createPending(plan));
      await timed('applyPending', () => acts.applyPending(plan));
      await timed('verifyPending', () => acts.verifyPending(plan));
      await timed('promote', () => acts.promote(plan));
      directMs.push(Date.now() - t0);
      directSteps.push(steps);
      await acts.revokeOld(plan); // not timed: brings the credential back to one login
    }

    const temporal = stats(temporalMs);
    const recorded = stats(recordedMs);
    const direct = stats(directMs);
    const breakdown = medianSegments(breakdowns);
    const directBreakdown = medianSegments(directSteps);
    const report = {
      engine: 'postgres',
      rotations: N,
      loadAverage: loadavg().map((x) => +x.toFixed(2)),
      activePhaseMs: {
        temporal,
        direct,
        ratioMedian: +(temporal.median / direct.median).toFixed(2),
        // Until the workflow task that ran promote completed: includes promote's own run.
        promoteRecorded: recorded,
        ratioRecordedMedian: +(recorded.median / direct.median).toFixed(2),
      },
      breakdownMedianMs: breakdown,
      directBreakdownMedianMs: directBreakdown,
      wholeRotationMs: stats(totalMs),
      historyPerRotation: { events: stats(events), bytes: stats(bytes) },
    };
    mkdirSync('reports', { recursive: true });
    writeFileSync(join('reports', 'bench-active-phase.json'), JSON.stringify(report, null, 2));
    console.log(`active phase (start → promoted), PostgreSQL, ${N} rotations, grace 0`);
    console.log(
      `  through Temporal  min ${temporal.min}  median ${temporal.median}  p95 ${temporal.p95}  max ${temporal.max} ms`,
    );
    console.log(
      `  direct calls      min ${direct.min}  median ${direct.median}  p95 ${direct.p95}  max ${direct.max} ms`,
    );
    console.log(`  ratio (median)    ${report.activePhaseMs.ratioMedian}×`);
    console.log(
      `  promote recorded  min ${recorded.min}  median ${recorded.median}  p95 ${recorded.p95}  max ${recorded.max} ms (${report.activePhaseMs.ratioRecordedMedian}×)`,
    );
    console.log(`  load average      ${report.loadAverage.join(' ')}`);
    console.log('  where the time goes (median per segment, from history event times):');
    for (const s of breakdown) console.log(`    ${String(s.ms).padStart(5)} ms  ${s.label}`);
    console.log('  direct calls (median per call):');
    for (const s of directBreakdown) console.log(`    ${String(s.ms).padStart(5)} ms  ${s.label}`);
    console.log(`  whole rotation    median ${report.wholeRotationMs.median} ms`);
    console.log(
      `  history           ${report.historyPerRotation.events.median} events, ${report.historyPerRotation.bytes.median} bytes (JSON) per rotation`,
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
