import { isAuthError } from './auth-errors';
import { leave, Generations, type Generation } from './generations';
import { ConsumerMetrics, type ConnectionCounts } from './metrics';
import type { Lease, RotatingDriver, RotatingOptions, SwapEvent } from './rotating-types';
import { SeenPasswords } from './seen-passwords';
import { errorMessage } from './source-base';
import type { ConsumerCredential, ConsumerEngine, ConsumerLogger, CredentialSource } from './types';
import { silentLogger } from './types';

export type { Lease, RotatingDriver, RotatingOptions, SwapEvent } from './rotating-types';

let counter = 0;

/**
 * The rotation logic every rotating client shares, written once:
 *
 * - swap: on a new version (from the source, or found after an auth
 *   failure) build a client with it and check it first; only then make it
 *   current, atomically (one assignment). Swaps are serialized. A failed
 *   build leaves the old client in place and is retried with backoff.
 * - drain (./generations.ts): the old client stays open until every
 *   operation and lease that started on it has finished (or `drainTimeoutMs`
 *   passed), then closes.
 * - auth retry: an operation refused for the credential re-reads it (one
 *   shared read for all operations failing at once) and, if that yields a
 *   new version, runs once more on the new client. Other errors pass through.
 * - counting: every operation counts as in flight on the generation it started on.
 * - redaction (./seen-passwords.ts): no error leaves with a password this client used.
 */
export class Rotating<T> {
  readonly name: string;
  readonly engine: ConsumerEngine;
  readonly stats = { swaps: 0, failedSwaps: 0, authFailures: 0, authRetries: 0, drainTimeouts: 0 };
  private gen?: Generation<T>;
  private readonly clients: Generations<T>;
  private readonly passwords = new SeenPasswords();
  private swapChain: Promise<void> = Promise.resolve();
  private wanted?: ConsumerCredential;
  private authRecovery?: Promise<Generation<T> | undefined>;
  private retryTimer?: NodeJS.Timeout;
  private retryDelayMs: number;
  private readonly swapListeners = new Set<(e: SwapEvent) => void>();
  private unsubscribe?: () => void;
  private untrack?: () => void;
  private closed = false;
  private readonly metrics?: ConsumerMetrics;
  private readonly logger: ConsumerLogger;
  private readonly authRetry: boolean;
  private readonly swapRetryMs: number;

  constructor(
    private readonly source: CredentialSource,
    private readonly driver: RotatingDriver<T>,
    opts: RotatingOptions = {},
  ) {
    this.engine = driver.engine;
    this.name = opts.name ?? `${driver.engine}-${++counter}`;
    this.logger = opts.logger ?? silentLogger;
    this.authRetry = opts.authRetry ?? true;
    this.swapRetryMs = opts.swapRetryMs ?? 1_000;
    this.retryDelayMs = this.swapRetryMs;
    if (opts.registry !== false) this.metrics = ConsumerMetrics.for(opts.registry);
    const timeouts = {
      drainTimeoutMs: opts.drainTimeoutMs ?? 60_000,
      closeTimeoutMs: opts.closeTimeoutMs ?? 10_000,
    };
    this.clients = new Generations(driver, timeouts, {
      drainTimedOut: (gen) => this.drainTimedOut(gen),
      closeFailed: (err) =>
        this.logger.warn(
          { pool: this.name, err: errorMessage(err) },
          'rotating client: closing the old client failed',
        ),
    });
  }

  /**
   * Reads the credential, builds and checks the first client, and starts
   * following the source. Rejects with a sanitized copy of the driver's
   * error (../sanitize-error.ts): no driver object reaches the application.
   */
  async start(): Promise<this> {
    try {
      return await this.startRaw();
    } catch (err) {
      throw this.passwords.sanitize(err);
    }
  }

  private async startRaw(): Promise<this> {
    this.unsubscribe = this.source.subscribe((c) => {
      if (this.gen) this.swapTo(c, 'source').catch(() => undefined);
      else this.wanted = c;
    });
    const first = await this.source.current();
    try {
      this.gen = await this.build(first);
    } catch (err) {
      if (!isAuthError(this.engine, err)) throw err;
      // The source may be behind the server (a rotation just happened): re-read once.
      const fresh = await this.source.refresh('auth-failure');
      if (fresh.version === first.version) throw err;
      this.gen = await this.build(fresh);
    }
    this.untrack = this.metrics?.track({
      name: this.name,
      engine: this.engine,
      connectionsByVersion: () => this.connectionsByVersion(),
    });
    this.metrics?.version.set(this.labels(), this.gen.credential.version);
    if (this.wanted && this.wanted.version !== this.gen.credential.version) {
      this.swapTo(this.wanted, 'source').catch(() => undefined);
    }
    return this;
  }

  /** The version new operations use. */
  get version(): number {
    return this.active().credential.version;
  }

  /** The login new operations use (no secret). */
  get username(): string {
    return this.active().credential.username;
  }

  /** Called after every swap (the new client is current and checked). */
  onSwap(listener: (e: SwapEvent) => void): () => void {
    this.swapListeners.add(listener);
    return () => {
      this.swapListeners.delete(listener);
    };
  }

  /** Operations in flight per live generation (current first). */
  inFlight(): Array<{ version: number; inFlight: number; state: string }> {
    return this.generations().map((g) => ({
      version: g.credential.version,
      inFlight: g.inFlight,
      state: g.state,
    }));
  }

  /** Runs one operation on the current client (auth retry, in-flight counting, latency metric). */
  async run<R>(op: (client: T) => Promise<R>): Promise<R> {
    const end = this.metrics?.latency.startTimer({ ...this.labels(), op: 'query' });
    try {
      return await this.execute((gen) => op(gen.client), false);
    } finally {
      end?.();
    }
  }

  /**
   * Checks out a resource (a pooled connection) from the current client; it
   * counts as in flight on that client until `release()`, so the client is
   * not closed under it.
   */
  async hold<L>(checkout: (client: T) => Promise<L>): Promise<Lease<L>> {
    const end = this.metrics?.latency.startTimer({ ...this.labels(), op: 'acquire' });
    let held: Generation<T> | undefined;
    try {
      const value = await this.execute(async (gen) => {
        const v = await checkout(gen.client);
        held = gen;
        return v;
      }, true);
      const gen = held!;
      let released = false;
      return {
        value,
        version: gen.credential.version,
        release: () => {
          if (released) return;
          released = true;
          leave(gen);
        },
      };
    } finally {
      end?.();
    }
  }

  /** Stops following the source, drains and closes every client. The source is left open (the caller owns it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.swapChain;
    await this.authRecovery?.catch(() => undefined);
    if (this.gen) this.clients.startDrain(this.gen);
    await this.clients.drained();
    this.untrack?.();
    this.metrics?.version.remove(this.labels());
  }

  // --- operations -----------------------------------------------------------

  private active(): Generation<T> {
    if (!this.gen) throw new Error(`rotating ${this.engine} client "${this.name}" is not started`);
    if (this.closed) throw new Error(`rotating ${this.engine} client "${this.name}" is closed`);
    return this.gen;
  }

  /** Every error of an operation leaves the library sanitized (no driver object, no secret). */
  private async execute<R>(fn: (gen: Generation<T>) => Promise<R>, keep: boolean): Promise<R> {
    try {
      return await this.executeRaw(fn, keep);
    } catch (err) {
      throw this.passwords.sanitize(err);
    }
  }

  private async executeRaw<R>(fn: (gen: Generation<T>) => Promise<R>, keep: boolean): Promise<R> {
    const gen = this.active();
    try {
      return await this.attempt(gen, fn, keep);
    } catch (err) {
      if (!this.countAuthFailure(err) || !this.authRetry) throw err;
      const next = await this.recover(gen);
      if (!next) throw err;
      this.stats.authRetries++;
      try {
        return await this.attempt(next, fn, keep);
      } catch (retryErr) {
        this.countAuthFailure(retryErr);
        throw retryErr;
      }
    }
  }

  private async attempt<R>(
    gen: Generation<T>,
    fn: (gen: Generation<T>) => Promise<R>,
    keep: boolean,
  ): Promise<R> {
    gen.inFlight++;
    let ok = false;
    try {
      const result = await fn(gen);
      ok = true;
      return result;
    } finally {
      if (!(ok && keep)) leave(gen);
    }
  }

  private countAuthFailure(err: unknown): boolean {
    if (!isAuthError(this.engine, err)) return false;
    this.stats.authFailures++;
    this.metrics?.authFailures.inc(this.labels());
    return true;
  }

  /** After an auth failure on `gen`: the client to retry on, or undefined (no newer credential). */
  private async recover(gen: Generation<T>): Promise<Generation<T> | undefined> {
    if (this.gen !== gen) return this.gen; // swapped while the operation ran
    this.authRecovery ??= (async () => {
      let cred: ConsumerCredential;
      try {
        cred = await this.source.refresh('auth-failure');
      } catch (err) {
        this.metrics?.refreshes.inc({ ...this.labels(), reason: 'auth-failure', result: 'error' });
        this.logger.warn(
          { pool: this.name, err: errorMessage(err) },
          'rotating client: refresh after auth failure failed',
        );
        return undefined;
      }
      const changed = cred.version !== gen.credential.version;
      this.metrics?.refreshes.inc({
        ...this.labels(),
        reason: 'auth-failure',
        result: changed ? 'new-version' : 'same-version',
      });
      if (!changed) return undefined;
      await this.swapTo(cred, 'auth-failure').catch(() => undefined);
      return this.gen;
    })().finally(() => {
      this.authRecovery = undefined;
    });
    const next = await this.authRecovery;
    return next && next !== gen ? next : undefined;
  }

  // --- swap and drain --------------------------------------------------------

  /** Queues a swap to `cred`; resolves when it (or a no-op for the same version) is done. */
  private swapTo(cred: ConsumerCredential, reason: string): Promise<void> {
    this.wanted = cred;
    const run = this.swapChain.then(() => this.swapToWanted(reason));
    this.swapChain = run.catch(() => undefined);
    return run;
  }

  private async swapToWanted(reason: string): Promise<void> {
    const cred = this.wanted;
    const old = this.gen;
    if (!cred || !old || this.closed || cred.version === old.credential.version) return;
    let next: Generation<T>;
    try {
      next = await this.build(cred);
    } catch (err) {
      this.stats.failedSwaps++;
      this.metrics?.swaps.inc({ ...this.labels(), result: 'failed' });
      this.logger.warn(
        { pool: this.name, version: cred.version, username: cred.username, err: errorMessage(err) },
        'rotating client: new client failed its check; keeping the old one',
      );
      this.scheduleRetry();
      throw err;
    }
    if (this.closed) {
      await this.clients.close(next);
      return;
    }
    // The swap itself: one assignment. Operations that already hold `old` finish on it.
    this.gen = next;
    this.retryDelayMs = this.swapRetryMs;
    this.stats.swaps++;
    this.metrics?.swaps.inc({ ...this.labels(), result: 'ok' });
    this.metrics?.version.set(this.labels(), cred.version);
    this.logger.info?.(
      {
        pool: this.name,
        version: cred.version,
        username: cred.username,
        previous: old.credential.version,
        reason,
      },
      'rotating client: swapped to new credential',
    );
    this.clients.startDrain(old);
    const event: SwapEvent = { version: cred.version, previousVersion: old.credential.version, reason };
    for (const listener of [...this.swapListeners]) {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn({ pool: this.name, err: errorMessage(err) }, 'rotating client: swap listener threw');
      }
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 30_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.source
        .refresh('swap-retry')
        .catch(() => this.wanted)
        .then((c) => (c ? this.swapTo(c, 'retry') : undefined))
        .catch(() => undefined);
    }, delay);
    this.retryTimer.unref();
  }

  private build(cred: ConsumerCredential): Promise<Generation<T>> {
    this.passwords.remember(cred.password);
    return this.clients.build(cred);
  }

  private drainTimedOut(gen: Generation<T>): void {
    this.stats.drainTimeouts++;
    this.metrics?.drainTimeouts.inc(this.labels());
    this.logger.warn(
      { pool: this.name, version: gen.credential.version, inFlight: gen.inFlight },
      'rotating client: drain timeout; closing the old client with operations in flight',
    );
  }

  private generations(): Array<Generation<T>> {
    return [...(this.gen ? [this.gen] : []), ...this.clients.inDrain().filter((g) => g !== this.gen)];
  }

  private connectionsByVersion(): Array<{ version: number; counts: ConnectionCounts }> {
    const counts = this.driver.connections;
    if (!counts) return [];
    return this.generations()
      .filter((g) => g.state !== 'closed')
      .map((g) => ({ version: g.credential.version, counts: counts.call(this.driver, g.client) }));
  }

  private labels(): { pool: string; engine: string } {
    return { pool: this.name, engine: this.engine };
  }
}
