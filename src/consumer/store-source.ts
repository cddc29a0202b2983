import type { CredentialStore } from '../store/types';
import { SourceBase, errorMessage, type SourceBaseOptions } from './source-base';
import type { ConsumerCredential } from './types';

export const DEFAULT_STORE_TTL_MS = 10_000;

export interface StoreSourceOptions extends SourceBaseOptions {
  /** Only `getSecret` is used: a read-only store handle is enough. */
  store: Pick<CredentialStore, 'getSecret'>;
  credentialId: string;
  /**
   * How often the store is polled (default 10 s). An instance learns of a new
   * version at most this long after promote, so it must be far shorter than
   * the rotation's grace period (24 h by default).
   */
  ttlMs?: number;
  /**
   * Delay of the first poll; default a random phase in [0, ttl), so that a
   * fleet of instances does not poll (and swap) in lockstep.
   */
  initialDelayMs?: number;
  /** Longest poll delay after repeated failures (the delay doubles per failure). */
  maxBackoffMs?: number;
  /** Injectable randomness for the phase (tests). */
  random?: () => number;
}

/**
 * Reads the CURRENT version of a credential from the credential store and
 * polls it every `ttlMs` with a random initial phase. Subscribers hear of
 * each new version once. Timers are unref'd: a source never keeps a process alive.
 */
export class StoreSource extends SourceBase {
  readonly ttlMs: number;
  /** The random phase this instance polls at (ms after construction for the first poll). */
  readonly phaseMs: number;
  private timer?: NodeJS.Timeout;
  private failures = 0;
  private readonly maxBackoffMs: number;

  constructor(private readonly opts: StoreSourceOptions) {
    super(opts, { minReadIntervalMs: 500 });
    this.ttlMs = opts.ttlMs ?? DEFAULT_STORE_TTL_MS;
    if (!(this.ttlMs > 0)) throw new Error(`StoreSource: ttlMs must be positive, got ${this.ttlMs}`);
    this.maxBackoffMs = opts.maxBackoffMs ?? Math.max(this.ttlMs, 60_000);
    this.phaseMs = opts.initialDelayMs ?? Math.floor((opts.random ?? Math.random)() * this.ttlMs);
    this.schedule(this.phaseMs);
  }

  protected async read(): Promise<ConsumerCredential> {
    const s = await this.opts.store.getSecret(this.opts.credentialId, 'CURRENT');
    return { version: s.version, username: s.username, password: s.password };
  }

  override async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await super.close();
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.poll(), delayMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    try {
      await this.refresh('poll');
      this.failures = 0;
    } catch (err) {
      this.failures++;
      this.logger.warn(
        { credentialId: this.opts.credentialId, failures: this.failures, err: errorMessage(err) },
        'store source: poll failed; backing off',
      );
    }
    const delay = Math.min(this.ttlMs * 2 ** this.failures, this.maxBackoffMs);
    this.schedule(this.failures === 0 ? this.ttlMs : Math.max(delay, this.ttlMs));
  }
}
