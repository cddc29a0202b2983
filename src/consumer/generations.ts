import type { RotatingDriver } from './rotating-types';
import type { ConsumerCredential } from './types';

/** One client built for one credential, with the operations and leases running on it. */
export interface Generation<T> {
  client: T;
  credential: ConsumerCredential;
  inFlight: number;
  state: 'active' | 'draining' | 'closed';
  idleWaiters: Array<() => void>;
}

/** Ends one operation or lease on `gen`; the last one out of a draining generation wakes its drain. */
export function leave<T>(gen: Generation<T>): void {
  gen.inFlight--;
  if (gen.inFlight === 0 && gen.state === 'draining') {
    for (const wake of gen.idleWaiters.splice(0)) wake();
  }
}

export interface GenerationEvents<T> {
  /** The drain of `gen` timed out: it is closed with operations in flight. */
  drainTimedOut(gen: Generation<T>): void;
  /** The driver's close of a client failed (the client is dropped all the same). */
  closeFailed(err: unknown): void;
}

/**
 * The life of a rotating client's generations below the swap: building and
 * checking a client, and draining and closing the ones that were replaced.
 * An old generation stays open until every operation and lease that started
 * on it has finished (or `drainTimeoutMs` passed); the driver's close is
 * bounded by `closeTimeoutMs`.
 */
export class Generations<T> {
  private readonly draining = new Set<Generation<T>>();
  private readonly drains = new Set<Promise<void>>();

  constructor(
    private readonly driver: RotatingDriver<T>,
    private readonly timeouts: { drainTimeoutMs: number; closeTimeoutMs: number },
    private readonly events: GenerationEvents<T>,
  ) {}

  /** Builds a client for `cred` and checks it; a client that fails its check is closed. */
  async build(cred: ConsumerCredential): Promise<Generation<T>> {
    const client = await this.driver.create(cred);
    const gen: Generation<T> = { client, credential: cred, inFlight: 0, state: 'active', idleWaiters: [] };
    try {
      await this.driver.check(client);
    } catch (err) {
      await this.close(gen);
      throw err;
    }
    return gen;
  }

  /** Starts draining `gen` (once); it closes when idle or when the drain timeout passes. */
  startDrain(gen: Generation<T>): void {
    if (gen.state !== 'active') return;
    gen.state = 'draining';
    this.draining.add(gen);
    const p = this.drain(gen).finally(() => {
      this.draining.delete(gen);
      this.drains.delete(p);
    });
    this.drains.add(p);
  }

  /** Resolves once every drain (including ones started meanwhile) has finished. */
  async drained(): Promise<void> {
    while (this.drains.size > 0) await Promise.all([...this.drains]);
  }

  /** The generations still draining. */
  inDrain(): Array<Generation<T>> {
    return [...this.draining];
  }

  private async drain(gen: Generation<T>): Promise<void> {
    if (gen.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        new Promise<boolean>((resolve) => gen.idleWaiters.push(() => resolve(true))),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), this.timeouts.drainTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (!drained) this.events.drainTimedOut(gen);
    }
    await this.close(gen);
  }

  /** Closes `gen`'s client, waiting at most `closeTimeoutMs` for the driver. */
  async close(gen: Generation<T>): Promise<void> {
    gen.state = 'closed';
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.driver.close(gen.client),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.timeouts.closeTimeoutMs);
          timer.unref();
        }),
      ]);
    } catch (err) {
      this.events.closeFailed(err);
    } finally {
      clearTimeout(timer);
    }
  }
}
