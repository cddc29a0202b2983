import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { rotationWorkflowId } from '../shared/constants';
import { consumerHeartbeatSignal } from '../shared/messages';
import { describeRunningRun, waitsOnConsumers, type RunningRun } from './rotation-run';
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
   * Before a periodic signal, ask Temporal which rotation run is running and
   * in which phase (describe: its memo and search attributes; no history, no
   * query) and signal only a run that does not list this consumer's version
   * yet, or one in migrate/rollback, which counts a consumer silent for a few
   * periods as gone. A new run is signalled at once. History then grows by
   * about two signals per consumer per rotation plus one per period of
   * migrate, instead of one per period for the whole grace period. Default
   * true; false signals every period.
   */
  confirmByQuery?: boolean;
  /** Time limit for describe/query before falling back to a signal (default 5 s). */
  queryTimeoutMs?: number;
  logger?: ConsumerLogger;
}

/** What the reporter did; for tests, metrics and the history estimate. */
export interface HeartbeatStats {
  signals: number;
  /** Periodic reports skipped because a signal went out less than a period ago with the same version. */
  skippedRecent: number;
  /** Periodic reports skipped because the running rotation already has this consumer's report of this version. */
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
  readonly stats: HeartbeatStats = {
    signals: 0,
    skippedRecent: 0,
    skippedRecorded: 0,
    noRotation: 0,
    errors: 0,
  };
  private version?: number;
  private lastSent?: { version: number; at: number };
  /** The run (if known) that has our report of `version`. */
  private reported?: { runId?: string; version: number };
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
    if (!(this.periodMs > 0))
      throw new Error(`HeartbeatReporter: periodMs must be positive, got ${this.periodMs}`);
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
    const tickAt = Date.now();
    // A report less than a period ago (less a little slack for timer jitter) makes this one redundant.
    const slack = Math.min(1_000, this.periodMs / 4);
    if (this.lastSent?.version === version && tickAt - this.lastSent.at < this.periodMs - slack) {
      this.stats.skippedRecent++;
      return;
    }
    if (!(this.opts.confirmByQuery ?? true)) {
      await this.send('period');
      return;
    }
    const run = await this.runningRun(version);
    if (run === 'no-rotation') {
      this.stats.noRotation++;
      return;
    }
    if (run !== 'unknown') {
      // While the rotation waits on consumers (migrate, rollback), silence for a few periods
      // counts as gone: keep reporting every period then. Otherwise one report per version is enough.
      const waitingOnUs = waitsOnConsumers(run);
      if (!waitingOnUs && run.listsUs) {
        this.reported = { runId: run.runId, version };
        this.stats.skippedRecorded++;
        return;
      }
      if (!waitingOnUs && this.reported?.version === version && this.reported.runId === run.runId) {
        this.stats.skippedRecorded++;
        return;
      }
    }
    // A run that has not heard from us (typically a rotation that just started), or one
    // waiting on its consumers: report now.
    await this.send('period', run === 'unknown' ? undefined : run.runId);
  }

  /** The running rotation (see describeRunningRun); 'unknown' when Temporal cannot tell. */
  private async runningRun(version: number): Promise<RunningRun | 'no-rotation' | 'unknown'> {
    try {
      return await withTimeout(this.opts.queryTimeoutMs ?? 5_000, () =>
        describeRunningRun(this.opts.client, this.workflowId, this.consumerId, version),
      );
    } catch (err) {
      this.logger.debug?.(
        { consumerId: this.consumerId, err: errorMessage(err) },
        'heartbeat: describe failed',
      );
      return 'unknown';
    }
  }

  private async send(why: 'change' | 'period', runId?: string): Promise<void> {
    const version = this.version;
    if (version === undefined) return;
    // A periodic report that ran between the change and this task may have sent this version already.
    if (why === 'change' && this.lastSent?.version === version) return;
    const at = Date.now();
    try {
      await this.opts.client.workflow
        .getHandle(this.workflowId)
        .signal(consumerHeartbeatSignal, { consumerId: this.consumerId, version });
      this.stats.signals++;
      this.lastSent = { version, at };
      this.reported = { runId, version };
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
      this.logger.warn(
        { consumerId: this.consumerId, err: errorMessage(err) },
        'heartbeat: report failed; will retry',
      );
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
