import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { homedir } from 'node:os';
import { nodeTlsOptions, resolveTls } from '../../src/engines/tls';

export const REPO_ROOT = resolve(__dirname, '..', '..');

/**
 * Connection settings of the local services started by scripts/services.sh:
 * scripts/services.env first, the process environment overrides it.
 */
function loadServiceEnv(): Record<string, string> {
  const file = join(REPO_ROOT, 'scripts', 'services.env');
  const vars: Record<string, string> = {};
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^\s*([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
      if (m) vars[m[1]!] = m[2]!.trim();
    }
  }
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) vars[k] = v;
  return vars;
}

const env = loadServiceEnv();

// The suite runs encrypted: every client (helpers, engines, consumer library,
// the worker's activities) trusts the services' local CA and verifies names.
if (env.ROTATOR_TLS_CA_FILE && !process.env.ROTATOR_TLS_CA_FILE) {
  process.env.ROTATOR_TLS_CA_FILE = env.ROTATOR_TLS_CA_FILE;
}

function need(name: string): string {
  const v = env[name];
  if (!v) throw new Error(`test environment: ${name} is not set (run: bash scripts/services.sh up)`);
  return v;
}

/** A server's address and its admin login, read from the environment only when a test uses it. */
function adminServer(host: string, port: number, userVar: string, passwordVar: string) {
  return {
    host,
    port,
    get user() {
      return need(userVar);
    },
    get password() {
      return need(passwordVar);
    },
  };
}

export const services = {
  tls: {
    /** The services' CA (scripts/tls.sh). */
    get caFile(): string {
      return need('ROTATOR_TLS_CA_FILE');
    },
    /** An unrelated CA: a server certificate does not chain to it. */
    get otherCaFile(): string {
      return need('ROTATOR_TEST_OTHER_CA_FILE');
    },
  },
  stateDir: env.ROTATOR_STATE_DIR ?? join(homedir(), '.local', 'share', 'db-rotator'),
  temporalAddress: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
  get testServerPath(): string {
    return env.TEMPORAL_TEST_SERVER_PATH ?? join(this.stateDir, 'bin', 'temporal-test-server');
  },
  /** The streaming replica of scripts/services/postgres-replica.sh. */
  postgresReplicaPort: Number(env.ROTATOR_PG_REPLICA_PORT ?? 5433),
  postgres: adminServer(
    env.PGHOST ?? '127.0.0.1',
    Number(env.PGPORT ?? 5432),
    'ROTATOR_PG_ADMIN_USER',
    'ROTATOR_PG_ADMIN_PASSWORD',
  ),
  mysql: adminServer(
    env.ROTATOR_MYSQL_HOST ?? '127.0.0.1',
    Number(env.ROTATOR_MYSQL_PORT ?? 3306),
    'ROTATOR_MYSQL_ADMIN_USER',
    'ROTATOR_MYSQL_ADMIN_PASSWORD',
  ),
  /** Its port is the TLS port (plain 6379 stays open for others until TLS is required). */
  redis: adminServer(
    env.ROTATOR_REDIS_HOST ?? '127.0.0.1',
    Number(env.ROTATOR_REDIS_TLS_PORT ?? env.ROTATOR_REDIS_PORT ?? 6379),
    'ROTATOR_REDIS_ADMIN_USER',
    'ROTATOR_REDIS_ADMIN_PASSWORD',
  ),
  /** PgBouncer and moto from scripts/services-delivery.sh. */
  pgbouncer: {
    host: '127.0.0.1',
    port: Number(env.ROTATOR_PGBOUNCER_PORT ?? 6432),
    get authFile(): string {
      return env.ROTATOR_PGBOUNCER_AUTH_FILE ?? join(services.stateDir, 'data', 'pgbouncer', 'userlist.txt');
    },
  },
  motoEndpoint: env.ROTATOR_MOTO_ENDPOINT ?? 'http://127.0.0.1:4566',
  /** The Python with psycopg (scripts/services-delivery.sh): its venv when it made one. */
  get python(): string {
    const venv = join(services.stateDir, 'venv', 'bin', 'python3');
    return env.ROTATOR_PYTHON ?? (existsSync(venv) ? venv : 'python3');
  },
  /** Its port is the TLS port. */
  mongo: adminServer(
    env.ROTATOR_MONGO_HOST ?? '127.0.0.1',
    Number(env.ROTATOR_MONGO_TLS_PORT ?? env.ROTATOR_MONGO_PORT ?? 27017),
    'ROTATOR_MONGO_ADMIN_USER',
    'ROTATOR_MONGO_ADMIN_PASSWORD',
  ),
};

/** A short random suffix for per-test names (lowercase, safe in every engine). */
export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** The sessions a namespace opened for a test: `track` remembers one, `closeAll` ends them all (errors ignored). */
export function sessions<C>(close: (c: C) => Promise<unknown>) {
  const open: C[] = [];
  return {
    async track(opening: Promise<C>): Promise<C> {
      const c = await opening;
      open.push(c);
      return c;
    },
    closeAll: () => Promise.all(open.splice(0).map((c) => close(c).catch(() => undefined))),
  };
}

/** Verified TLS options for test clients of the local services (Node tls.ConnectionOptions). */
export function testTls(host = '127.0.0.1') {
  return nodeTlsOptions(resolveTls(undefined, host))!;
}

/**
 * Another engineer starts the services: waits (up to `timeoutMs`; scripts/services.sh up waits for
 * readiness already) until `probe` connects, instead of starting anything.
 */
export async function waitForService(
  name: string,
  probe: () => Promise<void>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await probe();
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(
          `${name} did not become ready within ${timeoutMs / 1000} s (run: bash scripts/services.sh up): ${String(err)}`,
        );
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}
