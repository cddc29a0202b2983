import type { Rotating, SwapEvent } from './rotating';

/**
 * What every rotating client (pg, mysql2, MongoDB, ioredis) exposes besides
 * its driver's own calls: the core that swaps the client, the credential
 * version new work uses, and swap events.
 */
export abstract class CredentialFollower<T> {
  protected constructor(readonly core: Rotating<T>) {}

  /** What every `create` does: start the core (first read, first client) and hand the follower out. */
  protected static async started<F extends CredentialFollower<unknown>>(follower: F): Promise<F> {
    await follower.core.start();
    return follower;
  }

  /** The credential version that new work runs with. */
  get version(): number {
    return this.core.version;
  }

  /** Calls `listener` after each swap to a new client; returns the unsubscribe function. */
  onSwap(listener: (e: SwapEvent) => void): () => void {
    return this.core.onSwap(listener);
  }
}
