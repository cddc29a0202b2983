/**
 * What the zero-downtime workload needs of one engine, kept out of
 * src/engines on purpose: a scratch namespace with an application login and
 * 100 items it can read, the consumer library's rotating client for it, and
 * the few admin statements the naive baseline rotation runs by hand.
 */
import type { Registry } from 'prom-client';
import type { VersionedClient } from '../../../src/consumer/heartbeat';
import type { ConsumerLogger, CredentialSource } from '../../../src/consumer/types';
import type { EngineKind, ResolvedStrategy } from '../../../src/shared/types';

/** One application instance's rotating client, reduced to what the workload does with it. */
export interface WorkloadClient extends VersionedClient {
  /** The rotating client's counters (swaps, auth failures and retries, drain timeouts). */
  readonly stats: { swaps: number; authFailures: number; authRetries: number; drainTimeouts: number };
  /** One short read of item `id` (1..100). */
  read(id: number): Promise<void>;
  /** Checks out one connection and holds it while `body` runs reads on it. */
  session(body: (read: (id: number) => Promise<void>) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export interface ClientOptions {
  /** Instance name (metrics, logs). */
  name: string;
  /** Connections per instance (pool size; Redis uses one connection). */
  poolMax: number;
  drainTimeoutMs: number;
  /** Refresh the credential and retry once on an auth failure (false: a client that only polls). */
  authRetry?: boolean;
  registry?: Registry | false;
  logger?: ConsumerLogger;
}

export type OpenClient = (source: CredentialSource, opts: ClientOptions) => Promise<WorkloadClient>;

/** A scratch namespace on one engine, dropped by cleanup(). */
export interface EngineFixture {
  engine: EngineKind;
  /** Where both credential definitions point. */
  where: { host: string; port: number; database?: string };
  /** The admin credential: its database (when it differs from `where`) and secret. */
  admin: { database?: string; username: string; password: string };
  login: string;
  password: string;
  open: OpenClient;
  /** Naive dual-user: a new login with the application login's grants. */
  createLike(login: string, password: string): Promise<void>;
  /** Naive dual-user: ends the login's sessions (where the engine can) and drops it; returns sessions ended. */
  dropLogin(login: string): Promise<number>;
  /** Naive dual-password: replaces the login's password (the old one stops working at once). */
  setPassword(login: string, password: string): Promise<void>;
  /** Sessions of a login right now, where the server tells. */
  sessionsOf(login: string): Promise<number | undefined>;
  cleanup(): Promise<void>;
}

export interface WorkloadEngine {
  name: EngineKind;
  strategies: ResolvedStrategy[];
  setup(): Promise<EngineFixture>;
}

/** Adapts a rotating client (its `core.stats`, version and swaps) to a WorkloadClient. */
export function workloadClient(
  rotating: VersionedClient & { core: { stats: WorkloadClient['stats'] } },
  ops: Pick<WorkloadClient, 'read' | 'session' | 'close'>,
): WorkloadClient {
  return {
    get version() {
      return rotating.version;
    },
    get stats() {
      return rotating.core.stats;
    },
    onSwap: (l) => rotating.onSwap(l),
    ...ops,
  };
}

/** The options every rotating client of the consumer library takes, from the workload's. */
export function rotatingOptions(source: CredentialSource, o: ClientOptions) {
  const { name, drainTimeoutMs, authRetry, registry, logger } = o;
  return { source, name, drainTimeoutMs, authRetry, registry, logger };
}
