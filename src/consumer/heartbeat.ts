import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { rotationWorkflowId } from '../shared/constants';
import { consumerHeartbeatSignal, statusQuery } from '../shared/messages';
import type { RotationStatus } from '../shared/types';
import { errorMessage } from './source-base';
import type { ConsumerLogger } from './types';
import { silentLogger } from './types';

export const DEFAULT_HEARTBEAT_PERIOD_MS = 60_000;

export interface HeartbeatReporterOptions {
  /** A Temporal client (with the rotator's data converter: signals are encrypted like every payload). */
  client: Pick<Client, 'workflow'>;
  credentialId: string;
  /** Unique per application instance; default `<hostname>-<pid>-<random>`. */
  consumerId?: string;
  /** Periodic report (default 60 s). A version change is reported at once, whatever the period. */
  periodMs?: number;
  /**
   * Before a periodic signal, ask the rotation (describe + status query, which
   * add nothing to its history) whether it already records this consumer at
   * this version, and signal only if not. History then grows by about two
   * signals per consumer per rotation (announce, migrated) instead of one per
   * period for the whole grace period. Default true.
   */
  confirmByQuery?: boolean;
  /** Time limit for the describe/query round trip before falling back to a signal (default 5 s). */
  queryTimeoutMs?: number;
  logger?: ConsumerLogger;
}

/** What the reporter did; for tests, metrics and the history estimate. */
export interface HeartbeatStats {
  signals: number;
  /** Periodic reports skipped because a signal went out less than a period ago with the same version. */
  skippedRecent: number;
  /** Periodic reports skipped because the rotation already records this consumer at this version. */
  skippedRecorded: number;
  /** No rotation running (no workflow, or it has finished): nothing to report to. */
  noRotation: number;
  errors: number;
}

/** Anything with a version in use and swap notifications (the rotating clients). */
export interface VersionedClient {
  readonly version: number;
  onSwap(listener: (e: { version: number }) => void): () => void;
}

/**
 * Reports the credential version this application instance uses to the
 * rotation workflow of the credential (`rotate/<credential id>`), as
 * `consumerHeartbeat {consumerId, version}` signals: at once when the version
 * in use changes, and every period otherwise (deduplicated, see
 * `confirmByQuery`). No running rotation is the normal case and is ignored
 * quietly. Never throws into the application.
 */
export class HeartbeatReporter {
  readonly consumerId: string;
  readonly periodMs: number;
  readonly stats: HeartbeatStats = { signals: 0, skippedRecent: 0, skippedRecorded: 0, noRotation: 0, errors: 0 };
  private version?: number;
  private lastSent?: { version: number; at: number };
  private timer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  private detach?: () => void;
  private stopped = false;
  private lastErrorLogAt = 0;
  private readonly logger: ConsumerLogger;
  private readonly workflowId: string;

  constructor(private readonly opts: HeartbeatReporterOptions) {
    this.consumerId = opts.consumerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.periodMs = opts.periodMs ?? DEFAULT_HEARTBEAT_PERIOD_MS;
    if (!(this.periodMs > 0)) throw new Error(`HeartbeatReporter: periodMs must be positive, got ${this.periodMs}`);
    this.logger = opts.logger ?? silentLogger;
    this.workflowId = rotationWorkflowId(opts.credentialId);
  }

  /** Follows a rotating client: reports its version now, on every swap, and periodically. */
  attach(client: VersionedClient): this {
    this.detach?.();
    this.detach = client.onSwap((e) => this.setVersion(e.version));
    this.setVersion(client.version);
    this.start();
    return this;
  }

  /** The version in use changed (or is first known): report at once. */
  setVersion(version: number): void {
    if (this.version === version) return;
    this.version = version;
    this.enqueue(() => this.send('change'));
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => this.enqueue(() => this.tick()), this.periodMs);
    this.timer.unref();
  }

  /** Waits for reports in progress. */
  flush(): Promise<void> {
    return this.chain;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.detach?.();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.chain;
  }

  private enqueue(task: () => Promise<void>): void {
    if (this.stopped) return;
    this.chain = this.chain.then(task).catch((err: unknown) => this.failed(err));
  }

  private async tick(): Promise<void> {
    const version = this.version;
    if (version === undefined) return;
    if (this.lastSent?.version === version && Date.now() - this.lastSent.at < this.periodMs) {
      this.stats.skippedRecent++;
      return;
    }
    if (this.opts.confirmByQuery ?? true) {
      const known = await this.recorded(version);
      if (known === 'no-rotation') {
        this.stats.noRotation++;
        return;
      }
      if (known === 'recorded') {
        this.stats.skippedRecorded++;
        this.lastSent = { version, at: Date.now() };
        return;
      }
    }
    await this.send('period');
  }

  /** Does the running rotation already know this consumer at `version`? 'unknown' if it cannot tell. */
  private async recorded(version: number): Promise<'recorded' | 'missing' | 'no-rotation' | 'unknown'> {
    const handle = this.opts.client.workflow.getHandle(this.workflowId);
    try {
      return await withTimeout(this.opts.queryTimeoutMs ?? 5_000, async () => {
        const d = await handle.describe();
        if (d.status.name !== 'RUNNING') return 'no-rotation';
        const status: RotationStatus = await handle.query(statusQuery);
        if (status.phase === 'done') return 'no-rotation';
        const me = status.consumers.find((c) => c.consumerId === this.consumerId);
        return me?.version === version ? 'recorded' : 'missing';
      });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'no-rotation';
      this.logger.debug?.({ consumerId: this.consumerId, err: errorMessage(err) }, 'heartbeat: status query failed');
      return 'unknown';
    }
  }

  private async send(why: 'change' | 'period'): Promise<void> {
    const version = this.version;
    if (version === undefined) return;
    try {
      await this.opts.client.workflow
        .getHandle(this.workflowId)
        .signal(consumerHeartbeatSignal, { consumerId: this.consumerId, version });
      this.stats.signals++;
      this.lastSent = { version, at: Date.now() };
      this.logger.debug?.({ consumerId: this.consumerId, version, why }, 'heartbeat: reported');
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        // No rotation running: nothing to report to. The next period tries again.
        this.stats.noRotation++;
        return;
      }
      throw err;
    }
  }

  private failed(err: unknown): void {
    this.stats.errors++;
    const now = Date.now();
    if (now - this.lastErrorLogAt > this.periodMs) {
      this.lastErrorLogAt = now;
      this.logger.warn({ consumerId: this.consumerId, err: errorMessage(err) }, 'heartbeat: report failed; will retry');
    }
  }
}

async function withTimeout<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * History a grace period costs in the rotation workflow, for capacity
 * planning. Each signal is one WorkflowExecutionSignaled event plus, when the
 * workflow is idle, a workflow task (scheduled, started, completed): up to 4
 * events. Temporal warns at 10,240 events and terminates a run at 51,200.
 */
export function estimateHeartbeatHistory(opts: {
  consumers: number;
  graceMs: number;
  periodMs?: number;
  /** true: the reporter confirms by query first (≈ announce + migrated per consumer). */
  confirmByQuery: boolean;
  eventsPerSignal?: number;
}): { signals: number; events: number } {
  const period = opts.periodMs ?? DEFAULT_HEARTBEAT_PERIOD_MS;
  const perSignal = opts.eventsPerSignal ?? 4;
  const perConsumer = opts.confirmByQuery ? 2 : Math.ceil(opts.graceMs / period) + 1;
  const signals = opts.consumers * perConsumer;
  return { signals, events: signals * perSignal };
}
