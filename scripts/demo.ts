/**
 * The main job, end to end on this machine: a real PostgreSQL login is
 * rotated by a real worker on the Temporal dev server, with a short grace
 * period, and a report of what happened is printed. Run via `npm run demo`
 * (scripts/demo.sh starts the services first).
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

const DEMO_DB = 'rotator_demo';
const DEMO_LOGIN = 'demo_app';
const ADMIN_ID = 'demo/pg-admin';
const APP_ID = 'demo/pg-app';

async function main(): Promise<void> {
  const cfg = loadConfig();
  const env = process.env;
  const pgAdmin = { user: env.ROTATOR_PG_ADMIN_USER!, password: env.ROTATOR_PG_ADMIN_PASSWORD! };
  const host = env.PGHOST ?? '127.0.0.1';
  const port = Number(env.PGPORT ?? 5432);
  Runtime.install({ logger: new DefaultLogger('WARN') });

  const store = await openConfiguredStore(cfg);
  // 1. A database and an application login to rotate (created once, reused on later runs).
  const root = new PgClient({ host, port, database: 'postgres', ...pgAdmin });
  await root.connect();
  if ((await root.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [DEMO_DB])).rowCount === 0) {
    await root.query(`CREATE DATABASE ${escapeIdentifier(DEMO_DB)}`);
  }
  await root.end();
  const known = await store.listDefinitions();
  if (!known.some((d) => d.id === APP_ID)) {
    const password = generatePassword();
    const db = new PgClient({ host, port, database: DEMO_DB, ...pgAdmin });
    await db.connect();
    for (const name of [DEMO_LOGIN, `${DEMO_LOGIN}_b`]) {
      await db.query(`DROP OWNED BY ${escapeIdentifier(name)}`).catch(() => undefined);
      await db.query(`DROP ROLE IF EXISTS ${escapeIdentifier(name)}`);
    }
    await db.query(`CREATE ROLE ${escapeIdentifier(DEMO_LOGIN)} LOGIN PASSWORD ${escapeLiteral(password)}`);
    await db.query(`CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, item text)`);
    await db.query(`GRANT SELECT, INSERT ON orders TO ${escapeIdentifier(DEMO_LOGIN)}`);
    await db.query(`GRANT USAGE ON SEQUENCE orders_id_seq TO ${escapeIdentifier(DEMO_LOGIN)}`);
    await db.end();
    const base = { engine: 'postgres', host, port, database: DEMO_DB };
    await store.putDefinition(
      parseCredentialDefinition({ ...base, id: ADMIN_ID, baseUsername: pgAdmin.user }),
      'demo',
    );
    await store.importCurrent(ADMIN_ID, { username: pgAdmin.user, password: pgAdmin.password }, 'demo');
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

  // 3. Rotate with a short grace period, printing phases as they change.
  const before = await store.getVersion(APP_ID, 'CURRENT');
  console.log(`demo: rotating ${APP_ID} (current v${before?.version} login ${before?.username})`);
  const started = Date.now();
  const handle = await startRotation(client, cfg, {
    credentialId: APP_ID,
    graceMs: 3_000,
    drainTimeoutMs: 2_000,
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

  // 4. Report.
  const status = await client.workflow
    .getHandle(rotationWorkflowId(APP_ID), handle.firstExecutionRunId)
    .query(statusQuery);
  const history = await handle.fetchHistory();
  console.log('\n' + formatStatus(status));
  console.log(`\noutcome        ${result.outcome}${result.error ? ` — ${result.error}` : ''}`);
  console.log(`total          ${Date.now() - started} ms`);
  console.log(`history        ${history.events?.length ?? 0} events`);
  const after = await store.getSecret(APP_ID, 'CURRENT');
  const check = new PgClient({
    host,
    port,
    database: DEMO_DB,
    user: after.username,
    password: after.password,
  });
  await check.connect();
  await check.query(`INSERT INTO orders (item) VALUES ('after rotation')`);
  await check.end();
  console.log(`new login      ${after.username} (v${after.version}) logs in and writes`);

  worker.shutdown();
  await running;
  await client.connection.close();
  await store.close();
  if (result.outcome !== 'rotated') process.exit(3);
}

mkdirSync(join(defaultStateDir(), 'demo'), { recursive: true });
main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
