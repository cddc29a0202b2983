/**
 * The main job, end to end on this machine: 4 application instances × 2
 * clients query PostgreSQL through the consumer library (own pools, own
 * credential polling, heartbeats) while a real worker on the Temporal dev
 * server rotates their login with a short grace period. Prints phases with
 * timings, consumers migrated, ops, failed ops and p50/p99 latency before,
 * during and after. Run via `npm run demo` (scripts/demo.sh starts the services).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client as PgClient, escapeIdentifier, escapeLiteral } from 'pg';
import { Worker, Runtime, DefaultLogger } from '@temporalio/worker';
import { encryptedDataConverter } from '../src/codec';
import { defaultStateDir, loadConfig } from '../src/config';
import { generatePassword } from '../src/engines/password';
import { connectClient, openConfiguredStore, productionActivities } from '../src/runtime';
import { parseCredentialDefinition } from '../src/store/schema';
import { statusQuery } from '../src/shared/messages';
import { rotationWorkflowId } from '../src/shared/constants';
import { formatStatus, startRotation } from '../src/client';
import type { RotationResult } from '../src/shared/types';
import type { Client } from '@temporalio/client';
import type { ManagedCredentialStore } from '../src/store';
import { openPg } from '../bench/lib/engines/postgres';
import { startWorkload, type RunningWorkload } from '../bench/lib/workload';

const DEMO_DB = 'rotator_demo';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
function pct(xs: number[], q: number): string {
  if (xs.length === 0) return '-';
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(2);
}
const DEMO_LOGIN = 'demo_app';
const ADMIN_ID = 'demo/pg-admin';
const APP_ID = 'demo/pg-app';

interface DemoPg {
  host: string;
  port: number;
  admin: { user: string; password: string };
}

/** 1a. The demo database (created once, reused on later runs). */
async function ensureDemoDatabase(pg: DemoPg): Promise<void> {
  const root = new PgClient({ host: pg.host, port: pg.port, database: 'postgres', ...pg.admin });
  await root.connect();
  if ((await root.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [DEMO_DB])).rowCount === 0) {
    await root.query(`CREATE DATABASE ${escapeIdentifier(DEMO_DB)}`);
  }
  await root.end();
}

/** 1b. The application login with its tables, returning its password. */
async function createDemoLogin(pg: DemoPg): Promise<string> {
  const password = generatePassword();
  const db = new PgClient({ host: pg.host, port: pg.port, database: DEMO_DB, ...pg.admin });
  await db.connect();
  for (const name of [DEMO_LOGIN, `${DEMO_LOGIN}_b`]) {
    await db.query(`DROP OWNED BY ${escapeIdentifier(name)}`).catch(() => undefined);
    await db.query(`DROP ROLE IF EXISTS ${escapeIdentifier(name)}`);
  }
  await db.query(`CREATE ROLE ${escapeIdentifier(DEMO_LOGIN)} LOGIN PASSWORD ${escapeLiteral(password)}`);
  await db.query(`CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, item text)`);
  await db.query(`GRANT SELECT, INSERT ON orders TO ${escapeIdentifier(DEMO_LOGIN)}`);
  await db.query(`GRANT USAGE ON SEQUENCE orders_id_seq TO ${escapeIdentifier(DEMO_LOGIN)}`);
  // What the workload reads: SELECT ... WHERE id = $1 with ids 1..100.
  await db.query(`CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, payload text NOT NULL)`);
  await db.query(
    `INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 100) g ON CONFLICT DO NOTHING`,
  );
  await db.query(`GRANT SELECT ON items TO ${escapeIdentifier(DEMO_LOGIN)}`);
  await db.end();
  return password;
}

/** 1. A database and an application login to rotate, registered in the store (once). */
async function ensureDemoCredential(store: ManagedCredentialStore, pg: DemoPg): Promise<void> {
  await ensureDemoDatabase(pg);
  const known = await store.listDefinitions();
  if (known.some((d) => d.id === APP_ID)) return;
  const password = await createDemoLogin(pg);
  const base = { engine: 'postgres', host: pg.host, port: pg.port, database: DEMO_DB };
  await store.putDefinition(
    parseCredentialDefinition({ ...base, id: ADMIN_ID, baseUsername: pg.admin.user }),
    'demo',
  );
  await store.importCurrent(ADMIN_ID, { username: pg.admin.user, password: pg.admin.password }, 'demo');
  await store.putDefinition(
    parseCredentialDefinition({
      ...base,
      id: APP_ID,
      baseUsername: DEMO_LOGIN,
      adminCredentialId: ADMIN_ID,
    }),
    'demo',
  );
  await store.importCurrent(APP_ID, { username: DEMO_LOGIN, password }, 'demo');
  console.log(`demo: created database ${DEMO_DB} and login ${DEMO_LOGIN}`);
}

type WindowName = 'before' | 'during' | 'after';

/** Operations by window: before the rotation starts, while it runs, after it ended. */
class Windows {
  readonly byName: Record<WindowName, { lat: number[]; failed: number }> = {
    before: { lat: [], failed: 0 },
    during: { lat: [], failed: 0 },
    after: { lat: [], failed: 0 },
  };
  rotationStart = Infinity;
  rotationEnd = Infinity;

  record(at: number, ms: number, failed: boolean): void {
    const w = this.byName[at < this.rotationStart ? 'before' : at <= this.rotationEnd ? 'during' : 'after'];
    w.lat.push(ms);
    if (failed) w.failed++;
  }
}

/**
 * 3. The application: 4 instances × 2 clients through the consumer library,
 *    each instance polling the store every 2 s with its own phase, heartbeats on.
 */
function startDemoApplication(
  store: ManagedCredentialStore,
  client: Client,
  pg: DemoPg,
  windows: Windows,
): Promise<RunningWorkload> {
  return startWorkload({
    open: openPg({ host: pg.host, port: pg.port, database: DEMO_DB }, 'items'),
    store,
    credentialId: APP_ID,
    instances: 4,
    clientsPerInstance: 2,
    pollMs: 2_000,
    ratePerClient: 50,
    holdEvery: 20,
    holdMs: 500,
    holdQueries: 3,
    heartbeat: { client, periodMs: 1_000 },
    consumerPrefix: 'demo-app',
    registry: false,
    onOp: (at, ms, failed) => windows.record(at, ms, failed),
  });
}

/** 4. Rotate with a short grace period, printing phases as they change. */
async function rotateShowingPhases(client: Client, cfg: ReturnType<typeof loadConfig>, windows: Windows) {
  windows.rotationStart = Date.now();
  const started = windows.rotationStart;
  const handle = await startRotation(client, cfg, {
    credentialId: APP_ID,
    graceMs: 3_000,
    drainTimeoutMs: 5_000,
    consumerDiscoveryMs: 2_000,
    requestedBy: 'demo',
    reason: 'demo run',
  });
  let lastPhase = '';
  const poll = setInterval(() => {
    handle
      .query(statusQuery)
      .then((s) => {
        if (s.phase !== lastPhase) console.log(`  +${Date.now() - started} ms  phase ${s.phase}`);
        lastPhase = s.phase;
      })
      .catch(() => undefined);
  }, 200);
  const result = (await handle.result()) as RotationResult;
  clearInterval(poll);
  windows.rotationEnd = Date.now();
  return { handle, result };
}

/** 5. Report: the rotation's status, the workload by window, and the new login at work. */
async function report(
  client: Client,
  rotation: Awaited<ReturnType<typeof rotateShowingPhases>>,
  load: Awaited<ReturnType<RunningWorkload['stop']>>,
  windows: Windows,
): Promise<void> {
  const { handle, result } = rotation;
  const status = await client.workflow
    .getHandle(rotationWorkflowId(APP_ID), handle.firstExecutionRunId)
    .query(statusQuery);
  const history = await handle.fetchHistory();
  console.log('\n' + formatStatus(status));
  console.log(`\noutcome        ${result.outcome}${result.error ? ` — ${result.error}` : ''}`);
  console.log(
    `rotation       ${windows.rotationEnd - windows.rotationStart} ms, ${history.events?.length ?? 0} history events`,
  );
  const migrated = status.consumers.filter((c) => c.version === status.plan?.toVersion).length;
  console.log(
    `consumers      ${migrated}/${status.consumers.length} on v${status.plan?.toVersion} before revoke`,
  );
  console.log(`workload       ${load.ops} ops (${load.opsPerSec}/s), ${load.failures} failed`);
  for (const [name, w] of Object.entries(windows.byName)) {
    console.log(
      `  ${name.padEnd(7)} ${String(w.lat.length).padStart(6)} ops  ${w.failed} failed  p50 ${pct(w.lat, 0.5)} ms  p99 ${pct(w.lat, 0.99)} ms`,
    );
  }
}

/** The new login logs in and writes. */
async function checkNewLogin(store: ManagedCredentialStore, pg: DemoPg): Promise<void> {
  const after = await store.getSecret(APP_ID, 'CURRENT');
  const check = new PgClient({
    host: pg.host,
    port: pg.port,
    database: DEMO_DB,
    user: after.username,
    password: after.password,
  });
  await check.connect();
  await check.query(`INSERT INTO orders (item) VALUES ('after rotation')`);
  await check.end();
  console.log(`new login      ${after.username} (v${after.version}) logs in and writes`);
}

async function main(): Promise<void> {
  const cfg = loadConfig();
  const env = process.env;
  const pg: DemoPg = {
    host: env.PGHOST ?? '127.0.0.1',
    port: Number(env.PGPORT ?? 5432),
    admin: { user: env.ROTATOR_PG_ADMIN_USER!, password: env.ROTATOR_PG_ADMIN_PASSWORD! },
  };
  Runtime.install({ logger: new DefaultLogger('WARN') });

  const store = await openConfiguredStore(cfg);
  await ensureDemoCredential(store, pg);

  // 2. A worker in this process, on the dev server.
  const worker = await Worker.create({
    taskQueue: cfg.temporal.taskQueue,
    namespace: cfg.temporal.namespace,
    workflowsPath: join(__dirname, '..', 'src', 'workflows', 'index.ts'),
    activities: productionActivities(store, 'demo-worker'),
    dataConverter: encryptedDataConverter(cfg.codecKeyring),
  });
  const running = worker.run();
  const client = await connectClient(cfg);

  const windows = new Windows();
  const workload = await startDemoApplication(store, client, pg, windows);
  await sleep(3_000);
  const before = await store.getVersion(APP_ID, 'CURRENT');
  console.log(`demo: rotating ${APP_ID} (current v${before?.version} login ${before?.username}) under load`);
  const rotation = await rotateShowingPhases(client, cfg, windows);
  await sleep(3_000);
  const load = await workload.stop();

  await report(client, rotation, load, windows);
  await checkNewLogin(store, pg);

  worker.shutdown();
  await running;
  await client.connection.close();
  await store.close();
  if (rotation.result.outcome !== 'rotated' || load.failures > 0) process.exit(3);
}

mkdirSync(join(defaultStateDir(), 'demo'), { recursive: true });
main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
