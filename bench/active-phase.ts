/**
 * Active-phase benchmark: start → promoted (grace 0) over N rotations of one
 * PostgreSQL credential through Temporal, and the same activity sequence
 * called directly in-process (no Temporal), interleaved rotation by rotation
 * so that a shared machine's load drifts over both alike; the ratio of the
 * medians is the number that means something on a loaded machine.
 * Also: where the time goes (from the history's event times), history
 * events and bytes per rotation, and the whole rotation time.
 *
 * BENCH_COMPARE_BUNDLE=<workflow bundle> adds a second worker on that bundle
 * (e.g. the previous commit's, built with src/build/bundle-workflows.ts), its
 * own store and login, interleaved with the others: an A/B of a workflow
 * change under the same load. Writes reports/bench-active-phase.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createRotationActivities } from '../src/activities/rotation';
import { createEngine } from '../src/engines';
import { statusQuery } from '../src/shared/messages';
import type { RotationInput, RotationResult } from '../src/shared/types';
import { createBenchRig, type BenchRig } from './lib/rotation-rig';
import { createPgFixture, pgAdminFromEnv, type PgFixture } from './lib/pg-fixture';
import { activePhaseSegments, medianSegments, type Segment } from './lib/history-breakdown';

const N = Number(process.env.BENCH_ROTATIONS ?? 20);
const env = process.env;
const input: RotationInput = {
  credentialId: 'bench/app',
  graceMs: 0,
  drainTimeoutMs: 0,
  migrationTimeoutMs: 0,
};

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { n: s.length, min: s[0]!, median: at(0.5), p95: at(0.95), max: s[s.length - 1]! };
}

/** A worker (rig) with the bench credential on its own scratch database. */
async function variant(bundle?: string): Promise<{ rig: BenchRig; fx: PgFixture }> {
  const admin = pgAdminFromEnv(env);
  const fx = await createPgFixture('bench_active');
  const rig = await createBenchRig(env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233', {
    worker: bundle ? { workflowBundle: { codePath: bundle }, workflowsPath: undefined } : {},
  });
  const where = { engine: 'postgres' as const, host: admin.host, port: admin.port, database: fx.database };
  await rig.addCredential(
    { id: 'bench/admin', ...where },
    { username: admin.user, password: admin.password },
  );
  await rig.addCredential(
    { id: 'bench/app', ...where, adminCredentialId: 'bench/admin', baseUsername: fx.login },
    { username: fx.login, password: fx.password },
  );
  return { rig, fx };
}

/** One rotation through Temporal, measured; the samples go into `m`. */
async function throughTemporal(rig: BenchRig, m: ReturnType<typeof samples>): Promise<void> {
  const t0 = Date.now();
  const h = await rig.start(input);
  const result = (await h.result()) as RotationResult;
  m.total.push(Date.now() - t0);
  if (result.outcome !== 'rotated') throw new Error(`rotation ended ${result.outcome}: ${result.error}`);
  const status = await h.query(statusQuery);
  const promote = status.phases.find((p) => p.phase === 'promote');
  m.promoted.push(Date.parse(promote!.endedAt!) - t0);
  const history = await h.fetchHistory();
  const { segments, endMs } = activePhaseSegments(history, t0, 'promote');
  m.breakdowns.push(segments);
  m.recorded.push(endMs - t0);
  m.events.push(history.events?.length ?? 0);
  m.bytes.push(JSON.stringify(history).length);
}

function samples() {
  return {
    promoted: [] as number[],
    recorded: [] as number[],
    total: [] as number[],
    events: [] as number[],
    bytes: [] as number[],
    breakdowns: [] as Segment[][],
  };
}

/** The same activities, called directly: preflight → create pending → apply → verify → promote. */
async function directly(acts: ReturnType<typeof createRotationActivities>, ms: number[], steps: Segment[][]) {
  const t0 = Date.now();
  const mine: Segment[] = [];
  const timed = async <R>(label: string, call: () => Promise<R>): Promise<R> => {
    const s = Date.now();
    const r = await call();
    mine.push({ label, ms: Date.now() - s });
    return r;
  };
  const plan = await timed('preflight', () => acts.preflight(input));
  await timed('createPending', () => acts.createPending(plan));
  await timed('applyPending', () => acts.applyPending(plan));
  await timed('verifyPending', () => acts.verifyPending(plan));
  await timed('promote', () => acts.promote(plan));
  ms.push(Date.now() - t0);
  steps.push(mine);
  await acts.revokeOld(plan); // not timed: brings the credential back to one login
}

function summary(m: ReturnType<typeof samples>, directMedian: number) {
  const promoted = stats(m.promoted);
  const recorded = stats(m.recorded);
  return {
    temporal: promoted,
    ratioMedian: +(promoted.median / directMedian).toFixed(2),
    // Until the workflow task that ran promote completed: includes promote's own run.
    promoteRecorded: recorded,
    ratioRecordedMedian: +(recorded.median / directMedian).toFixed(2),
    breakdownMedianMs: medianSegments(m.breakdowns),
    wholeRotationMs: stats(m.total),
    historyPerRotation: { events: stats(m.events), bytes: stats(m.bytes) },
  };
}

function print(name: string, s: ReturnType<typeof summary>): void {
  const t = s.temporal;
  const r = s.promoteRecorded;
  console.log(`  ${name}`);
  console.log(
    `    promoted (workflow clock)  min ${t.min}  median ${t.median}  p95 ${t.p95}  max ${t.max} ms (${s.ratioMedian}×)`,
  );
  console.log(
    `    promote's task completed   min ${r.min}  median ${r.median}  p95 ${r.p95}  max ${r.max} ms (${s.ratioRecordedMedian}×)`,
  );
  console.log('    where the time goes (median per segment, from history event times):');
  for (const seg of s.breakdownMedianMs) console.log(`      ${String(seg.ms).padStart(5)} ms  ${seg.label}`);
  console.log(
    `    whole rotation median ${s.wholeRotationMs.median} ms; history ${s.historyPerRotation.events.median} events, ${s.historyPerRotation.bytes.median} bytes (JSON)`,
  );
}

async function main(): Promise<void> {
  const variants = [await variant()];
  if (env.BENCH_COMPARE_BUNDLE) variants.push(await variant(env.BENCH_COMPARE_BUNDLE));
  try {
    // Warm-up: the first rotation pays for workflow bundle caches and connections.
    for (const v of variants) await (await v.rig.start(input)).result();
    const acts = createRotationActivities({
      store: variants[0]!.rig.store,
      createEngine,
      actor: 'bench-direct',
    });
    const measured = variants.map(() => samples());
    const directMs: number[] = [];
    const directSteps: Segment[][] = [];
    const loads: number[] = [];
    for (let i = 0; i < N; i++) {
      for (const [k, v] of variants.entries()) await throughTemporal(v.rig, measured[k]!);
      await directly(acts, directMs, directSteps);
      loads.push(loadavg()[0]!);
    }
    const direct = stats(directMs);
    const names = ['this code', `compare: ${env.BENCH_COMPARE_BUNDLE}`];
    const report = {
      engine: 'postgres',
      rotations: N,
      loadAverage1m: stats(loads.map((x) => +x.toFixed(2))),
      direct,
      directBreakdownMedianMs: medianSegments(directSteps),
      variants: measured.map((m, k) => ({ name: names[k], ...summary(m, direct.median) })),
    };
    mkdirSync('reports', { recursive: true });
    writeFileSync(join('reports', 'bench-active-phase.json'), JSON.stringify(report, null, 2));
    console.log(`active phase (start → promoted), PostgreSQL, ${N} rotations each, grace 0, interleaved`);
    console.log(
      `  load average (1 min) during the run: median ${report.loadAverage1m.median}, max ${report.loadAverage1m.max}`,
    );
    console.log(
      `  direct calls      min ${direct.min}  median ${direct.median}  p95 ${direct.p95}  max ${direct.max} ms`,
    );
    for (const seg of report.directBreakdownMedianMs)
      console.log(`      ${String(seg.ms).padStart(5)} ms  ${seg.label}`);
    report.variants.forEach((v) => print(v.name!, v));
  } finally {
    for (const v of variants) {
      await v.rig.close();
      await v.fx.cleanup();
    }
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
