/**
 * The workload that proves zero downtime, on any engine: several application
 * instances, each with its own rotating client of the consumer library (see
 * ./engines) and its own credential source (own poll phase), each running C
 * clients that issue real reads at a target rate; some operations hold a
 * connection for about a second and run several reads on it. The one
 * workload of scripts/demo.ts, scripts/workload.ts, bench/zero-downtime.ts
 * and test/e2e/zero-downtime.test.ts.
 */
import type { Client } from '@temporalio/client';
import type { Registry } from 'prom-client';
import { HeartbeatReporter } from '../../src/consumer/heartbeat';
import { StaticSource } from '../../src/consumer/source-base';
import { StoreSource } from '../../src/consumer/store-source';
import type { ConsumerCredential, ConsumerLogger, CredentialSource } from '../../src/consumer/types';
import type { CredentialStore } from '../../src/store/types';
import type { OpenClient, WorkloadClient } from './engines/types';
import { buildReport, instanceReport, Recorder, type WorkloadReport } from './workload-report';

export { formatReport } from './workload-report';
export type { FailureSample, InstanceReport, WorkloadReport } from './workload-report';

export interface WorkloadOptions {
  /** Builds an instance's rotating client (an engine's `open`, e.g. `openPg(...)`); the credential comes from the source. */
  open: OpenClient;
  store: Pick<CredentialStore, 'getSecret'>;
  credentialId: string;
  instances?: number;
  clientsPerInstance?: number;
  /** StoreSource poll period per instance (each with its own random phase); default 10 s. */
  pollMs?: number;
  /**
   * How the random poll phases are drawn: 'stratified' (default) gives
   * instance i a random phase in [i, i+1) * pollMs / instances, so the
   * instances cover the whole period in every run (less run-to-run variance
   * with few instances); 'uniform' draws each in [0, pollMs).
   */
  phases?: 'stratified' | 'uniform';
  /** Operations per second per client (0: as fast as possible); default 50. */
  ratePerClient?: number;
  /** Every n-th operation of a client holds a connection for `holdMs` running `holdQueries` queries (0: never); default 10. */
  holdEvery?: number;
  holdQueries?: number;
  holdMs?: number;
  /** Pool size per instance; default clients + 1. */
  poolMax?: number;
  drainTimeoutMs?: number;
  /** Refresh the credential and retry once on an auth failure (default true; false models a plain pool that only polls). */
  authRetry?: boolean;
  /** Instances (0-based) whose source is frozen on the credential current at start: they never migrate. */
  frozenInstances?: number[];
  /** Replace the source of an instance (default: StoreSource, or StaticSource for frozen instances). */
  sourceFor?: (instance: number) => CredentialSource | undefined;
  heartbeat?: { client: Pick<Client, 'workflow'>; periodMs?: number; confirmByQuery?: boolean };
  /** Consumer ids are `<prefix>-<instance>`. */
  consumerPrefix?: string;
  registry?: Registry | false;
  logger?: ConsumerLogger;
  /** Called after every operation (for reports by time window). */
  onOp?: (endedAt: number, latencyMs: number, failed: boolean) => void;
}

export interface WorkloadInstance {
  index: number;
  consumerId: string;
  frozen: boolean;
  client: WorkloadClient;
  source: CredentialSource;
  reporter?: HeartbeatReporter;
  ops: number;
  failures: number;
  failuresByCode: Record<string, number>;
  versions: Array<{ version: number; at: number }>;
}

export interface RunningWorkload {
  startedAt: number;
  instances: WorkloadInstance[];
  /** Operations and failures so far. */
  progress(): { ops: number; failures: number };
  stop(): Promise<WorkloadReport>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Builds instance `i`: its source (own poll phase, or frozen), its rotating client (built and checked), heartbeats. */
async function openInstance(
  opts: WorkloadOptions,
  i: number,
  frozenCredential: ConsumerCredential | undefined,
): Promise<WorkloadInstance> {
  const nInstances = opts.instances ?? 4;
  const prefix = opts.consumerPrefix ?? 'workload';
  const pollMs = opts.pollMs ?? 10_000;
  const source =
    opts.sourceFor?.(i) ??
    (frozenCredential
      ? new StaticSource(frozenCredential)
      : new StoreSource({
          store: opts.store,
          credentialId: opts.credentialId,
          ttlMs: pollMs,
          initialDelayMs:
            (opts.phases ?? 'stratified') === 'stratified'
              ? Math.floor(((i + Math.random()) * pollMs) / nInstances)
              : undefined,
          logger: opts.logger,
        }));
  const client = await opts.open(source, {
    name: `${prefix}-${i}`,
    poolMax: opts.poolMax ?? (opts.clientsPerInstance ?? 4) + 1,
    drainTimeoutMs: opts.drainTimeoutMs ?? 30_000,
    authRetry: opts.authRetry,
    registry: opts.registry,
    logger: opts.logger,
  });
  const inst: WorkloadInstance = {
    index: i,
    consumerId: `${prefix}-${i}`,
    frozen: frozenCredential !== undefined,
    client,
    source,
    ops: 0,
    failures: 0,
    failuresByCode: {},
    versions: [{ version: client.version, at: Date.now() }],
  };
  client.onSwap((e) => inst.versions.push({ version: e.version, at: Date.now() }));
  if (opts.heartbeat) {
    inst.reporter = new HeartbeatReporter({
      client: opts.heartbeat.client,
      credentialId: opts.credentialId,
      consumerId: inst.consumerId,
      periodMs: opts.heartbeat.periodMs,
      confirmByQuery: opts.heartbeat.confirmByQuery,
      logger: opts.logger,
    }).attach(client);
  }
  return inst;
}

interface LoopSettings {
  rate: number;
  holdEvery: number;
  holdQueries: number;
  holdMs: number;
  stopping(): boolean;
}

const randomId = () => 1 + Math.floor(Math.random() * 100);

/** One connection held for `holdMs`, `holdQueries` reads on it; a read that fails ends the session. */
async function heldSession(inst: WorkloadInstance, rec: Recorder, s: LoopSettings): Promise<void> {
  const t0 = performance.now();
  let checkedOut = false;
  try {
    await inst.client.session(async (read) => {
      checkedOut = true;
      for (let q = 0; q < s.holdQueries; q++) {
        const tq = performance.now();
        try {
          await read(randomId());
          rec.record(inst, tq);
        } catch (err) {
          rec.record(inst, tq, err);
          throw err;
        }
        if (q < s.holdQueries - 1) await sleep(s.holdMs / s.holdQueries);
      }
    });
  } catch (err) {
    if (!checkedOut) rec.record(inst, t0, err); // the checkout failed (a failed read is recorded already)
  }
}

/** One client of an instance: reads at the target rate, every `holdEvery`-th operation a held session. */
async function clientLoop(inst: WorkloadInstance, c: number, rec: Recorder, s: LoopSettings): Promise<void> {
  const interval = s.rate > 0 ? 1000 / s.rate : 0;
  let next = performance.now() + Math.random() * interval;
  let n = c; // stagger held sessions between clients
  while (!s.stopping()) {
    n++;
    if (s.holdEvery > 0 && n % s.holdEvery === 0) {
      await heldSession(inst, rec, s);
    } else {
      const t0 = performance.now();
      try {
        await inst.client.read(randomId());
        rec.record(inst, t0);
      } catch (err) {
        rec.record(inst, t0, err);
      }
    }
    if (interval > 0) {
      next += interval;
      const now = performance.now();
      if (next < now - 1000) next = now; // far behind (after a held session): no burst
      if (next > now) await sleep(next - now);
    } else {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

/** Starts the instances (clients built and checked) and their client loops. */
export async function startWorkload(opts: WorkloadOptions): Promise<RunningWorkload> {
  const nClients = opts.clientsPerInstance ?? 4;
  const frozen = new Set(opts.frozenInstances ?? []);
  const startedAt = Date.now();
  let stopping = false;
  const settings: LoopSettings = {
    rate: opts.ratePerClient ?? 50,
    holdEvery: opts.holdEvery ?? 10,
    holdQueries: opts.holdQueries ?? 5,
    holdMs: opts.holdMs ?? 1000,
    stopping: () => stopping,
  };
  const frozenCredential =
    frozen.size > 0 ? await opts.store.getSecret(opts.credentialId, 'CURRENT') : undefined;
  const instances: WorkloadInstance[] = [];
  for (let i = 0; i < (opts.instances ?? 4); i++) {
    instances.push(await openInstance(opts, i, frozen.has(i) ? frozenCredential : undefined));
  }
  const rec = new Recorder(opts.onOp);
  const loops = instances.flatMap((inst) =>
    Array.from({ length: nClients }, (_, c) => clientLoop(inst, c, rec, settings)),
  );
  return {
    startedAt,
    instances,
    progress: () => ({
      ops: instances.reduce((s, i) => s + i.ops, 0),
      failures: instances.reduce((s, i) => s + i.failures, 0),
    }),
    async stop(): Promise<WorkloadReport> {
      stopping = true;
      await Promise.all(loops);
      const endedAt = Date.now();
      for (const inst of instances) await inst.reporter?.stop();
      const perInstance = instances.map(instanceReport);
      const report = buildReport({ startedAt, endedAt }, nClients, perInstance, rec);
      await Promise.all(instances.map((inst) => inst.client.close()));
      await Promise.all(instances.map((inst) => inst.source.close()));
      return report;
    },
  };
}

/**
 * Runs the workload for at least `seconds`; `during` (e.g. a rotation) starts
 * after `warmupMs`, and the workload keeps running `cooldownMs` after it ends.
 */
export async function runWorkload(
  opts: WorkloadOptions & {
    seconds: number;
    warmupMs?: number;
    cooldownMs?: number;
    during?: (w: RunningWorkload) => Promise<void>;
  },
): Promise<WorkloadReport> {
  const w = await startWorkload(opts);
  const minEnd = w.startedAt + opts.seconds * 1000;
  try {
    if (opts.during) {
      await sleep(opts.warmupMs ?? 0);
      await opts.during(w);
      await sleep(opts.cooldownMs ?? 0);
    }
    const left = minEnd - Date.now();
    if (left > 0) await sleep(left);
  } catch (err) {
    await w.stop().catch(() => undefined);
    throw err;
  }
  return w.stop();
}
