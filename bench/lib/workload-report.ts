/**
 * What a workload run reports: operations, failures by error code (with a
 * few samples), latency percentiles, and per instance the versions it used.
 */
import { errorCode } from '../../src/consumer/auth-errors';
import type { HeartbeatStats } from '../../src/consumer/heartbeat';
import { StoreSource } from '../../src/consumer/store-source';
import type { WorkloadInstance, WorkloadOptions } from './workload';

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

/** Latencies and failures of every operation, per instance and overall. */
export class Recorder {
  readonly latencies: number[] = [];
  readonly samples: FailureSample[] = [];

  constructor(private readonly onOp: WorkloadOptions['onOp']) {}

  record(inst: WorkloadInstance, t0: number, err?: unknown): void {
    inst.ops++;
    const ms = performance.now() - t0;
    this.latencies.push(ms);
    this.onOp?.(Date.now(), ms, err !== undefined);
    if (err === undefined) return;
    inst.failures++;
    const code = errorCode(err);
    inst.failuresByCode[code] = (inst.failuresByCode[code] ?? 0) + 1;
    if (this.samples.length < 50) {
      const message = err instanceof Error ? err.message : String(err);
      this.samples.push({ at: Date.now(), instance: inst.index, code, message: message.slice(0, 200) });
    }
  }
}

export function instanceReport(inst: WorkloadInstance): InstanceReport {
  return {
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
  };
}

export function buildReport(
  { startedAt, endedAt }: { startedAt: number; endedAt: number },
  clientsPerInstance: number,
  perInstance: InstanceReport[],
  rec: Recorder,
): WorkloadReport {
  const durationMs = endedAt - startedAt;
  const sorted = Float64Array.from(rec.latencies).sort();
  const pct = (p: number) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : 0;
  const failuresByCode: Record<string, number> = {};
  for (const inst of perInstance) {
    for (const [code, n] of Object.entries(inst.failuresByCode))
      failuresByCode[code] = (failuresByCode[code] ?? 0) + n;
  }
  const ops = perInstance.reduce((s, i) => s + i.ops, 0);
  return {
    startedAt,
    durationMs,
    instances: perInstance.length,
    clientsPerInstance,
    ops,
    failures: perInstance.reduce((s, i) => s + i.failures, 0),
    failuresByCode,
    opsPerSec: Math.round((ops / durationMs) * 1000),
    p50Ms: round(pct(0.5)),
    p99Ms: round(pct(0.99)),
    maxMs: round(sorted.length ? sorted[sorted.length - 1]! : 0),
    perInstance,
    failureSamples: rec.samples,
  };
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
