import { condition, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import type {
  ConsumerHeartbeat,
  ConsumerStatus,
  Outcome,
  Phase,
  PhaseTiming,
  RotationPlan,
  RotationStatus,
} from '../shared/types';
import type { ResolveRequest } from '../shared/operator-requests';
import { describeRootCause } from '../shared/error-cause';
import { DEFAULT_CONSUMER_EXPIRY_MS, DEFAULT_MAX_CONSUMERS } from '../shared/constants';
import { rotationMetrics } from './metrics';

/** Thrown at a step boundary before promote when an operator asked to abort. */
export class AbortRequested extends Error {
  constructor(reason: string) {
    super(`aborted by operator: ${reason}`);
    this.name = 'AbortRequested';
  }
}

/** Phases that only happen before the new version is CURRENT; abort compensates them. */
const BEFORE_PROMOTE: ReadonlySet<Phase> = new Set([
  'create-pending',
  'apply',
  'verify',
  'replicate',
  'promote',
]);

const MAX_CONSUMER_ID_LENGTH = 200;

/** Largest date JavaScript can print; a deadline past it would make status throw. */
const MAX_DATE_MS = 8.64e15;

/**
 * The workflow's state for status and for its own decisions: phase timings,
 * consumers, deadlines and operator requests. Kept separate so the workflow
 * function reads like the runbook. Nothing here throws from a message
 * handler: Update validators reject bad requests before they get here, and
 * the heartbeat handler ignores what it cannot use.
 */
export class RotationTracker {
  plan?: RotationPlan;
  private current: Phase = 'preflight';
  private readonly timings: PhaseTiming[] = [];
  private readonly consumers = new Map<string, ConsumerStatus>();
  private overflow = 0;
  private promoted = false;
  private abortReason?: string;
  private rollbackReason?: string;
  private graceFinishRequested = false;
  private graceDeadline?: number;
  /** Extensions requested before grace started; added when it starts. */
  private earlyExtensionMs = 0;
  private graceChangeCount = 0;
  private migrationDeadline?: number;
  private lastError?: string;
  private parked?: { step: string; since: string; error: string; before: Phase };
  private decision?: ResolveRequest;
  private outcome?: Outcome;
  private published = '';
  /** Silence counts from here at the earliest: when a wait on consumers began (see waitingSince). */
  private silenceFrom = 0;

  /**
   * `limits`: the run's own consumer-table bounds, in force before preflight made the plan. They
   * come from the start input, which the workflow checked (rotationInputSchema) before making a
   * tracker, so they are positive whole numbers or absent.
   */
  constructor(
    private readonly credentialId: string,
    private readonly limits: { maxConsumers?: number; consumerExpiryMs?: number } = {},
  ) {}

  /** Runs one phase: records timings, publishes the phase, and honours an abort at the boundary. */
  async phase<T>(name: Phase, step: () => Promise<T>): Promise<T> {
    if (this.abortReason !== undefined && BEFORE_PROMOTE.has(name))
      throw new AbortRequested(this.abortReason);
    this.current = name;
    const timing: PhaseTiming = { phase: name, startedAt: new Date().toISOString() };
    this.timings.push(timing);
    upsertSearchAttributes({ RotationPhase: [name] });
    this.publish();
    try {
      const result = await step();
      if (name === 'promote') this.promoted = true;
      return result;
    } finally {
      timing.endedAt = new Date().toISOString();
      rotationMetrics.phaseEnded(this.plan, name, Date.parse(timing.endedAt) - Date.parse(timing.startedAt));
    }
  }

  setPlan(plan: RotationPlan): void {
    this.plan = plan;
    this.publish();
  }

  get isPromoted(): boolean {
    return this.promoted;
  }

  currentPhase(): Phase {
    return this.current;
  }

  /** Signal handler: never throws; malformed reports and reports beyond the cap are ignored (the latter counted). */
  heartbeat(hb: unknown): void {
    if (typeof hb !== 'object' || hb === null) return;
    const { consumerId, version } = hb as Partial<ConsumerHeartbeat>;
    if (typeof consumerId !== 'string' || consumerId.length === 0) return;
    if (consumerId.length > MAX_CONSUMER_ID_LENGTH || /[\p{C}]/u.test(consumerId)) return; // no control characters for terminals
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) return;
    if (!this.consumers.has(consumerId) && this.consumers.size >= this.maxConsumers()) {
      this.overflow++;
      return;
    }
    this.consumers.set(consumerId, { consumerId, version, lastSeen: new Date().toISOString() });
    const target = this.targetVersion();
    if (target !== undefined)
      rotationMetrics.consumersBehind(this.plan, this.credentialId, this.consumersBehind(target).length);
    this.publish();
  }

  requestAbort(reason: string, by?: string): void {
    this.abortReason ??= by ? `${reason} (by ${by})` : reason;
    this.publish();
  }

  requestRollback(reason: string, by?: string): void {
    if (!this.promoted) {
      // Before promote a rollback is the same as an abort.
      this.requestAbort(reason, by);
      return;
    }
    this.rollbackReason ??= by ? `${reason} (by ${by})` : reason;
    this.publish();
  }

  /** After promote an abort means: go back to the old version. */
  rollbackWanted(): boolean {
    return this.rollbackReason !== undefined || (this.promoted && this.abortReason !== undefined);
  }

  /** Validated by the Update's validator (positive, bounded); before grace it lengthens the grace to come. */
  extendGrace(byMs: number): void {
    if (this.graceDeadline !== undefined) this.setGraceDeadline(this.graceDeadline + byMs);
    else this.earlyExtensionMs += byMs;
    this.graceChangeCount++;
    this.publish();
  }

  /** Extensions asked for before grace began. */
  takeEarlyExtensionMs(): number {
    const ms = this.earlyExtensionMs;
    this.earlyExtensionMs = 0;
    return ms;
  }

  finishGrace(): void {
    this.graceFinishRequested = true;
    this.publish();
  }

  graceFinished(): boolean {
    return this.graceFinishRequested;
  }

  graceChanges(): number {
    return this.graceChangeCount;
  }

  setGraceDeadline(ms: number): void {
    this.graceDeadline = Math.min(ms, MAX_DATE_MS);
    rotationMetrics.graceDeadline(this.plan, this.credentialId, this.graceDeadline);
    this.publish();
  }

  graceDeadlineMs(): number {
    return this.graceDeadline ?? 0;
  }

  setMigrationDeadline(ms: number): void {
    this.migrationDeadline = Math.min(ms, MAX_DATE_MS);
    this.publish();
  }

  private maxConsumers(): number {
    return this.plan?.maxConsumers ?? this.limits.maxConsumers ?? DEFAULT_MAX_CONSUMERS;
  }

  private expiryMs(): number {
    return this.plan?.consumerExpiryMs ?? this.limits.consumerExpiryMs ?? DEFAULT_CONSUMER_EXPIRY_MS;
  }

  /**
   * Consumers report only on a change while nothing waits on them (grace), so
   * silence counts from the start of the current wait: a consumer gets the
   * full expiry to answer a migrate or a rollback, whenever it last spoke.
   */
  waitingSince(ms: number): void {
    this.silenceFrom = ms;
    this.publish();
  }

  private lastHeardMs(c: ConsumerStatus): number {
    return Math.max(Date.parse(c.lastSeen), this.silenceFrom);
  }

  private isGone(c: ConsumerStatus, nowMs: number): boolean {
    return nowMs - this.lastHeardMs(c) > this.expiryMs();
  }

  /** Live consumers whose last report is not `version` (silent ones past the expiry do not count). */
  consumersBehind(version: number, nowMs: number = Date.now()): string[] {
    return [...this.consumers.values()]
      .filter((c) => c.version !== version && !this.isGone(c, nowMs))
      .map((c) => c.consumerId);
  }

  /** When the next behind consumer expires (ms since epoch), if any: migrate re-checks then. */
  nextExpiryMs(version: number, nowMs: number = Date.now()): number | undefined {
    const times = [...this.consumers.values()]
      .filter((c) => c.version !== version && !this.isGone(c, nowMs))
      .map((c) => this.lastHeardMs(c) + this.expiryMs() + 1);
    return times.length ? Math.min(...times) : undefined;
  }

  /** Records `err` as the run's last error; returns how it reads in status. */
  recordError(err: unknown): string {
    const error = describeRootCause(err);
    this.lastError = error;
    this.publish();
    return error;
  }

  /**
   * Parks the run: `step` kept failing with `err`. Shows phase needs-operator
   * (status, search attribute, metric) until the `resolve` Update arrives,
   * and returns what the operator decided.
   */
  async waitForOperator(step: string, err: unknown): Promise<ResolveRequest> {
    const error = this.recordError(err);
    const before = this.current;
    this.parked = { step, since: new Date().toISOString(), error, before };
    this.decision = undefined;
    this.current = 'needs-operator';
    upsertSearchAttributes({ RotationPhase: ['needs-operator'] });
    rotationMetrics.needsOperator(this.plan, this.credentialId, true);
    this.publish();
    await condition(() => this.decision !== undefined);
    const decision = this.decision!;
    this.parked = undefined;
    this.current = before;
    upsertSearchAttributes({ RotationPhase: [before] });
    rotationMetrics.needsOperator(this.plan, this.credentialId, false);
    this.publish();
    return decision;
  }

  /** Parked and no decision taken yet (a second resolve in the same task is refused). */
  isParked(): boolean {
    return this.parked !== undefined && this.decision === undefined;
  }

  /** A step that failed before went through (after `resolve retry`): its error is history, not the cause. */
  clearError(): void {
    this.lastError = undefined;
    this.publish();
  }

  /** Re-publishes the status (after a wait woke up: consumers may have gone silent meanwhile). */
  refresh(): void {
    this.publish();
  }

  /** The operator gave up on `step`: the outcome says so, with the step's last error. */
  recordAbandon(step: string, reason: string, by?: string): void {
    this.lastError = `abandoned by operator at ${step}: ${reason}${by ? ` (by ${by})` : ''}; last error: ${this.lastError ?? 'none'}`;
    this.publish();
  }

  resolve(req: ResolveRequest): void {
    this.decision = req;
  }

  setOutcome(outcome: Outcome): void {
    this.outcome = outcome;
    rotationMetrics.finished(this.plan, this.credentialId, outcome);
    this.current = 'done';
    upsertSearchAttributes({ RotationPhase: ['done'] });
    this.publish();
  }

  /** The version consumers should use now: the new one after promote, the old one during rollback. */
  private targetVersion(): number | undefined {
    return this.rollbackWanted() ? this.plan?.fromVersion : this.promoted ? this.plan?.toVersion : undefined;
  }

  status(): RotationStatus {
    const target = this.targetVersion();
    const now = Date.now();
    return {
      credentialId: this.credentialId,
      phase: this.current,
      plan: this.plan,
      consumers: [...this.consumers.values()].map((c) =>
        this.isGone(c, now) ? { ...c, gone: true } : { ...c },
      ),
      consumersBehind: target === undefined ? [] : this.consumersBehind(target, now),
      migrationDeadline: iso(this.migrationDeadline),
      graceDeadline: iso(this.graceDeadline),
      abortRequested: this.abortReason,
      rollbackRequested: this.rollbackReason,
      lastError: this.lastError,
      needsOperator: this.parked && {
        step: this.parked.step,
        since: this.parked.since,
        error: this.parked.error,
      },
      consumersOverflow: this.overflow || undefined,
      phases: this.timings.map((p) => ({ ...p })),
      outcome: this.outcome,
    };
  }

  /**
   * Publishes the status in the workflow's memo, where `describe()` reads it
   * without a query. Written only when something other than a consumer's
   * lastSeen changed, so periodic heartbeats add no history events.
   */
  private publish(): void {
    const status = this.status();
    const signature = JSON.stringify({
      ...status,
      consumers: status.consumers.map((c) => [c.consumerId, c.version, c.gone === true]),
      consumersBehind: undefined,
    });
    if (signature === this.published) return;
    this.published = signature;
    upsertMemo({ status });
  }
}

function iso(ms: number | undefined): string | undefined {
  if (ms === undefined || !Number.isFinite(ms) || Math.abs(ms) > MAX_DATE_MS) return undefined;
  return new Date(ms).toISOString();
}
