/**
 * Admin connection pools shared by every engine object of the process.
 *
 * Each activity opens its own engine and closes it when it ends; without
 * sharing, every activity paid a TCP connect, a TLS handshake (CA parsed
 * again) and a SCRAM exchange (4,096 PBKDF2 rounds on each side) for its
 * admin connection: about a third of the worker's CPU per rotation in a
 * fleet run (README Scaling). Pools are keyed by everything that decides
 * what a connection is allowed to do — host, port, database, user, password
 * (hashed, never kept as a key in clear) and TLS settings — so a rotated
 * admin password never reuses a session that logged in with the old one:
 * the new password gets a new pool (and proves it works by logging in), and
 * the pool of the old one is closed as soon as no engine uses it.
 * Verification logins never come from here: they must log in afresh.
 */
import { createHash } from 'node:crypto';
import { createSecureContext, type ConnectionOptions, type SecureContext } from 'node:tls';
import { Pool, type PoolConfig } from 'pg';

/** Connections per admin identity and database, shared by the activities running at once. */
export const ADMIN_POOL_MAX = 8;
/** An idle connection closes after this; the pool empties between fleets. */
const IDLE_TIMEOUT_MS = 5_000;

interface Entry {
  pool: Pool;
  /** host/port/database/user: entries with the same identity but another password or TLS are stale. */
  identity: string;
  users: number;
  stale: boolean;
}

const entries = new Map<string, Entry>();
/** Backend pids of every pooled admin connection of this process (session listings skip them). */
const ownPids = new Set<number>();
export const adminBackendPids: ReadonlySet<number> = ownPids;
const secureContexts = new Map<string, SecureContext>();

export interface AdminPoolLease {
  pool: Pool;
  /** The engine is done with it; closes the pool if a newer password replaced it. */
  release(): Promise<void>;
}

type ClientOptions = PoolConfig & {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
};

/** One pool per admin login and database, shared until released by every engine that took it. */
export function leaseAdminPool(options: ClientOptions): AdminPoolLease {
  const identity = JSON.stringify([options.host, options.port, options.database, options.user]);
  const key = createHash('sha256')
    .update(JSON.stringify([identity, options.password, tlsKey(options.ssl)]))
    .digest('hex');
  let entry = entries.get(key);
  if (!entry) {
    entry = { pool: newPool(options), identity, users: 0, stale: false };
    for (const [k, other] of entries) {
      if (other.identity !== identity) continue;
      other.stale = true;
      if (other.users === 0) endEntry(k, other);
    }
    entries.set(key, entry);
  }
  const leased = entry;
  leased.users++;
  let released = false;
  return {
    pool: leased.pool,
    async release() {
      if (released) return;
      released = true;
      leased.users--;
      if (leased.stale && leased.users === 0) await endEntry(key, leased);
    },
  };
}

/** Ends every pool (worker shutdown, tests). */
export async function closeAdminPools(): Promise<void> {
  await Promise.all([...entries].map(([k, e]) => endEntry(k, e)));
}

/** Pools currently open (tests). */
export function adminPoolCount(): number {
  return entries.size;
}

function endEntry(key: string, entry: Entry): Promise<void> {
  if (entries.get(key) === entry) entries.delete(key);
  return entry.pool.end().catch(() => undefined);
}

function newPool(options: ClientOptions): Pool {
  const pool = new Pool({
    ...options,
    max: ADMIN_POOL_MAX,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
  });
  // An idle client that dies must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    const pid = (client as unknown as { processID?: number }).processID;
    if (typeof pid !== 'number') return;
    ownPids.add(pid);
    client.on('end', () => ownPids.delete(pid));
  });
  return pool;
}

function tlsKey(ssl: PoolConfig['ssl']): string {
  if (!ssl || ssl === true) return String(ssl);
  return JSON.stringify([ssl.ca, ssl.servername, ssl.rejectUnauthorized]);
}

/**
 * The CA PEM parsed once per process into a SecureContext instead of once
 * per connection (Node builds a new context from `ca` on every connect).
 * Verification and the identity check are unchanged: `rejectUnauthorized`
 * and `checkServerIdentity` stay in the options.
 */
export function withSharedContext(ssl: PoolConfig['ssl']): PoolConfig['ssl'] {
  if (!ssl || ssl === true || typeof ssl.ca !== 'string') return ssl;
  let context = secureContexts.get(ssl.ca);
  if (!context) {
    context = createSecureContext({ ca: ssl.ca });
    secureContexts.set(ssl.ca, context);
  }
  return { ...(ssl as ConnectionOptions), secureContext: context };
}
