import type { Registry } from 'prom-client';
import type { TlsSettings } from '../engines/tls';
import type { ConnectionCounts } from './metrics';
import type { ConsumerCredential, ConsumerEngine, ConsumerLogger } from './types';

// What a rotating client (./rotating.ts) is built from and what it hands out.

/** How one driver builds, checks and closes a client. Everything else is shared. */
export interface RotatingDriver<T> {
  readonly engine: ConsumerEngine;
  /** Builds a client (pool/connection) for a credential. May connect lazily. */
  create(credential: ConsumerCredential): T | Promise<T>;
  /** Proves the client works with its credential (SELECT 1 / PING); throws the driver's error. */
  check(client: T): Promise<void>;
  /** Graceful close; called only once no operation uses the client (or the drain timed out). */
  close(client: T): Promise<void>;
  /** Connections by state, for the metrics gauge. */
  connections?(client: T): ConnectionCounts;
}

export interface RotatingOptions {
  /** Name in metrics and logs (e.g. the application instance); default `<engine>-<n>`. */
  name?: string;
  /**
   * How long an old client may keep operations in flight after a swap before
   * it is closed anyway (default 60 s). Operations that finish in time never fail.
   */
  drainTimeoutMs?: number;
  /** Upper bound on the driver's own close after the drain (default 10 s). */
  closeTimeoutMs?: number;
  /** Refresh the credential and retry once on an authentication failure (default true). */
  authRetry?: boolean;
  /** First delay before retrying a failed swap (doubles up to 30 s; default 1 s). */
  swapRetryMs?: number;
  logger?: ConsumerLogger;
  /** Prometheus registry for the metrics (default: prom-client's default registry); false: no metrics. */
  registry?: Registry | false;
  /**
   * TLS to the database: verified (verify-full) by default, trusting
   * `caFile` or ROTATOR_TLS_CA_FILE or the system CAs; `false` (or
   * `{ mode: "disabled" }`) connects in plain text. A `ssl`/`tls` object in
   * the driver options takes precedence (explicit configuration).
   */
  tls?: TlsSettings | false;
}

export interface SwapEvent {
  version: number;
  previousVersion: number;
  reason: string;
}

/** A checked-out resource (connection) that counts as in flight until released. */
export interface Lease<L> {
  value: L;
  version: number;
  /** Idempotent. */
  release(): void;
}
