/**
 * Zero downtime, measured on every engine: the same workload (4 application
 * instances x 4 clients, each instance polling the store with a random
 * phase, connections held ~1 s; bench/lib/workload.ts) on PostgreSQL,
 * MariaDB (dual-password and dual-user), Redis (both) and the MongoDB wire
 * protocol on FerretDB (dual-user), each in the same run through
 *   (a) the naive rotation of the seed sketches (dual-user: new login,
 *       publish, sleep, end sessions + drop the old login; dual-password:
 *       replace the password and publish), and
 *   (b) our rotation workflow with the same strategy (migrate on heartbeats,
 *       grace, drain, revoke).
 * Prints ops, failed ops and latency per engine/strategy and arm and writes
 * reports/bench-zero-downtime.json. Exit 1 when ours fails an operation.
 *
 *   npx tsx bench/zero-downtime.ts [--cases postgres/dual-user,mysql/dual-password,...]
 *     [--arms naive,naive-poll-only,ours] [--seconds 12] [--rate 200] [--hold-every 100]
 *     [--poll-ms 6000] [--naive-sleep-ms 3000] [--grace-ms 3000] [--heartbeat-ms 1000]
 *
 * Needs the services and the Temporal dev server (bash scripts/services.sh up).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_HEARTBEAT_PERIOD_MS, estimateHeartbeatHistory } from '../src/consumer/heartbeat';
import { services } from '../test/helpers/services';
import { ALL_CASES, workloadCase } from './lib/engines';
import { createBenchRig } from './lib/rotation-rig';
import { runScenario, type ScenarioOptions, type ScenarioResult } from './lib/scenario';

function phaseMs(r: ScenarioResult, name: string): number | undefined {
  const p = r.workflow?.phases.find((x) => x.phase === name);
  return p?.endMs === undefined ? undefined : p.endMs - p.startMs;
}

const ARMS = {
  // (a) the naive rotation, on exactly our workload (our clients: they also refresh on auth failure)
  naive: { rotate: 'naive', authRetry: true },
  // (a') the naive rotation with clients that only poll (no refresh on auth failure): most applications today
  'naive-poll-only': { rotate: 'naive', authRetry: false },
  // (b) our rotation workflow
  ours: { rotate: 'workflow', authRetry: true },
} as const;

/** A string flag with its default. */
const flag = (value: string) => ({ type: 'string', default: value }) as const;

function options() {
  const { values } = parseArgs({
    options: {
      cases: flag(ALL_CASES.join(',')),
      arms: flag('naive,ours'),
      seconds: flag('12'),
      rate: flag('200'),
      'hold-every': flag('100'),
      'poll-ms': flag('6000'),
      'naive-sleep-ms': flag('3000'),
      'grace-ms': flag('3000'),
      'heartbeat-ms': flag('1000'),
      out: flag(join(__dirname, '..', 'reports', 'bench-zero-downtime.json')),
    },
  });
  const cases = values.cases.split(',').map((c) => workloadCase(...(c.split('/') as [string, string?])));
  const arms = values.arms.split(',').map((a) => {
    if (!(a in ARMS)) throw new Error(`unknown arm "${a}" (one of ${Object.keys(ARMS).join(', ')})`);
    return { label: a, ...ARMS[a as keyof typeof ARMS] };
  });
  const common: Omit<ScenarioOptions, 'rotate' | 'engine' | 'strategy' | 'rig'> = {
    seconds: Number(values.seconds),
    rotateAtSeconds: 3,
    instances: 4,
    clientsPerInstance: 4,
    pollMs: Number(values['poll-ms']),
    ratePerClient: Number(values.rate),
    holdEvery: Number(values['hold-every']),
    holdMs: 1_000,
    holdQueries: 5,
    heartbeatMs: Number(values['heartbeat-ms']),
    graceMs: Number(values['grace-ms']),
    drainTimeoutMs: 10_000,
    migrationTimeoutMs: 30_000,
    naiveSleepMs: Number(values['naive-sleep-ms']),
    log: (line) => console.log(line),
  };
  return { cases, arms, common, out: values.out };
}

function summarize(r: ScenarioResult) {
  return {
    engine: r.engine,
    strategy: r.strategy,
    run: r.label,
    authRetry: r.authRetry,
    ops: r.report.ops,
    opsPerSec: r.report.opsPerSec,
    failed: r.report.failures,
    failuresByCode: r.report.failuresByCode,
    p50Ms: r.report.p50Ms,
    p99Ms: r.report.p99Ms,
    maxMs: r.report.maxMs,
    // Instances that had not re-read the credential when the old one stopped working (naive) / were behind (ours).
    lateInstances: r.naive
      ? r.report.perInstance.filter((i) => (i.versions[1]?.at ?? Infinity) > r.naive!.droppedAt).length
      : (r.workflow?.consumersBehind.length ?? 0),
    // How long our migrate phase waited for consumer heartbeats (0: no consumer known at promote).
    migrateMs: phaseMs(r, 'migrate'),
    outcome: r.workflow?.outcome,
  };
}

function printTable(summary: Array<ReturnType<typeof summarize>>): void {
  console.log(
    '\nengine/strategy         run              ops      ops/s  failed  p50 ms  p99 ms  late  failures by code',
  );
  for (const s of summary) {
    console.log(
      `${`${s.engine}/${s.strategy}`.padEnd(23)} ${s.run.padEnd(16)} ${String(s.ops).padEnd(8)} ${String(s.opsPerSec).padEnd(6)} ${String(s.failed).padEnd(7)} ${String(s.p50Ms).padEnd(7)} ${String(s.p99Ms).padEnd(7)} ${String(s.lateInstances).padEnd(5)} ${JSON.stringify(s.failuresByCode)}${s.migrateMs !== undefined ? `  (migrate waited ${s.migrateMs} ms for heartbeats)` : ''}`,
    );
  }
}

function heartbeatEstimate() {
  const day = 24 * 60 * 60 * 1000;
  return {
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
}

async function main(): Promise<void> {
  const { cases, arms, common, out } = options();
  const started = Date.now();
  const rig = await createBenchRig(services.temporalAddress);
  const results: ScenarioResult[] = [];
  try {
    for (const c of cases) {
      for (const arm of arms) {
        console.log(
          `\n[${c.engine.name}/${c.strategy} ${arm.label}] ${common.instances} instances x ${common.clientsPerInstance} clients, ${common.ratePerClient} ops/s/client target, hold 1 s every ${common.holdEvery} ops, poll ${common.pollMs} ms, auth retry ${arm.authRetry ? 'on' : 'off'}`,
        );
        results.push(await runScenario({ ...common, ...c, ...arm, rig }));
      }
    }
  } finally {
    await rig.close();
  }
  const summary = results.map(summarize);
  printTable(summary);
  console.log(`\ntotal bench time ${Math.round((Date.now() - started) / 1000)} s`);
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        at: new Date(started).toISOString(),
        server: 'PostgreSQL, MariaDB, Redis, FerretDB (local), Temporal dev server',
        config: { ...common, log: undefined },
        summary,
        heartbeatEstimate: heartbeatEstimate(),
        runs: results,
      },
      null,
      2,
    ),
  );
  console.log(`wrote ${out}`);
  const ours = results.filter((r) => r.rotate === 'workflow');
  if (ours.some((r) => r.report.failures > 0 || r.workflow?.outcome !== 'rotated')) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
