/**
 * Fleet throughput: rotate N PostgreSQL credentials end to end (grace 0)
 * through the rotateFleet workflow with one in-process worker, each size in a
 * fresh store and a fresh worker, for each embedded store backend. Reports
 * wall time, rotations/s, per-rotation p50/p95 (rotation-started →
 * rotation-rotated in the audit), the process's peak RSS (the worker runs
 * in it: its Rust core and the workflow V8 isolate included; the workflow
 * code is a prebuilt bundle, as in production), and CPU per rotation of
 * each part: this process's main thread and other threads, the Temporal dev
 * server and PostgreSQL (on a shared machine wall time mostly measures the
 * neighbours; CPU time much less so), plus history events per rotation and
 * the load average.
 *
 *   npx tsx bench/fleet.ts --sizes 100,500 --backends dir,single-file --concurrency 20 \
 *     [--max-cached N] [--max-workflow-tasks N] [--max-activities N] [--sticky-timeout-ms N]
 *
 * or env BENCH_FLEET_SIZES / BENCH_FLEET_BACKENDS / BENCH_FLEET_CONCURRENCY /
 * BENCH_FLEET_MAX_CACHED / … (for `npm run bench -- fleet`). Default: sizes
 * 100,500,2000, both backends, concurrency 20 (README Scaling: 10, 20 and 50
 * measured). Writes reports/bench-fleet.json. The logins are dropped at the
 * end (all sizes); a killed run leaves roles named bench_fleet_* behind.
 * Profile a run: node --cpu-prof --import tsx bench/fleet.ts …, and keep
 * only the samples inside each result's profileWindowUs.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { escapeIdentifier, escapeLiteral } from 'pg';
import { rotateFleet } from '../src/workflows/rotate-fleet';
import { rotationWorkflowId } from '../src/shared/constants';
import { closeSharedConnections } from '../src/engines';
import { workerTuning } from '../src/worker';
import { createBenchRig, type BenchRigOptions } from './lib/rotation-rig';
import { createPgFixture, pgAdminFromEnv, type PgFixture } from './lib/pg-fixture';

const env = process.env;
const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: env.BENCH_FLEET_SIZES ?? '100,500,2000' },
    backends: { type: 'string', default: env.BENCH_FLEET_BACKENDS ?? 'dir,single-file' },
    concurrency: { type: 'string', default: env.BENCH_FLEET_CONCURRENCY ?? '20' },
    // Worker tuning to compare (README Scaling → Worker tuning); SDK default where absent.
    'max-cached': { type: 'string', default: env.BENCH_FLEET_MAX_CACHED },
    'max-workflow-tasks': { type: 'string', default: env.BENCH_FLEET_MAX_WORKFLOW_TASKS },
    'max-activities': { type: 'string', default: env.BENCH_FLEET_MAX_ACTIVITIES },
    'sticky-timeout-ms': { type: 'string', default: env.BENCH_FLEET_STICKY_TIMEOUT_MS },
  },
});
const SIZES = flags.sizes.split(',').map(Number);
const BACKENDS = flags.backends.split(',') as Array<NonNullable<BenchRigOptions['store']>>;
const CONCURRENCY = Number(flags.concurrency);
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
// The same mapping as the production worker's config (src/worker.ts).
const WORKER = workerTuning({
  maxCachedWorkflows: num(flags['max-cached']),
  maxConcurrentWorkflowTaskExecutions: num(flags['max-workflow-tasks']),
  maxConcurrentActivityTaskExecutions: num(flags['max-activities']),
  stickyQueueScheduleToStartTimeoutMs: num(flags['sticky-timeout-ms']),
});
const admin = pgAdminFromEnv(env);

const at = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;

/** CPU ms (user + system) of a /proc stat file, or NaN if unreadable. */
function statCpuMs(path: string): number {
  try {
    // Fields after "(comm)": state is 3rd, utime 14th, stime 15th (1-based in proc(5)).
    const fields = readFileSync(path, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/** Pids whose command line matches: the Temporal dev server, the PostgreSQL backends (shared, so neighbours count too). */
function pidsOf(match: (cmdline: string, comm: string) => boolean): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
      if (match(cmd, comm)) pids.push(Number(d));
    } catch {
      // gone
    }
  }
  return pids;
}

/**
 * CPU of the parts of one run: this process's main thread (activities,
 * client, bench), its other threads (workflow sandbox thread, the SDK's Rust
 * core, libuv pool, GC helpers), the Temporal dev server, and PostgreSQL
 * (its processes alive at the end; backends that exit within the run are
 * missed, so a lower bound). Both servers are shared: neighbours count too.
 */
function cpuSnapshot() {
  const tasks = readdirSync('/proc/self/task');
  const main = statCpuMs(`/proc/self/task/${process.pid}/stat`);
  const perPid = (pids: number[]) => new Map(pids.map((p) => [p, statCpuMs(`/proc/${p}/stat`) || 0]));
  return {
    main,
    others: statCpuMs('/proc/self/stat') - main,
    tasks: new Map(tasks.map((t) => [Number(t), statCpuMs(`/proc/self/task/${t}/stat`) || 0])),
    temporal: perPid(pidsOf((cmd) => /temporal/.test(cmd) && /start-dev/.test(cmd))),
    postgres: perPid(pidsOf((_, comm) => comm === 'postgres')),
  };
}

type CpuSnapshot = ReturnType<typeof cpuSnapshot>;

function cpuPerRotation(a: CpuSnapshot, b: CpuSnapshot, n: number) {
  const grew = (x: Map<number, number>, y: Map<number, number>) =>
    [...y].reduce((s, [pid, ms]) => s + ms - (x.get(pid) ?? 0), 0);
  const per = (ms: number) => Math.round(ms / n);
  // The busiest threads (by id): the workflow thread and the SDK core's show up here.
  const busiest = [...b.tasks]
    .map(([tid, ms]) => [tid, per(ms - (a.tasks.get(tid) ?? 0))] as const)
    .sort((x, y) => y[1] - x[1])
    .slice(0, 6);
  return {
    busiestThreadsCpuMsPerRotation: Object.fromEntries(busiest.map(([tid, ms]) => [String(tid), ms])),
    workerMainThreadCpuMsPerRotation: per(b.main - a.main),
    workerOtherThreadsCpuMsPerRotation: per(b.others - a.others),
    temporalServerCpuMsPerRotation: per(grew(a.temporal, b.temporal)),
    postgresCpuMsPerRotation: per(grew(a.postgres, b.postgres)),
  };
}

/** Peak RSS while fn runs, sampled every 200 ms. */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<[T, number]> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 200);
  try {
    return [await fn(), Math.max(peak, process.memoryUsage().rss)];
  } finally {
    clearInterval(timer);
  }
}

/**
 * A table's ACL lives in its pg_class row, which has no TOAST table: PostgreSQL
 * refuses a GRANT once the row passes 8,160 bytes ("row is too big"), about
 * 500 direct grantees on one table. A dual-user rotation briefly adds a second
 * grantee per login, so each table serves at most 200 fleet logins.
 */
const LOGINS_PER_TABLE = 200;
const fleetTables = new Set<string>();

/** The same grants as the fixture's application login, on the login's own share of the tables. */
async function grantFleetLogin(fx: PgFixture, login: string, tableKey: string): Promise<void> {
  const table = `zd.${escapeIdentifier(`items_${tableKey}`)}`;
  if (!fleetTables.has(table)) {
    await fx.admin.query(`CREATE TABLE IF NOT EXISTS ${table} (LIKE zd.items INCLUDING ALL)`);
    fleetTables.add(table);
  }
  await fx.grantApp(login, table);
}

async function runOne(fx: PgFixture, backend: NonNullable<BenchRigOptions['store']>, size: number) {
  const rig = await createBenchRig(env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233', {
    store: backend,
    worker: WORKER,
  });
  try {
    const where = { engine: 'postgres' as const, host: admin.host, port: admin.port, database: fx.database };
    await rig.addCredential(
      { id: 'fleet/admin', ...where },
      { username: admin.user, password: admin.password },
    );
    const label = `${backend === 'dir' ? 'd' : 's'}${size}`;
    const ids: string[] = [];
    for (let i = 0; i < size; i++) {
      const login = `${fx.prefix}${label}_${i}`;
      const password = `Fleet-${label}-${i}-pw-000`;
      await fx.admin.query(
        `CREATE ROLE ${escapeIdentifier(login)} LOGIN PASSWORD ${escapeLiteral(password)}`,
      );
      await grantFleetLogin(fx, login, `${label}_${Math.floor(i / LOGINS_PER_TABLE)}`);
      // Unique per run: a rotation left running by an earlier (killed) run must not share an id.
      const id = `fleet/${fx.prefix}${label}/${i}`;
      ids.push(id);
      await rig.addCredential(
        { id, ...where, adminCredentialId: 'fleet/admin', baseUsername: login, labels: { fleet: label } },
        { username: login, password },
      );
    }
    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    const snap0 = cpuSnapshot();
    const rssBefore = process.memoryUsage().rss;
    const load0 = loadavg()[0] ?? NaN;
    // For --cpu-prof runs: the window to keep (µs, the profiler's monotonic clock).
    const windowUs = [Number(process.hrtime.bigint() / 1000n)];
    const [summary, peakRss] = await withPeakRss(async () => {
      const handle = await rig.client.workflow.start(rotateFleet, {
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
      return await handle.result();
    });
    const seconds = (Date.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const parts = cpuPerRotation(snap0, cpuSnapshot(), size);
    windowUs.push(Number(process.hrtime.bigint() / 1000n));
    const historyEvents = await historyLength(rig, ids[0]!);
    const per: number[] = [];
    for (const id of ids) {
      const audit = await rig.store.listAudit(id);
      const start = audit.find((a) => a.action === 'rotation-started');
      const end = audit.find((a) => a.action === 'rotation-rotated');
      if (start && end) per.push(Date.parse(end.at) - Date.parse(start.at));
    }
    per.sort((a, b) => a - b);
    if (summary.failed.length) console.log(`    first failure: ${JSON.stringify(summary.failed[0])}`);
    if (summary.skipped.length) console.log(`    first skipped: ${JSON.stringify(summary.skipped[0])}`);
    return {
      backend,
      size,
      concurrency: CONCURRENCY,
      ...WORKER,
      seconds: +seconds.toFixed(1),
      perSecond: +(size / seconds).toFixed(2),
      rotationMsP50: at(per, 0.5),
      rotationMsP95: at(per, 0.95),
      rotated: summary.counts.rotated,
      failed: summary.counts.failed,
      rolledBack: summary.counts.rolledBack,
      aborted: summary.counts.aborted,
      skipped: summary.counts.skipped,
      peakRssMb: Math.round(peakRss / 1024 / 1024),
      // Worker started, store filled, no rotation yet: what the rotations add is peak - this.
      rssBeforeMb: Math.round(rssBefore / 1024 / 1024),
      mainHeapUsedMb: Math.round(process.memoryUsage().heapUsed / 1024 / 1024),
      // CPU of this process (worker + client) per rotation: what a loaded, shared machine distorts least.
      workerCpuMsPerRotation: Math.round((cpu.user + cpu.system) / 1000 / size),
      ...parts,
      historyEventsPerRotation: historyEvents,
      loadAverage: [+load0.toFixed(1), +(loadavg()[0] ?? NaN).toFixed(1)],
      profileWindowUs: windowUs,
    };
  } finally {
    await rig.close();
    await closeSharedConnections();
  }
}

/** History events of one child rotation (the fleet names it after its credential). */
async function historyLength(rig: Awaited<ReturnType<typeof createBenchRig>>, credentialId: string) {
  try {
    const history = await rig.client.workflow.getHandle(rotationWorkflowId(credentialId)).fetchHistory();
    return history.events?.length ?? NaN;
  } catch {
    return NaN;
  }
}

/**
 * The worker loads a prebuilt workflow bundle as in production (`npm run
 * build`); built here in a child process so webpack's memory is not counted.
 */
function ensureWorkflowBundle(): () => void {
  if (env.ROTATOR_WORKFLOW_BUNDLE) return () => undefined;
  const dir = mkdtempSync(join(tmpdir(), 'rotator-bench-bundle-'));
  const out = join(dir, 'workflow-bundle.js');
  execFileSync(join('node_modules', '.bin', 'tsx'), [join('src', 'build', 'bundle-workflows.ts'), out], {
    stdio: 'inherit',
  });
  env.ROTATOR_WORKFLOW_BUNDLE = out;
  return () => rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const removeBundle = ensureWorkflowBundle();
  const fx = await createPgFixture('bench_fleet');
  const results = [];
  try {
    for (const size of SIZES) {
      for (const backend of BACKENDS) {
        const r = await runOne(fx, backend, size);
        results.push(r);
        console.log(
          `  ${backend.padEnd(11)} ${String(size).padStart(5)} credentials: ${r.seconds} s (${r.perSecond}/s), ` +
            `rotation p50 ${r.rotationMsP50} ms p95 ${r.rotationMsP95} ms, rotated ${r.rotated}, failed ${r.failed}, rolled back ${r.rolledBack}, aborted ${r.aborted}, skipped ${r.skipped}, peak RSS ${r.peakRssMb} MB (${r.rssBeforeMb} MB before), worker CPU ${r.workerCpuMsPerRotation} ms/rotation ` +
            `(main thread ${r.workerMainThreadCpuMsPerRotation}, other threads ${r.workerOtherThreadsCpuMsPerRotation}), ` +
            `Temporal server ${r.temporalServerCpuMsPerRotation} ms/rotation, PostgreSQL ≥ ${r.postgresCpuMsPerRotation} ms/rotation, ` +
            `${r.historyEventsPerRotation} history events/rotation, load ${r.loadAverage.join(' → ')}`,
        );
      }
    }
    mkdirSync('reports', { recursive: true });
    writeFileSync(
      join('reports', 'bench-fleet.json'),
      JSON.stringify({ engine: 'postgres', results }, null, 2),
    );
  } finally {
    await fx.cleanup();
    removeBundle();
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
