/**
 * Any application, measured through a rotation beside the naive one, both
 * reading where the rotator delivers:
 *   - python: examples/python/workload.py (psycopg, 4 processes x 4
 *     connections) reading a file target;
 *   - pgbouncer: a Node application (4 instances x 4 clients, the workload
 *     of bench/lib/workload.ts, connections held ~1 s) connecting through
 *     PgBouncer (127.0.0.1:6432, auth file kept by the pgbouncer target) and
 *     reading username/password from a file target.
 * Each runs through (a) the naive rotation (new user, copied to the targets
 * by hand, sleep 5 s, end sessions + drop the old user and its PgBouncer
 * line) and (b) our workflow (dual-user, grace longer than the
 * applications' re-read period), in the same run. Both applications re-read
 * the file every --refresh seconds (default 10, own phase per process or
 * instance) and never early on a failed login (most applications). Writes
 * reports/bench-delivery.json; exit 1 when ours fails an operation.
 *
 *   npx tsx bench/delivery.ts [--apps python,pgbouncer] [--refresh 10] [--seconds 12]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { publishCurrentVersion } from '../src/activities/delivery';
import { updateAuthFile } from '../src/targets/pgbouncer/auth-file';
import { services } from '../test/helpers/services';
import { registerFixture } from './lib/engines';
import { openPg, postgresWorkload } from './lib/engines/postgres';
import type { EngineFixture } from './lib/engines/types';
import { naiveTargetHooks } from './lib/naive-delivery';
import { naiveRotate } from './lib/naive-rotation';
import { PolledFileSource } from './lib/polled-file-source';
import { createBenchRig, type BenchRig } from './lib/rotation-rig';
import { startWorkload } from './lib/workload';

type App = 'python' | 'pgbouncer';
type Rotation = 'naive' | 'ours';

interface Result {
  app: App;
  arm: Rotation;
  ops: number;
  failed: number;
  errors: Record<string, number>;
  outcome?: string;
}

interface Options {
  refresh: number;
  seconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bouncer = { host: services.pgbouncer.host, port: services.pgbouncer.port };

/** examples/python/workload.py on the file target `dir`. */
function startPython(dir: string, refresh: number) {
  const child = spawn(
    services.python,
    [
      join(__dirname, '..', 'examples', 'python', 'workload.py'),
      dir,
      '--refresh',
      String(refresh),
      '--no-auth-retry',
      '--sql',
      'SELECT payload FROM zd.items WHERE id = 1',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return async () => {
    child.kill('SIGTERM');
    await exited;
    const r = JSON.parse(out.trim().split('\n').pop()!) as {
      ok: number;
      failed: number;
      errors: Record<string, number>;
    };
    return { ops: r.ok + r.failed, failed: r.failed, errors: r.errors };
  };
}

/** The workload through PgBouncer, each instance re-reading the file target every `refresh` s. */
async function startThroughBouncer(dir: string, database: string, refresh: number) {
  const w = await startWorkload({
    // The local PgBouncer serves no client TLS (loopback hop); the table is the fixture's.
    open: openPg({ ...bouncer, database, ssl: false }, 'zd.items'),
    store: { getSecret: () => Promise.reject(new Error('the instances read the file target')) },
    credentialId: 'file-target',
    sourceFor: (i) => new PolledFileSource(dir, refresh * 1000, ((i + Math.random()) * refresh * 1000) / 4),
    instances: 4,
    clientsPerInstance: 4,
    ratePerClient: 100,
    holdEvery: 50,
    authRetry: false,
    drainTimeoutMs: 30_000,
    consumerPrefix: 'bouncer-app',
    registry: false,
  });
  return async () => {
    const r = await w.stop();
    return { ops: r.ops, failed: r.failures, errors: r.failuresByCode };
  };
}

/** Admin and application credentials with the app's targets; the current version published to them. */
async function register(rig: BenchRig, fixture: EngineFixture, app: App, dir: string) {
  const credentialId = `bench-delivery/${app}/${Date.now().toString(36)}`;
  const adminId = `${credentialId}-admin`;
  const file = { type: 'file', dir, ...(app === 'pgbouncer' ? bouncer : {}) };
  const targets =
    app === 'pgbouncer' ? [{ type: 'pgbouncer', authFile: services.pgbouncer.authFile }, file] : [file];
  await registerFixture(
    rig,
    fixture,
    { adminId, credentialId },
    { strategy: 'dual-user', targets: targets as never },
  );
  await publishCurrentVersion(rig.store, credentialId, process.env);
  return credentialId;
}

async function rotate(
  rig: BenchRig,
  fixture: EngineFixture,
  credentialId: string,
  arm: Rotation,
  o: Options,
) {
  if (arm === 'naive') {
    const hooks = naiveTargetHooks(rig.store, credentialId);
    await naiveRotate(fixture, rig.store, credentialId, { strategy: 'dual-user', sleepMs: 5_000, ...hooks });
    return undefined;
  }
  const h = await rig.start({ credentialId, graceMs: (o.refresh + 5) * 1000, drainTimeoutMs: 5_000 });
  return (await h.result()).outcome;
}

async function run(app: App, arm: Rotation, rig: BenchRig, o: Options): Promise<Result> {
  const fixture = await postgresWorkload.setup();
  const dir = mkdtempSync(join(tmpdir(), `bench-${app}-${arm}-`));
  let stop: (() => Promise<Omit<Result, 'app' | 'arm'>>) | undefined;
  try {
    const credentialId = await register(rig, fixture, app, join(dir, 'app'));
    stop =
      app === 'python'
        ? startPython(join(dir, 'app'), o.refresh)
        : await startThroughBouncer(join(dir, 'app'), fixture.where.database!, o.refresh);
    await sleep(3_000);
    const outcome = await rotate(rig, fixture, credentialId, arm, o);
    await sleep(o.seconds * 1000);
    const r = await stop();
    stop = undefined;
    console.log(
      `[${app} ${arm}] ${r.ops} ops, ${r.failed} failed${outcome ? ` (${outcome})` : ''}`,
      r.errors,
    );
    return { app, arm, ...r, outcome };
  } finally {
    await stop?.().catch(() => undefined);
    await fixture.cleanup();
    if (app === 'pgbouncer') {
      // The shared auth file keeps no line of this run's (dropped) logins.
      const gone = [fixture.login, `${fixture.login}_b`].map((u) => [u, undefined] as const);
      await updateAuthFile(services.pgbouncer.authFile, new Map(gone));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      apps: { type: 'string', default: 'python,pgbouncer' },
      refresh: { type: 'string', default: '10' },
      seconds: { type: 'string', default: '12' },
    },
  });
  const o: Options = { refresh: Number(values.refresh), seconds: Number(values.seconds) };
  const apps = values.apps.split(',') as App[];
  const rig = await createBenchRig(services.temporalAddress);
  const results: Result[] = [];
  try {
    for (const app of apps)
      for (const arm of ['naive', 'ours'] as const) results.push(await run(app, arm, rig, o));
  } finally {
    await rig.close();
  }
  console.log('\napp        run    ops      failed  failures');
  for (const r of results) {
    console.log(
      `${r.app.padEnd(10)} ${r.arm.padEnd(6)} ${String(r.ops).padEnd(8)} ${String(r.failed).padEnd(7)} ${JSON.stringify(r.errors)}`,
    );
  }
  const out = join(__dirname, '..', 'reports', 'bench-delivery.json');
  mkdirSync(join(__dirname, '..', 'reports'), { recursive: true });
  writeFileSync(out, JSON.stringify({ refreshSeconds: o.refresh, results }, null, 2));
  console.log(`\nwrote ${out}`);
  if (results.some((r) => r.arm === 'ours' && (r.failed > 0 || r.outcome !== 'rotated')))
    process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
