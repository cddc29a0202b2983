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
import { errorCode } from '../../src/consumer/auth-errors';
import { HeartbeatReporter, type HeartbeatStats } from '../../src/consumer/heartbeat';
import { StaticSource } from '../../src/consumer/source-base';
import { StoreSource } from '../../src/consumer/store-source';
import type { ConsumerLogger, CredentialSource } from '../../src/consumer/types';
import type { CredentialStore } from '../../src/store/types';
import type { OpenClient, WorkloadClient } from './engines/types';

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

export interface FailureSample {
  at: number;
  instance: number;
  code: string;
  message: string;
}

export interface InstanceReport {
  instance: number;
  consumerId: string;
  frozen: boolean;
  ops: number;
  failures: number;
  failuresByCode: Record<string, number>;
  /** Versions in use over time: the first one and every swap (epoch ms). */
  versions: Array<{ version: number; at: number }>;
  swaps: number;
  authFailures: number;
  authRetries: number;
  drainTimeouts: number;
  pollPhaseMs?: number;
  heartbeat?: HeartbeatStats;
}

export interface WorkloadReport {
  startedAt: number;
  durationMs: number;
  instances: number;
  clientsPerInstance: number;
  ops: number;
  failures: number;
  failuresByCode: Record<string, number>;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  perInstance: InstanceReport[];
  failureSamples: FailureSample[];
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

/** Starts the instances (pools built and checked) and their client loops. */
export async function startWorkload(opts: WorkloadOptions): Promise<RunningWorkload> {
  const nInstances = opts.instances ?? 4;
  const nClients = opts.clientsPerInstance ?? 4;
  const rate = opts.ratePerClient ?? 50;
  const holdEvery = opts.holdEvery ?? 10;
  const holdQueries = opts.holdQueries ?? 5;
  const holdMs = opts.holdMs ?? 1000;
  const frozen = new Set(opts.frozenInstances ?? []);
  const prefix = opts.consumerPrefix ?? 'workload';
  const latencies: number[] = [];
  const samples: FailureSample[] = [];
  const startedAt = Date.now();
  let stopping = false;

  const frozenCredential =
    frozen.size > 0 ? await opts.store.getSecret(opts.credentialId, 'CURRENT') : undefined;

  const instances: WorkloadInstance[] = [];
  for (let i = 0; i < nInstances; i++) {
    const isFrozen = frozen.has(i);
    const source =
      opts.sourceFor?.(i) ??
      (isFrozen
        ? new StaticSource(frozenCredential!)
        : new StoreSource({
            store: opts.store,
            credentialId: opts.credentialId,
            ttlMs: opts.pollMs ?? 10_000,
            initialDelayMs:
              (opts.phases ?? 'stratified') === 'stratified'
                ? Math.floor(((i + Math.random()) * (opts.pollMs ?? 10_000)) / nInstances)
                : undefined,
            logger: opts.logger,
          }));
    const client = await opts.open(source, {
      name: `${prefix}-${i}`,
      poolMax: opts.poolMax ?? nClients + 1,
      drainTimeoutMs: opts.drainTimeoutMs ?? 30_000,
      authRetry: opts.authRetry,
      registry: opts.registry,
      logger: opts.logger,
    });
    const inst: WorkloadInstance = {
      index: i,
      consumerId: `${prefix}-${i}`,
      frozen: isFrozen,
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
    instances.push(inst);
  }

  const record = (inst: WorkloadInstance, t0: number, err?: unknown) => {
    inst.ops++;
    const ms = performance.now() - t0;
    latencies.push(ms);
    opts.onOp?.(Date.now(), ms, err !== undefined);
    if (err === undefined) return;
    inst.failures++;
    const code = errorCode(err);
    inst.failuresByCode[code] = (inst.failuresByCode[code] ?? 0) + 1;
    if (samples.length < 50) {
      const message = err instanceof Error ? err.message : String(err);
      samples.push({ at: Date.now(), instance: inst.index, code, message: message.slice(0, 200) });
    }
  };

  const randomId = () => 1 + Math.floor(Math.random() * 100);

  /** One connection held for `holdMs`, `holdQueries` reads on it; a read that fails ends the session. */
  async function heldSession(inst: WorkloadInstance): Promise<void> {
    const t0 = performance.now();
    let checkedOut = false;
    try {
      await inst.client.session(async (read) => {
        checkedOut = true;
        for (let q = 0; q < holdQueries; q++) {
          const tq = performance.now();
          try {
            await read(randomId());
            record(inst, tq);
          } catch (err) {
            record(inst, tq, err);
            throw err;
          }
          if (q < holdQueries - 1) await sleep(holdMs / holdQueries);
        }
      });
    } catch (err) {
      if (!checkedOut) record(inst, t0, err); // the checkout failed (a failed read is recorded already)
    }
  }

  async function clientLoop(inst: WorkloadInstance, c: number): Promise<void> {
    const interval = rate > 0 ? 1000 / rate : 0;
    let next = performance.now() + Math.random() * interval;
    let n = c; // stagger held sessions between clients
    while (!stopping) {
      n++;
      if (holdEvery > 0 && n % holdEvery === 0) {
        await heldSession(inst);
      } else {
        const t0 = performance.now();
        try {
          await inst.client.read(randomId());
          record(inst, t0);
        } catch (err) {
          record(inst, t0, err);
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

  const loops = instances.flatMap((inst) => Array.from({ length: nClients }, (_, c) => clientLoop(inst, c)));

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
      const durationMs = Date.now() - startedAt;
      for (const inst of instances) await inst.reporter?.stop();
      const perInstance: InstanceReport[] = instances.map((inst) => ({
        instance: inst.index,
        consumerId: inst.consumerId,
        frozen: inst.frozen,
        ops: inst.ops,
        failures: inst.failures,
        failuresByCode: inst.failuresByCode,
        versions: inst.versions,
        swaps: inst.client.stats.swaps,
        authFailures: inst.client.stats.authFailures,
        authRetries: inst.client.stats.authRetries,
        drainTimeouts: inst.client.stats.drainTimeouts,
        pollPhaseMs: inst.source instanceof StoreSource ? inst.source.phaseMs : undefined,
        heartbeat: inst.reporter ? { ...inst.reporter.stats } : undefined,
      }));
      await Promise.all(instances.map((inst) => inst.client.close()));
      await Promise.all(instances.map((inst) => inst.source.close()));
      const sorted = Float64Array.from(latencies).sort();
      const pct = (p: number) =>
        sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : 0;
      const failuresByCode: Record<string, number> = {};
      for (const inst of instances) {
        for (const [code, n] of Object.entries(inst.failuresByCode))
          failuresByCode[code] = (failuresByCode[code] ?? 0) + n;
      }
      const ops = perInstance.reduce((s, i) => s + i.ops, 0);
      return {
        startedAt,
        durationMs,
        instances: nInstances,
        clientsPerInstance: nClients,
        ops,
        failures: perInstance.reduce((s, i) => s + i.failures, 0),
        failuresByCode,
        opsPerSec: Math.round((ops / durationMs) * 1000),
        p50Ms: round(pct(0.5)),
        p99Ms: round(pct(0.99)),
        maxMs: round(sorted.length ? sorted[sorted.length - 1]! : 0),
        perInstance,
        failureSamples: samples,
      };
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

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** One line for humans. */
export function formatReport(label: string, r: WorkloadReport): string {
  const codes = Object.entries(r.failuresByCode)
    .map(([c, n]) => `${c}=${n}`)
    .join(' ');
  return `${label.padEnd(10)} ops=${r.ops} (${r.opsPerSec}/s) failed=${r.failures}${codes ? ` [${codes}]` : ''} p50=${r.p50Ms}ms p99=${r.p99Ms}ms max=${r.maxMs}ms`;
}
