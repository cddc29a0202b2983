/**
 * Runs the zero-downtime workload (bench/lib/workload.ts) against a scratch
 * namespace of one engine: N application instances, each with its own
 * rotating client of the consumer library and StoreSource (own random poll
 * phase), C clients each running reads at a target rate, every n-th
 * operation holding a connection for a while. Optionally rotates the
 * credential in the middle (naive seed rotation or our workflow, with the
 * same strategy).
 *
 *   npx tsx scripts/workload.ts --engine postgres|mysql|redis|mongodb [--strategy dual-user|dual-password] \
 *     --instances 4 --clients 4 --seconds 30 \
 *     [--rate 50] [--poll-ms 10000] [--hold-every 10] [--hold-ms 1000] \
 *     [--rotate none|naive|workflow] [--rotate-at 5] [--grace-ms 5000] [--heartbeat-ms 2000] [--json out.json]
 *
 * Prints ops, failures by error code and p50/p99 latency. Needs the services
 * of scripts/services.sh (the engine's server; the Temporal dev server).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { services } from '../test/helpers/services';
import { createBenchRig } from '../bench/lib/rotation-rig';
import { workloadCase } from '../bench/lib/engines';
import { runScenario, type RotationKind } from '../bench/lib/scenario';

const USAGE =
  'usage: npx tsx scripts/workload.ts [--engine postgres|mysql|redis|mongodb] [--strategy dual-user|dual-password] [--instances 4] [--clients 4] [--seconds 30] [--rate 50] [--poll-ms 10000] [--hold-every 10] [--hold-ms 1000] [--rotate none|naive|workflow] [--rotate-at 5] [--grace-ms 5000] [--heartbeat-ms 2000] [--json file]';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      engine: { type: 'string', default: 'postgres' },
      strategy: { type: 'string' },
      instances: { type: 'string', default: '4' },
      clients: { type: 'string', default: '4' },
      seconds: { type: 'string', default: '30' },
      rate: { type: 'string', default: '50' },
      'poll-ms': { type: 'string', default: '10000' },
      'hold-every': { type: 'string', default: '10' },
      'hold-ms': { type: 'string', default: '1000' },
      'hold-queries': { type: 'string', default: '5' },
      rotate: { type: 'string', default: 'none' },
      'rotate-at': { type: 'string', default: '5' },
      'grace-ms': { type: 'string', default: '5000' },
      'drain-ms': { type: 'string', default: '10000' },
      'heartbeat-ms': { type: 'string', default: '2000' },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let target: ReturnType<typeof workloadCase>;
  try {
    target = workloadCase(values.engine!, values.strategy);
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const rotate = values.rotate as RotationKind;
  if (!['none', 'naive', 'workflow'].includes(rotate)) {
    console.error(`--rotate must be none, naive or workflow\n${USAGE}`);
    return 2;
  }
  const num = (name: keyof typeof values): number => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${String(name)} must be a non-negative number`);
    return n;
  };
  const rig = await createBenchRig(services.temporalAddress);
  try {
    const result = await runScenario({
      rotate,
      ...target,
      rig,
      seconds: num('seconds'),
      rotateAtSeconds: rotate === 'none' ? 0 : num('rotate-at'),
      instances: num('instances'),
      clientsPerInstance: num('clients'),
      pollMs: num('poll-ms'),
      ratePerClient: num('rate'),
      holdEvery: num('hold-every'),
      holdMs: num('hold-ms'),
      holdQueries: num('hold-queries'),
      heartbeatMs: num('heartbeat-ms'),
      graceMs: num('grace-ms'),
      drainTimeoutMs: num('drain-ms'),
      migrationTimeoutMs: 60_000,
      naiveSleepMs: 5_000,
      log: (line) => console.log(line),
    });
    const r = result.report;
    console.log(`ops          ${r.ops} in ${(r.durationMs / 1000).toFixed(1)} s (${r.opsPerSec}/s)`);
    console.log(`failures     ${r.failures} ${JSON.stringify(r.failuresByCode)}`);
    console.log(`latency      p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, max ${r.maxMs} ms`);
    for (const i of r.perInstance) {
      console.log(
        `  ${i.consumerId}: ops=${i.ops} failed=${i.failures} versions=${i.versions.map((v) => v.version).join('→')} poll phase=${i.pollPhaseMs} ms`,
      );
    }
    if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2));
    return r.failures > 0 ? 1 : 0;
  } finally {
    await rig.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`workload failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
