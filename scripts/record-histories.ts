/**
 * Records the replay corpus (test/replay/histories/*.json): representative
 * rotations run on the Temporal dev server with the real activities against
 * the real services, one history per scenario (plus the children of the
 * fleet and of the schedule launcher). test/workflows/replay.test.ts replays
 * every file against the current workflow code.
 *
 *   npx tsx scripts/record-histories.ts [--archive <release>]
 *
 * Each recording replaces test/replay/histories/<scenario>.json. With
 * --archive, the current top-level files first move to
 * test/replay/histories/<release>/, which the replay test keeps replaying:
 * do that once per release that changed workflow behaviour, since runs
 * started on that release may still be running after the next deploy.
 *
 * Needs the services (bash scripts/services.sh up). Payloads are encrypted
 * with the fixed, public, test-only codec key (test/helpers/temporal.ts
 * testKeyring); the passwords are generated here and thrown away, and every
 * file is checked — raw and with every payload decrypted — for each of them
 * before anything is written.
 *
 * Re-record when adding a scenario or after an intended, patched() change;
 * never to make a failing replay pass (README "Upgrading").
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { Client as PgClient, escapeIdentifier } from 'pg';
import * as prettier from 'prettier';
import { AesGcmPayloadCodec, encryptedDataConverter, failureConverterPath } from '../src/codec';
import { productionActivities } from '../src/runtime';
import { openStore, SecretCipher, type ManagedCredentialStore } from '../src/store';
import { generateKeyBase64, parseKeyring } from '../src/store/crypto';
import { planWorkflowId, rotationWorkflowId } from '../src/shared/constants';
import {
  abortUpdate,
  consumerHeartbeatSignal,
  extendGraceUpdate,
  finishGraceUpdate,
  resolveUpdate,
  rollbackUpdate,
} from '../src/shared/messages';
import type { FleetInput, RotationInput, RotationResult, RotationStatus } from '../src/shared/types';
import { freshPg, type PgNamespace } from '../test/helpers/pg';
import { addPgAdmin, addPgApp } from '../test/helpers/pg-rig';
import { freshMysql, type MysqlNamespace } from '../test/helpers/mysql';
import { freshRedis, type RedisNamespace } from '../test/helpers/redis';
import { freshMongo, type MongoNamespace } from '../test/helpers/mongo';
import { importCredential, recordingGeneratedPasswords, type RotationRig } from '../test/helpers/rotation';
import { rotateCredential } from '../src/workflows/rotate-credential';
import { rotateFleet, scheduledRotation } from '../src/workflows/rotate-fleet';
import { REPO_ROOT, services, testTls, uniqueSuffix } from '../test/helpers/services';
import { devServerEnv, encryptedClient, testKeyring, uniqueTaskQueue } from '../test/helpers/temporal';

const HISTORIES_DIR = join(REPO_ROOT, 'test', 'replay', 'histories');

/** A recorded run: the file name (without .json) and the execution. */
interface Recorded {
  name: string;
  workflowId: string;
  runId: string;
}

type Activities = ReturnType<typeof productionActivities>;

const log = (msg: string) =>
  console.log(`[record-histories ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const started = Date.now();
  const archive = archiveArg(process.argv.slice(2));
  const keyring = testKeyring();
  const env = await devServerEnv();
  log('bundling the workflows of src/ (as test/helpers/global-setup.ts does)');
  const { code } = await bundleWorkflowCode({
    workflowsPath: join(REPO_ROOT, 'src', 'workflows', 'index.ts'),
    failureConverterPath,
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
  });

  const dir = mkdtempSync(join(tmpdir(), 'record-histories-'));
  const store = await openStore(
    { backend: 'file', path: join(dir, 'store.json') },
    new SecretCipher(parseKeyring(`k1:${generateKeyBase64()}`)),
  );
  const secrets = new Set<string>();
  const hooks = new Hooks();
  const taskQueue = uniqueTaskQueue('replay-corpus');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    identity: 'record-histories',
    workflowBundle: { code },
    activities: hooks.wrap(
      productionActivities(
        recordingGeneratedPasswords(store, (p) => secrets.add(p)),
        'record-histories',
      ),
    ),
    dataConverter: encryptedDataConverter(keyring),
  });
  const running = worker.run();
  const client = encryptedClient(env, keyring);
  const ids: string[] = [];
  const rig = {
    store,
    client,
    taskQueue,
    async addCredential(partial, current) {
      const def = await importCredential(store, partial, current, 'record-histories');
      secrets.add(current.password);
      ids.push(def.id);
    },
  } as Pick<RotationRig, 'store' | 'client' | 'taskQueue' | 'addCredential'> as RotationRig;

  const cleanups: Array<() => Promise<void>> = [];
  const recorded: Recorded[] = [];
  try {
    const ctx = await prepareDatabases({ rig, client, taskQueue, hooks }, cleanups);
    for (const admin of [services.postgres, services.mysql, services.redis, services.mongo])
      secrets.add(admin.password);

    recorded.push(...(await runScenarios(ctx)));
  } finally {
    worker.shutdown();
    await running;
    for (const c of cleanups.reverse()) await c().catch((e) => log(`cleanup: ${String(e)}`));
  }

  await addStorePasswords(store, ids, secrets);
  await store.close();
  rmSync(dir, { recursive: true, force: true });

  const { files, histories, checked } = await serializeWithoutLeaks(client, keyring, recorded, secrets);

  // The corpus must replay on the code it was recorded with.
  const replayed = await replayAll(code, keyring, histories);

  writeCorpus(files, archive);
  await env.teardown();
  log(
    `${files.size} histories written to test/replay/histories (${replayed} replayed, ${checked.length} passwords checked, none found) in ${Math.round((Date.now() - started) / 1000)} s`,
  );
}

/** A fresh namespace on each database server with its admin credential; `cleanups` undo them. */
async function prepareDatabases(
  base: Pick<Ctx, 'rig' | 'client' | 'taskQueue' | 'hooks'>,
  cleanups: Array<() => Promise<void>>,
): Promise<Ctx> {
  const { rig } = base;
  const pg = await freshPg();
  cleanups.push(() => pg.cleanup());
  const mysql = await freshMysql();
  cleanups.push(() => mysql.cleanup());
  const redis = await freshRedis();
  cleanups.push(() => redis.cleanup());
  const mongo = await freshMongo();
  cleanups.push(() => mongo.cleanup());
  return {
    ...base,
    pg,
    mysql,
    redis,
    mongo,
    pgAdminId: await addPgAdmin(rig, pg),
    mysqlAdminId: await addAdmin(rig, 'mysql', services.mysql, { database: mysql.database }),
    redisAdminId: await addAdmin(rig, 'redis', services.redis, {}),
    mongoAdminId: await addAdmin(rig, 'mongodb', services.mongo, { database: 'admin' }),
  };
}

/** Runs every scenario, a few at a time (the machine is shared), and returns the runs to record. */
async function runScenarios(ctx: Ctx): Promise<Recorded[]> {
  const recorded: Recorded[] = [];
  const queue = [...SCENARIOS];
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      for (let s = queue.shift(); s; s = queue.shift()) {
        const t0 = Date.now();
        const runs = await withTimeout(s.run(ctx), 180_000, s.name);
        for (const r of runs) recorded.push(r);
        log(`${s.name}: ${runs.length} run(s) in ${Date.now() - t0} ms`);
      }
    }),
  );
  return recorded;
}

/** Every password the store knows (generated or imported), for the leak check. */
async function addStorePasswords(store: ManagedCredentialStore, ids: string[], secrets: Set<string>) {
  for (const id of ids) {
    for (const v of await store.listVersions(id)) {
      const s = await store.getSecret(id, v.version).catch(() => undefined);
      if (s) secrets.add(s.password);
    }
  }
}

/**
 * The recorded runs' histories as corpus files, in name order. Throws, with
 * nothing written, when a password appears in one (plain or decrypted) or a
 * history holds no decryptable credential id.
 */
async function serializeWithoutLeaks(
  client: Client,
  keyring: ReturnType<typeof testKeyring>,
  recorded: Recorded[],
  secrets: Set<string>,
) {
  const files = new Map<string, string>();
  const histories: Array<{ workflowId: string; history: temporal.api.history.v1.IHistory }> = [];
  const codec = new AesGcmPayloadCodec(keyring);
  const leaks: string[] = [];
  const checked = [...secrets].filter((s) => s.length >= 8);
  if (checked.length < 20)
    throw new Error(`only ${checked.length} passwords collected: the leak check would prove nothing`);
  for (const r of recorded.sort((a, b) => a.name.localeCompare(b.name))) {
    const history = await client.workflow.getHandle(r.workflowId, r.runId).fetchHistory();
    // protobufjs's own JSON form (longs and bytes as strings, enum names); test/replay loads it with
    // History.fromObject. Not historyToJSON: @temporalio/common 1.24 ships protobufjs 8 next to the
    // proto package's 7, and its historyToJSON/historyFromJSON throw "type must be a Type" here.
    const json = temporal.api.history.v1.History.fromObject(history).toJSON();
    const text = await prettier.format(JSON.stringify(json), { parser: 'json' });
    const plain = (await decryptAll(JSON.parse(text) as unknown, codec)).join('\n');
    for (const s of checked)
      if (text.includes(s) || plain.includes(s)) leaks.push(`${r.name}: a password of length ${s.length}`);
    if (!plain.includes('"credentialId"') && !plain.includes('"selector"'))
      throw new Error(`${r.name}: no decryptable payload with a credential id (wrong key?)`);
    files.set(`${r.name}.json`, text);
    histories.push({ workflowId: r.name, history });
  }
  if (leaks.length)
    throw new Error(`passwords found in recorded histories, nothing written:\n${leaks.join('\n')}`);
  return { files, histories, checked };
}

/** Replays the histories on the bundle that recorded them; returns how many replayed. */
async function replayAll(
  code: string,
  keyring: ReturnType<typeof testKeyring>,
  histories: Array<{ workflowId: string; history: temporal.api.history.v1.IHistory }>,
): Promise<number> {
  let replayed = 0;
  for await (const res of Worker.runReplayHistories(
    { workflowBundle: { code }, dataConverter: encryptedDataConverter(keyring) },
    histories,
  )) {
    if (res.error)
      throw new Error(`${res.workflowId} does not replay on the code that recorded it: ${res.error}`);
    replayed++;
  }
  return replayed;
}

/** Writes the corpus; with --archive, the previous recordings move to test/replay/histories/<archive>/ first. */
function writeCorpus(files: Map<string, string>, archive: string | undefined): void {
  mkdirSync(HISTORIES_DIR, { recursive: true });
  if (archive) {
    const to = join(HISTORIES_DIR, archive);
    mkdirSync(to);
    for (const f of readdirSync(HISTORIES_DIR))
      if (f.endsWith('.json')) renameSync(join(HISTORIES_DIR, f), join(to, f));
    log(`previous recordings kept in test/replay/histories/${archive}/`);
  }
  for (const [name, text] of files) writeFileSync(join(HISTORIES_DIR, name), text);
}

/** `--archive <release>`: a plain directory name that does not exist yet. */
function archiveArg(args: string[]): string | undefined {
  if (args.length === 0) return undefined;
  const [flag, name] = args;
  if (flag !== '--archive' || !name || args.length > 2 || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
    throw new Error('usage: npx tsx scripts/record-histories.ts [--archive <release>]');
  if (existsSync(join(HISTORIES_DIR, name))) throw new Error(`test/replay/histories/${name} exists already`);
  return name;
}

// ------------------------------------------------------------------ scenarios

interface Ctx {
  rig: RotationRig;
  client: Client;
  taskQueue: string;
  hooks: Hooks;
  pg: PgNamespace;
  mysql: MysqlNamespace;
  redis: RedisNamespace;
  mongo: MongoNamespace;
  pgAdminId: string;
  mysqlAdminId: string;
  redisAdminId: string;
  mongoAdminId: string;
}

interface Scenario {
  name: string;
  run(ctx: Ctx): Promise<Recorded[]>;
}

const LONG_GRACE = { graceMs: 3_600_000, drainTimeoutMs: 0, consumerDiscoveryMs: 0 };
const NO_GRACE = { graceMs: 0, drainTimeoutMs: 0, consumerDiscoveryMs: 0 };

const SCENARIOS: Scenario[] = [
  {
    // The full path: consumer heartbeats during migrate, an extension and an early end of the grace.
    name: 'postgres-dual-user-rotated',
    async run(c) {
      const app = await addPgApp(c.rig, c.pg, c.pgAdminId, 'full');
      const h = await start(c, {
        credentialId: app.id,
        ...LONG_GRACE,
        consumerDiscoveryMs: 2_000,
        requestedBy: 'replay-corpus',
        reason: 'representative rotation',
      });
      await waitForPhase(h, ['migrate']);
      await h.signal(consumerHeartbeatSignal, { consumerId: 'orders-api-1', version: 1 });
      await sleep(300);
      await h.signal(consumerHeartbeatSignal, { consumerId: 'orders-api-1', version: 2 });
      await waitForPhase(h, ['grace']);
      await h.executeUpdate(extendGraceUpdate, { args: [{ byMs: 60_000, by: 'replay-corpus' }] });
      await h.executeUpdate(finishGraceUpdate, {
        args: [{ reason: 'consumers moved', by: 'replay-corpus' }],
      });
      return [await expectOutcome('postgres-dual-user-rotated', h, 'rotated', 'dual-user')];
    },
  },
  ...(['dual-password', 'dual-user'] as const).map((strategy): Scenario => ({
    name: `mysql-${strategy}-rotated`,
    async run(c) {
      const id = await addMysqlApp(c, strategy);
      return [await rotateThroughGrace(c, `mysql-${strategy}-rotated`, id, strategy)];
    },
  })),
  ...(['dual-password', 'dual-user'] as const).map((strategy): Scenario => ({
    name: `redis-${strategy}-rotated`,
    async run(c) {
      const id = await addRedisApp(c, strategy);
      return [await rotateThroughGrace(c, `redis-${strategy}-rotated`, id, strategy)];
    },
  })),
  {
    name: 'mongodb-dual-user-rotated',
    async run(c) {
      const id = await addMongoApp(c);
      return [await rotateThroughGrace(c, 'mongodb-dual-user-rotated', id, 'dual-user')];
    },
  },
  {
    // The abort arrives while verify runs (held by a hook): compensation restores the state.
    name: 'abort-before-promote',
    async run(c) {
      const app = await addPgApp(c.rig, c.pg, c.pgAdminId, 'abort');
      const gate = c.hooks.hold('verifyPending', app.id);
      const h = await start(c, { credentialId: app.id, ...LONG_GRACE });
      await gate.reached;
      await h.executeUpdate(abortUpdate, { args: [{ reason: 'wrong credential', by: 'replay-corpus' }] });
      gate.release();
      return [await expectOutcome('abort-before-promote', h, 'aborted')];
    },
  },
  {
    name: 'rollback-in-grace',
    async run(c) {
      const app = await addPgApp(c.rig, c.pg, c.pgAdminId, 'rollback');
      const h = await start(c, { credentialId: app.id, ...LONG_GRACE });
      await waitForPhase(h, ['grace']);
      await h.executeUpdate(rollbackUpdate, { args: [{ reason: 'bad deploy', by: 'replay-corpus' }] });
      return [await expectOutcome('rollback-in-grace', h, 'rolled-back')];
    },
  },
  {
    // Short grace and a forced revoke at the deadline, with a consumer that never moves.
    name: 'emergency',
    async run(c) {
      const app = await addPgApp(c.rig, c.pg, c.pgAdminId, 'leaked');
      const h = await start(c, {
        credentialId: app.id,
        emergency: true,
        reason: 'password in a public repo',
        graceMs: 2_000,
      });
      await h.signal(consumerHeartbeatSignal, { consumerId: 'billing-7', version: 1 });
      return [await expectOutcome('emergency', h, 'rotated')];
    },
  },
  {
    // A step after promote fails permanently once: the run parks, an operator says retry.
    name: 'needs-operator-retry',
    async run(c) {
      const app = await addPgApp(c.rig, c.pg, c.pgAdminId, 'parked');
      c.hooks.failOnce('revokeOld', app.id);
      const h = await start(c, { credentialId: app.id, ...NO_GRACE });
      await waitForPhase(h, ['needs-operator']);
      await h.executeUpdate(resolveUpdate, {
        args: [{ action: 'retry', reason: 'fixed', by: 'replay-corpus' }],
      });
      return [await expectOutcome('needs-operator-retry', h, 'rotated')];
    },
  },
  {
    // An admin credential manages itself: dual-user clone of a dedicated superuser.
    name: 'admin-rotation',
    async run(c) {
      const password = `Admin-${uniqueSuffix()}-Pw1`;
      const login = await c.pg.createLogin('admin', password, 'SUPERUSER');
      const id = `replay-pg-admin/${uniqueSuffix()}`;
      await c.rig.addCredential(
        {
          id,
          engine: 'postgres',
          host: services.postgres.host,
          port: services.postgres.port,
          database: c.pg.database,
        },
        { username: login, password },
      );
      const h = await start(c, { credentialId: id, ...NO_GRACE });
      return [await expectOutcome('admin-rotation', h, 'rotated', 'dual-user')];
    },
  },
  {
    name: 'preflight-failed',
    async run(c) {
      const app = await addPgApp(c.rig, c.pg, c.pgAdminId, 'missing');
      await c.pg.admin.query(`DROP OWNED BY ${escapeIdentifier(app.login)}`);
      await c.pg.admin.query(`DROP ROLE ${escapeIdentifier(app.login)}`);
      const h = await start(c, { credentialId: app.id, ...NO_GRACE });
      const err = await h.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      if (!(err instanceof WorkflowFailedError))
        throw new Error(`preflight-failed: expected a failed run, got ${String(err)}`);
      return [{ name: 'preflight-failed', workflowId: h.workflowId, runId: await runIdOf(h) }];
    },
  },
  {
    name: 'fleet',
    async run(c) {
      const { apps, h } = await startFleetOfTwo(c, 'fleet', { concurrency: 2, rotation: NO_GRACE });
      const summary = await h.result();
      if (summary.rotated.length !== 2) throw new Error(`fleet: ${JSON.stringify(summary)}`);
      const out: Recorded[] = [{ name: 'fleet', workflowId: h.workflowId, runId: await runIdOf(h) }];
      for (const [i, a] of apps.entries()) {
        const child = c.client.workflow.getHandle(rotationWorkflowId(a.id));
        out.push({ name: `fleet-child-${i + 1}`, workflowId: child.workflowId, runId: await runIdOf(child) });
      }
      return out;
    },
  },
  {
    // Cancelling a fleet stops launching; the running rotation is abandoned, not cancelled.
    name: 'fleet-cancelled',
    async run(c) {
      const { apps, h } = await startFleetOfTwo(c, 'fcancel', { concurrency: 1, rotation: LONG_GRACE });
      const children = apps.map((a) => c.client.workflow.getHandle(rotationWorkflowId(a.id)));
      const first = await firstInGrace(children);
      await h.cancel();
      const summary = await h.result();
      if (!summary.cancelled || summary.leftRunning?.[0] !== first.workflowId.replace(/^rotate\//, ''))
        throw new Error(`fleet-cancelled: ${JSON.stringify(summary)}`);
      await first.executeUpdate(finishGraceUpdate, { args: [{}] });
      await expectOutcome('fleet-cancelled (child)', first, 'rotated');
      return [{ name: 'fleet-cancelled', workflowId: h.workflowId, runId: await runIdOf(h) }];
    },
  },
  {
    // What a Temporal Schedule runs: the launcher starts the fixed-id rotation and waits for it.
    name: 'schedule-launcher',
    async run(c) {
      const app = await addPgApp(c.rig, c.pg, c.pgAdminId, 'sched');
      const input: RotationInput = { credentialId: app.id, ...NO_GRACE };
      const h = await c.client.workflow.start(scheduledRotation, {
        args: [input],
        taskQueue: c.taskQueue,
        workflowId: `schedule-launcher/replay-${uniqueSuffix()}`,
      });
      const result = await h.result();
      if (result.outcome !== 'rotated') throw new Error(`schedule-launcher: ${JSON.stringify(result)}`);
      const child = c.client.workflow.getHandle(rotationWorkflowId(app.id));
      return [
        { name: 'schedule-launcher', workflowId: h.workflowId, runId: await runIdOf(h) },
        { name: 'schedule-launcher-child', workflowId: child.workflowId, runId: await runIdOf(child) },
      ];
    },
  },
  {
    // Issue 13: the replica on 5433 is a node, so the rotation passes the `replicate` step
    // (patched 'replicate-to-nodes') between verify and promote, and revoke ends old sessions there.
    name: 'postgres-replicated',
    async run(c) {
      const replica = { host: services.postgres.host, port: services.postgresReplicaPort };
      const adminId = await addPgAdmin(c.rig, c.pg, [replica]);
      const app = await addPgApp(c.rig, c.pg, adminId, 'replicated', { definition: { nodes: [replica] } });
      await untilOnReplica(replica, app.login);
      return [await rotateThroughGrace(c, 'postgres-replicated', app.id, 'dual-user')];
    },
  },
  {
    name: 'dry-run',
    async run(c) {
      const app = await addPgApp(c.rig, c.pg, c.pgAdminId, 'plan');
      const h = await c.client.workflow.start(rotateCredential, {
        args: [{ credentialId: app.id, dryRun: true } satisfies RotationInput],
        taskQueue: c.taskQueue,
        workflowId: planWorkflowId(app.id),
      });
      const r = await h.result();
      if (r.outcome !== 'planned') throw new Error(`dry-run: ${JSON.stringify(r)}`);
      return [{ name: 'dry-run', workflowId: h.workflowId, runId: await runIdOf(h) }];
    },
  },
];

/** Start → grace (both credentials valid) → finishGrace Update → revoke. */
async function rotateThroughGrace(c: Ctx, name: string, id: string, strategy: string): Promise<Recorded> {
  const h = await start(c, { credentialId: id, ...LONG_GRACE });
  await waitForPhase(h, ['grace']);
  await h.executeUpdate(finishGraceUpdate, { args: [{}] });
  return expectOutcome(name, h, 'rotated', strategy);
}

/** A rotation's handle, typed by the workflow's signature. */
/** Two PostgreSQL apps `<prefix>_a`, `<prefix>_b` under a fresh label, and a fleet run over that label. */
async function startFleetOfTwo(c: Ctx, prefix: string, opts: Omit<FleetInput, 'selector'>) {
  const team = `replay-${uniqueSuffix()}`;
  const apps = [
    await addPgApp(c.rig, c.pg, c.pgAdminId, `${prefix}_a`, { labels: { team } }),
    await addPgApp(c.rig, c.pg, c.pgAdminId, `${prefix}_b`, { labels: { team } }),
  ];
  const h = await c.client.workflow.start(rotateFleet, {
    args: [{ selector: { labels: { team } }, ...opts }],
    taskQueue: c.taskQueue,
    workflowId: `fleet/replay-${prefix}-${uniqueSuffix()}`,
  });
  return { apps, h };
}

type RotationHandle = WorkflowHandle<typeof rotateCredential>;

function start(c: Ctx, input: RotationInput): Promise<RotationHandle> {
  return c.client.workflow.start(rotateCredential, {
    args: [input],
    taskQueue: c.taskQueue,
    workflowId: rotationWorkflowId(input.credentialId),
  });
}

async function expectOutcome(
  name: string,
  h: RotationHandle,
  outcome: RotationResult['outcome'],
  strategy?: string,
): Promise<Recorded> {
  const r = await h.result();
  if (r.outcome !== outcome || (strategy && r.strategy !== strategy))
    throw new Error(
      `${name}: expected ${outcome}${strategy ? ` (${strategy})` : ''}, got ${JSON.stringify(r)}`,
    );
  return { name, workflowId: h.workflowId, runId: await runIdOf(h) };
}

async function runIdOf(h: WorkflowHandle): Promise<string> {
  return (await h.describe()).runId;
}

/** The first of the handles whose rotation reached grace (the others may not exist yet). */
async function firstInGrace(handles: WorkflowHandle[], timeoutMs = 60_000): Promise<WorkflowHandle> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    for (const h of handles) {
      const status = await h.describe().then(
        (d) => d.memo?.status as RotationStatus | undefined,
        () => undefined,
      );
      if (status?.phase === 'grace') return h;
    }
    await sleep(100);
  }
  throw new Error('no rotation of the fleet reached grace');
}

/** Polls the status the workflow publishes in its memo (describe, never a query). */
async function waitForPhase(h: WorkflowHandle, phases: string[], timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = 'nothing';
  while (Date.now() < until) {
    const status = (await h.describe()).memo?.status as RotationStatus | undefined;
    if (status) last = status.phase;
    if (status && phases.includes(status.phase)) return;
    if (status?.outcome) break;
    await sleep(100);
  }
  throw new Error(`${h.workflowId}: phase ${phases.join('/')} not reached (last seen: ${last})`);
}

/** Until the standby has replayed the creation of `role` (preflight refuses a node that lacks the login). */
async function untilOnReplica(replica: { host: string; port: number }, role: string): Promise<void> {
  const { user, password } = services.postgres;
  const db = new PgClient({ ...replica, database: 'postgres', user, password, ssl: testTls(replica.host) });
  await db.connect();
  try {
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(100)) {
      const { rowCount } = await db.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (rowCount) return;
    }
    throw new Error(`replica ${replica.host}:${replica.port} has not replayed role ${role} in 30 s`);
  } finally {
    await db.end();
  }
}

/** The engine's admin (from scripts/services.env) as a credential of the recording store. */
async function addAdmin(
  rig: RotationRig,
  engine: 'mysql' | 'redis' | 'mongodb',
  admin: { host: string; port: number; user: string; password: string },
  extra: { database?: string },
): Promise<string> {
  const id = `replay-${engine}-admin/${uniqueSuffix()}`;
  await rig.addCredential(
    { id, engine, host: admin.host, port: admin.port, ...extra },
    { username: admin.user, password: admin.password },
  );
  return id;
}

async function addMysqlApp(c: Ctx, strategy: 'dual-password' | 'dual-user'): Promise<string> {
  const ns = c.mysql;
  const password = `Init-${uniqueSuffix()}-Pw1`;
  const login = await ns.createLogin(strategy === 'dual-user' ? 'blue' : 'app', password);
  await ns.admin.query(
    `CREATE TABLE IF NOT EXISTS ${ns.database}.orders (id int auto_increment primary key, item text)`,
  );
  await ns.admin.query(`GRANT SELECT, INSERT ON ${ns.database}.orders TO ?@'%'`, [login]);
  return addApp(c, 'mysql', strategy, c.mysqlAdminId, { login, password }, { database: ns.database });
}

async function addRedisApp(c: Ctx, strategy: 'dual-password' | 'dual-user'): Promise<string> {
  const ns = c.redis;
  const password = `Init-${uniqueSuffix()}-Pw1`;
  const name = strategy === 'dual-user' ? 'blue' : 'app';
  const login = await ns.createUser(
    name,
    'on',
    `>${password}`,
    `~${ns.prefix}${name}:*`,
    '+@read',
    '+set',
    '+ping',
  );
  return addApp(c, 'redis', strategy, c.redisAdminId, { login, password }, {});
}

async function addMongoApp(c: Ctx): Promise<string> {
  const ns = c.mongo;
  const password = `Init-${uniqueSuffix()}-Pw1`;
  // FerretDB rejects roles in createUser (docs/engine-notes-mongodb.md).
  const login = await ns.createUser('app', password);
  return addApp(c, 'mongodb', 'dual-user', c.mongoAdminId, { login, password }, { database: ns.database });
}

/** An application login of the engine's shared server as a credential the engine's admin rotates. */
async function addApp(
  c: Ctx,
  engine: 'mysql' | 'redis' | 'mongodb',
  strategy: 'dual-password' | 'dual-user',
  adminCredentialId: string,
  app: { login: string; password: string },
  extra: { database?: string },
): Promise<string> {
  const { host, port } = engine === 'mongodb' ? services.mongo : services[engine];
  const id = `replay-${engine}-${strategy}/${uniqueSuffix()}`;
  await c.rig.addCredential(
    { id, engine, host, port, ...extra, adminCredentialId, baseUsername: app.login, strategy },
    { username: app.login, password: app.password },
  );
  return id;
}

// ------------------------------------------------------------------ activity hooks

/**
 * The real activities, with two test hooks keyed by credential: hold an
 * activity until released (to send a message while a step runs), or make it
 * fail permanently once (to park the run for an operator).
 */
class Hooks {
  private holds = new Map<string, { reached: () => void; released: Promise<void> }>();
  private failures = new Set<string>();

  hold(activity: keyof Activities, credentialId: string): { reached: Promise<void>; release(): void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedP = new Promise<void>((r) => (reached = r));
    const released = new Promise<void>((r) => (release = r));
    this.holds.set(`${activity}:${credentialId}`, { reached, released });
    return { reached: reachedP, release };
  }

  failOnce(activity: keyof Activities, credentialId: string): void {
    this.failures.add(`${activity}:${credentialId}`);
  }

  wrap(acts: Activities): Activities {
    const wrapped: Record<string, unknown> = {};
    for (const [name, fn] of Object.entries(acts) as Array<[string, (...a: unknown[]) => Promise<unknown>]>) {
      wrapped[name] = async (...args: unknown[]) => {
        const id = credentialIdOf(args[0]);
        const key = `${name}:${id}`;
        const held = this.holds.get(key);
        if (held) {
          this.holds.delete(key);
          held.reached();
          await held.released;
        }
        if (this.failures.delete(key))
          throw ApplicationFailure.nonRetryable(
            `injected failure in ${name} (replay corpus)`,
            'InjectedFailure',
          );
        return fn(...args);
      };
    }
    return wrapped as Activities;
  }
}

function credentialIdOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg && typeof arg === 'object' && 'credentialId' in arg) return String(arg.credentialId);
  return undefined;
}

// ------------------------------------------------------------------ payloads

const ENCRYPTED = Buffer.from('binary/encrypted').toString('base64');

/** Every payload of a JSON history that our codec encrypted, decrypted to text. */
async function decryptAll(node: unknown, codec: AesGcmPayloadCodec, out: string[] = []): Promise<string[]> {
  if (Array.isArray(node)) for (const n of node) await decryptAll(n, codec, out);
  else if (node && typeof node === 'object') {
    const o = node as { metadata?: Record<string, string>; data?: unknown };
    if (o.metadata?.encoding === ENCRYPTED && typeof o.data === 'string') {
      const metadata = Object.fromEntries(
        Object.entries(o.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
      );
      const [plain] = await codec.decode([{ metadata, data: Buffer.from(o.data, 'base64') }]);
      out.push(Buffer.from(plain?.data ?? []).toString('utf8'));
    } else for (const v of Object.values(node)) await decryptAll(v, codec, out);
  }
  return out;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
