import type { Rotating, SwapEvent } from './rotating';

/**
 * What every rotating client (pg, mysql2, MongoDB, ioredis) exposes besides
 * its driver's own calls: the core that swaps the client, the credential
 * version new work uses, and swap events.
 */
export abstract class CredentialFollower<T> {
  protected constructor(readonly core: Rotating<T>) {}

  /** The credential version that new work runs with. */
  get version(): number {
    return this.core.version;
  }

  /** Calls `listener` after each swap to a new client; returns the unsubscribe function. */
  onSwap(listener: (e: SwapEvent) => void): () => void {
    return this.core.onSwap(listener);
  }
}
