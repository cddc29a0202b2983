/**
 * Zero downtime, measured: the same workload (4 application instances x 4
 * clients, each instance polling the store every 10 s with a random phase,
 * connections held ~1 s) on PostgreSQL, in the same run, through
 *   (a) the naive rotation of the seed sketches (new user, publish, sleep 5 s,
 *       terminate + drop the old user), and
 *   (b) our rotation workflow (dual-user, migrate on heartbeats, grace, drain, revoke).
 * Prints ops/s, failed ops and latency for each and writes
 * reports/bench-zero-downtime.json.
 *
 *   npx tsx bench/zero-downtime.ts [--rate 200] [--hold-every 100] [--seconds 30] [--poll-ms 10000] [--heartbeat-ms 2000]
 *
 * Needs PostgreSQL and the Temporal dev server (bash scripts/services.sh up).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_HEARTBEAT_PERIOD_MS, estimateHeartbeatHistory } from '../src/consumer/heartbeat';
import { services } from '../test/helpers/services';
import { createBenchRig } from './lib/rotation-rig';
import { runScenario, type ScenarioOptions, type ScenarioResult } from './lib/scenario';

function phaseMs(r: ScenarioResult, name: string): number | undefined {
  const p = r.workflow?.phases.find((x) => x.phase === name);
  return p?.endMs === undefined ? undefined : p.endMs - p.startMs;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '200' },
      'hold-every': { type: 'string', default: '100' },
      seconds: { type: 'string', default: '30' },
      'poll-ms': { type: 'string', default: '10000' },
      'heartbeat-ms': { type: 'string', default: '2000' },
      out: { type: 'string', default: join(__dirname, '..', 'reports', 'bench-zero-downtime.json') },
    },
  });
  const admin = {
    host: services.postgres.host,
    port: services.postgres.port,
    user: services.postgres.user,
    password: services.postgres.password,
  };
  const started = Date.now();
  const rig = await createBenchRig(services.temporalAddress);
  const common: Omit<ScenarioOptions, 'rotate'> = {
    admin,
    rig,
    seconds: Number(values.seconds),
    rotateAtSeconds: 5,
    instances: 4,
    clientsPerInstance: 4,
    pollMs: Number(values['poll-ms']),
    ratePerClient: Number(values.rate),
    holdEvery: Number(values['hold-every']),
    holdMs: 1_000,
    holdQueries: 5,
    heartbeatMs: Number(values['heartbeat-ms']),
    graceMs: 5_000,
    drainTimeoutMs: 10_000,
    migrationTimeoutMs: 30_000,
    naiveSleepMs: 5_000,
    log: (line) => console.log(line),
  };
  const results: ScenarioResult[] = [];
  try {
    const arms = [
      // (a) the naive rotation, on exactly our workload (our pools: they also refresh on auth failure)
      { rotate: 'naive', label: 'naive', authRetry: true },
      // (a') the naive rotation with pools that only poll (no refresh on auth failure): most applications today
      { rotate: 'naive', label: 'naive-poll-only', authRetry: false },
      // (b) our rotation workflow
      { rotate: 'workflow', label: 'ours', authRetry: true },
    ] as const;
    for (const arm of arms) {
      console.log(
        `\n[${arm.label}] ${common.instances} instances x ${common.clientsPerInstance} clients, ${common.ratePerClient} ops/s/client target, hold 1 s every ${common.holdEvery} ops, poll ${common.pollMs} ms, auth retry ${arm.authRetry ? 'on' : 'off'}`,
      );
      results.push(await runScenario({ ...common, ...arm }));
    }
  } finally {
    await rig.close();
  }

  const day = 24 * 60 * 60 * 1000;
  const heartbeatEstimate = {
    note: 'signals (and history events, up to 4 per signal) that heartbeats add to one rotation with a 24 h grace',
    periodMs: DEFAULT_HEARTBEAT_PERIOD_MS,
    perConsumerEverySignal: estimateHeartbeatHistory({ consumers: 1, graceMs: day, confirmByQuery: false }),
    consumers16EverySignal: estimateHeartbeatHistory({ consumers: 16, graceMs: day, confirmByQuery: false }),
    consumers16ConfirmByQuery: estimateHeartbeatHistory({
      consumers: 16,
      graceMs: day,
      confirmByQuery: true,
    }),
  };
  const summary = results.map((r) => ({
    run: r.label,
    rotation: r.rotate,
    authRetry: r.authRetry,
    ops: r.report.ops,
    opsPerSec: r.report.opsPerSec,
    failed: r.report.failures,
    failuresByCode: r.report.failuresByCode,
    p50Ms: r.report.p50Ms,
    p99Ms: r.report.p99Ms,
    maxMs: r.report.maxMs,
    // Instances that had not re-read the credential when the old login went (naive) / were behind (ours).
    lateInstances: r.naive
      ? r.report.perInstance.filter((i) => (i.versions[1]?.at ?? Infinity) > r.naive!.droppedAt).length
      : (r.workflow?.consumersBehind.length ?? 0),
    // How long our migrate phase waited for consumer heartbeats (0: no consumer known at promote).
    migrateMs: phaseMs(r, 'migrate'),
  }));
  console.log('\nrun              ops      ops/s  failed  p50 ms  p99 ms  late  failures by code');
  for (const s of summary) {
    console.log(
      `${s.run.padEnd(16)} ${String(s.ops).padEnd(8)} ${String(s.opsPerSec).padEnd(6)} ${String(s.failed).padEnd(7)} ${String(s.p50Ms).padEnd(7)} ${String(s.p99Ms).padEnd(7)} ${String(s.lateInstances).padEnd(5)} ${JSON.stringify(s.failuresByCode)}${s.migrateMs !== undefined ? `  (migrate waited ${s.migrateMs} ms for heartbeats)` : ''}`,
    );
  }
  console.log(`\ntotal bench time ${Math.round((Date.now() - started) / 1000)} s`);
  const out = values.out!;
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        at: new Date(started).toISOString(),
        server: 'PostgreSQL (local), Temporal dev server',
        config: { ...common, admin: undefined, rig: undefined, log: undefined },
        summary,
        heartbeatEstimate,
        runs: results,
      },
      null,
      2,
    ),
  );
  console.log(`wrote ${out}`);
  const ours = results.find((r) => r.rotate === 'workflow');
  if (!ours || ours.report.failures > 0 || ours.workflow?.outcome !== 'rotated') process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
