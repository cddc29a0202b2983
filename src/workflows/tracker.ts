import { ApplicationFailure, upsertSearchAttributes } from '@temporalio/workflow';
import type {
  ConsumerHeartbeat,
  ConsumerStatus,
  Outcome,
  Phase,
  PhaseTiming,
  RotationPlan,
  RotationStatus,
} from '../shared/types';
import { rotationMetrics } from './metrics';

/** Thrown at a step boundary before promote when an operator asked to abort. */
export class AbortRequested extends Error {
  constructor(reason: string) {
    super(`aborted by operator: ${reason}`);
    this.name = 'AbortRequested';
  }
}

/** Phases that only happen before the new version is CURRENT; abort compensates them. */
const BEFORE_PROMOTE: ReadonlySet<Phase> = new Set(['create-pending', 'apply', 'verify', 'promote']);

/**
 * The workflow's state for the status query and for its own decisions:
 * phase timings, consumers, deadlines and operator requests. Kept separate so
 * the workflow function reads like the runbook.
 */
export class RotationTracker {
  plan?: RotationPlan;
  private current: Phase = 'preflight';
  private readonly timings: PhaseTiming[] = [];
  private readonly consumers = new Map<string, ConsumerStatus>();
  private promoted = false;
  private abortReason?: string;
  private rollbackReason?: string;
  private graceFinishRequested = false;
  private graceDeadline?: number;
  private graceChangeCount = 0;
  private migrationDeadline?: number;
  private lastError?: string;
  private outcome?: Outcome;

  constructor(private readonly credentialId: string) {}

  /** Runs one phase: records timings, publishes the phase, and honours an abort at the boundary. */
  async phase<T>(name: Phase, step: () => Promise<T>): Promise<T> {
    if (this.abortReason !== undefined && BEFORE_PROMOTE.has(name))
      throw new AbortRequested(this.abortReason);
    this.current = name;
    const timing: PhaseTiming = { phase: name, startedAt: new Date().toISOString() };
    this.timings.push(timing);
    upsertSearchAttributes({ RotationPhase: [name] });
    try {
      const result = await step();
      if (name === 'promote') this.promoted = true;
      return result;
    } finally {
      timing.endedAt = new Date().toISOString();
      rotationMetrics.phaseEnded(
        this.plan,
        this.credentialId,
        name,
        Date.parse(timing.endedAt) - Date.parse(timing.startedAt),
      );
    }
  }

  setPlan(plan: RotationPlan): void {
    this.plan = plan;
  }

  heartbeat(hb: ConsumerHeartbeat): void {
    if (typeof hb?.consumerId !== 'string' || !Number.isInteger(hb.version)) return; // ignore malformed input
    this.consumers.set(hb.consumerId, {
      consumerId: hb.consumerId,
      version: hb.version,
      lastSeen: new Date().toISOString(),
    });
    const target = this.targetVersion();
    if (target !== undefined)
      rotationMetrics.consumersBehind(this.plan, this.credentialId, this.consumersBehind(target).length);
  }

  requestAbort(reason: string, by?: string): void {
    this.abortReason ??= by ? `${reason} (by ${by})` : reason;
  }

  requestRollback(reason: string, by?: string): void {
    if (!this.promoted) {
      // Before promote a rollback is the same as an abort.
      this.requestAbort(reason, by);
      return;
    }
    this.rollbackReason ??= by ? `${reason} (by ${by})` : reason;
  }

  /** After promote an abort means: go back to the old version. */
  rollbackWanted(): boolean {
    return this.rollbackReason !== undefined || (this.promoted && this.abortReason !== undefined);
  }

  extendGrace(byMs: number): void {
    if (!Number.isFinite(byMs) || byMs <= 0) {
      throw ApplicationFailure.nonRetryable(`extendGrace: byMs must be a positive number, got ${byMs}`);
    }
    if (this.graceDeadline !== undefined) this.setGraceDeadline(this.graceDeadline + byMs);
    this.graceChangeCount++;
  }

  finishGrace(): void {
    this.graceFinishRequested = true;
  }

  graceFinished(): boolean {
    return this.graceFinishRequested;
  }

  graceChanges(): number {
    return this.graceChangeCount;
  }

  setGraceDeadline(ms: number): void {
    this.graceDeadline = ms;
    rotationMetrics.graceDeadline(this.plan, this.credentialId, ms);
  }

  graceDeadlineMs(): number {
    return this.graceDeadline ?? 0;
  }

  setMigrationDeadline(ms: number): void {
    this.migrationDeadline = ms;
  }

  /** Consumers whose last report is not `version`. */
  consumersBehind(version: number): string[] {
    return [...this.consumers.values()].filter((c) => c.version !== version).map((c) => c.consumerId);
  }

  recordError(err: unknown): void {
    this.lastError = describeError(err);
  }

  setOutcome(outcome: Outcome): void {
    this.outcome = outcome;
    rotationMetrics.finished(this.plan, this.credentialId, outcome);
    this.current = 'done';
    upsertSearchAttributes({ RotationPhase: ['done'] });
  }

  /** The version consumers should use now: the new one after promote, the old one during rollback. */
  private targetVersion(): number | undefined {
    return this.rollbackWanted() ? this.plan?.fromVersion : this.promoted ? this.plan?.toVersion : undefined;
  }

  status(): RotationStatus {
    const target = this.targetVersion();
    return {
      credentialId: this.credentialId,
      phase: this.current,
      plan: this.plan,
      consumers: [...this.consumers.values()],
      consumersBehind: target === undefined ? [] : this.consumersBehind(target),
      migrationDeadline: iso(this.migrationDeadline),
      graceDeadline: iso(this.graceDeadline),
      abortRequested: this.abortReason,
      rollbackRequested: this.rollbackReason,
      lastError: this.lastError,
      phases: this.timings.map((p) => ({ ...p })),
      outcome: this.outcome,
    };
  }
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

/** The innermost cause's message: activity failures wrap the error the activity raised. */
function describeError(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && (e as { cause?: unknown }).cause instanceof Error)
    e = (e as { cause?: unknown }).cause;
  if (e instanceof ApplicationFailure && e.type) return `${e.type}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
