import type { ConsumerCredential, ConsumerLogger, CredentialListener, CredentialSource } from './types';
import { silentLogger } from './types';

export interface SourceBaseOptions {
  /** Reads closer together than this wait for the interval (bounds the read rate under auth-failure storms). */
  minReadIntervalMs?: number;
  /** Attempts per refresh before it rejects (exponential backoff between them). */
  readAttempts?: number;
  /** First backoff delay between failed attempts; doubles each time. */
  backoffMs?: number;
  logger?: ConsumerLogger;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What every source shares: a cached credential, single-flight refresh with
 * backoff and a read-rate bound, and notification of subscribers on a version
 * change only (re-reading the same version notifies nobody).
 */
export abstract class SourceBase implements CredentialSource {
  protected readonly logger: ConsumerLogger;
  protected closed = false;
  private last?: ConsumerCredential;
  private readonly listeners = new Set<CredentialListener>();
  private inflight?: Promise<ConsumerCredential>;
  private lastReadAt = 0;
  private readonly minReadIntervalMs: number;
  private readonly readAttempts: number;
  private readonly backoffMs: number;
  /** Reads that hit the backing store/file (not shared waits): for tests and stats. */
  reads = 0;

  protected constructor(opts: SourceBaseOptions, defaults: { minReadIntervalMs: number }) {
    this.logger = opts.logger ?? silentLogger;
    this.minReadIntervalMs = opts.minReadIntervalMs ?? defaults.minReadIntervalMs;
    this.readAttempts = Math.max(1, opts.readAttempts ?? 3);
    this.backoffMs = opts.backoffMs ?? 200;
  }

  /** Reads the credential from the backing store/file; `previous` lets a source skip unchanged content. */
  protected abstract read(previous: ConsumerCredential | undefined): Promise<ConsumerCredential>;

  async current(): Promise<ConsumerCredential> {
    return this.last ?? this.refresh('initial');
  }

  /** The last credential read, without I/O (undefined before the first read). */
  cached(): ConsumerCredential | undefined {
    return this.last;
  }

  subscribe(listener: CredentialListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  refresh(reason: string): Promise<ConsumerCredential> {
    if (this.closed) return Promise.reject(new Error('credential source is closed'));
    if (!this.inflight) {
      this.inflight = this.readWithBackoff(reason).finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.inflight?.catch(() => undefined);
  }

  private async readWithBackoff(reason: string): Promise<ConsumerCredential> {
    const wait = this.lastReadAt + this.minReadIntervalMs - Date.now();
    if (wait > 0 && this.last) await sleep(wait);
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.readAttempts; attempt++) {
      try {
        this.reads++;
        const credential = validateCredential(await this.read(this.last));
        this.lastReadAt = Date.now();
        this.accept(credential, reason);
        return credential;
      } catch (err) {
        lastError = err;
        this.lastReadAt = Date.now();
        if (attempt < this.readAttempts && !this.closed) await sleep(this.backoffMs * 2 ** (attempt - 1));
      }
    }
    this.logger.warn({ reason, err: errorMessage(lastError) }, 'credential source: read failed');
    throw lastError;
  }

  private accept(credential: ConsumerCredential, reason: string): void {
    const previous = this.last;
    this.last = credential;
    if (previous && previous.version === credential.version) return;
    this.logger.info?.(
      { reason, version: credential.version, username: credential.username, previous: previous?.version },
      'credential source: new version',
    );
    for (const listener of [...this.listeners]) {
      try {
        listener(credential);
      } catch (err) {
        this.logger.warn({ err: errorMessage(err) }, 'credential source: listener threw');
      }
    }
  }
}

/** Checks the shape of a credential read from outside; the message never includes the secret. */
export function validateCredential(value: unknown): ConsumerCredential {
  const v = value as Partial<ConsumerCredential> | null;
  if (
    !v ||
    typeof v !== 'object' ||
    !Number.isInteger(v.version) ||
    typeof v.username !== 'string' ||
    v.username === '' ||
    typeof v.password !== 'string'
  ) {
    throw new Error('credential source: expected {version: integer, username: string, password: string}');
  }
  return { version: v.version as number, username: v.username, password: v.password };
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A source that never changes: for applications with a fixed credential, and
 * for tests that model a consumer that never learns about a rotation.
 */
export class StaticSource extends SourceBase {
  constructor(
    private readonly credential: ConsumerCredential,
    opts: SourceBaseOptions = {},
  ) {
    super(opts, { minReadIntervalMs: 0 });
  }

  protected async read(): Promise<ConsumerCredential> {
    return this.credential;
  }
}
