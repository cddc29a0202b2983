import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors';
import { TASK_QUEUE } from './shared/constants';
import { parseKeyring, type Keyring } from './store/crypto';
import type { StoreConfig } from './store';

/**
 * One typed configuration for worker, CLI and tools: a JSON file
 * (ROTATOR_CONFIG) overlaid by environment variables. Keys are given as
 * keyrings "kid:base64,kid2:base64" (first is active) so they can rotate.
 * Errors name the offending key and never echo a value.
 */
const configSchema = z
  .object({
    temporal: z
      .object({
        address: z.string().min(1).default('127.0.0.1:7233'),
        namespace: z.string().min(1).default('default'),
        taskQueue: z.string().min(1).default(TASK_QUEUE),
        /** TLS to Temporal (src/temporal-connection.ts): server CA/name, mTLS client cert/key. */
        tls: z
          .object({
            enabled: z
              .union([z.boolean(), z.string().transform((v) => /^(1|true|yes)$/i.test(v))])
              .optional(),
            caFile: z.string().min(1).optional(),
            serverName: z.string().min(1).optional(),
            clientCertFile: z.string().min(1).optional(),
            clientKeyFile: z.string().min(1).optional(),
          })
          .strict()
          .optional(),
        /** Temporal Cloud API key (sent as a bearer token over TLS). */
        apiKey: z.string().min(1).optional(),
      })
      .strict()
      .default({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: TASK_QUEUE }),
    store: z
      .discriminatedUnion('backend', [
        z.object({ backend: z.literal('file'), path: z.string().min(1) }).strict(),
        z
          .object({
            backend: z.literal('postgres'),
            connectionString: z.string().min(1),
            schema: z.string().min(1).default('rotator'),
          })
          .strict(),
      ])
      .optional(),
    /** Keyring for secrets at rest in the store. */
    storeKeys: z.string().min(1, 'required'),
    /** Keyring for Temporal payloads (codec). */
    codecKeys: z.string().min(1, 'required'),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** Prometheus endpoint of the worker; 0 disables it. */
    metricsPort: z.coerce.number().int().min(0).max(65535).default(9464),
    metricsHost: z.string().min(1).default('127.0.0.1'),
    /** /healthz and /readyz of the worker (on metricsHost); 0 disables them. */
    healthPort: z.coerce.number().int().min(0).max(65535).default(9465),
    /**
     * Worker tuning (README Scaling → Worker tuning); each absent one keeps
     * the SDK's default (cache sized from the heap, 40 workflow task slots,
     * 100 activity slots, sticky queue 10 s).
     */
    worker: z
      .object({
        maxCachedWorkflows: z.coerce.number().int().min(0).optional(),
        maxConcurrentWorkflowTaskExecutions: z.coerce.number().int().min(2).optional(),
        maxConcurrentActivityTaskExecutions: z.coerce.number().int().min(1).optional(),
        stickyQueueScheduleToStartTimeoutMs: z.coerce.number().int().min(1000).optional(),
      })
      .strict()
      .default({}),
    /** On SIGTERM: how long running activities may finish before they are cancelled. */
    shutdownGraceMs: z.coerce.number().int().min(0).default(30_000),
    /** Bearer token operators present to the codec server; without it the server refuses to start. */
    codecServerToken: z.string().min(16, 'at least 16 characters').optional(),
    codecServerPort: z.coerce.number().int().min(1).max(65535).default(8888),
    /** token (static bearer), jwt (the UI user's access token, verified), loopback (local UI only). */
    codecServerAuth: z.enum(['token', 'jwt', 'loopback']).default('token'),
    codecServerJwtIssuer: z.string().min(1).optional(),
    codecServerJwksUrl: z.string().url().optional(),
    codecServerJwtAudience: z.string().min(1).optional(),
    /** Origin allowed to call the codec server from a browser (the Temporal UI). */
    codecServerCorsOrigin: z.string().default('http://127.0.0.1:8233'),
    /** How long a revoked version keeps its secret in the store before the worker purges it. */
    revokedRetentionMs: z.coerce
      .number()
      .int()
      .min(0)
      .default(7 * 24 * 60 * 60 * 1000),
    /** Who the CLI records as actor in audit records. */
    actor: z
      .string()
      .min(1)
      .default(process.env.USER ?? 'operator'),
  })
  .strict();

export type RotatorConfig = Omit<z.infer<typeof configSchema>, 'store'> & {
  store: StoreConfig;
  storeKeyring: Keyring;
  codecKeyring: Keyring;
};

export function defaultStateDir(): string {
  return process.env.ROTATOR_STATE_DIR ?? join(homedir(), '.local', 'share', 'db-rotator');
}

/** Environment variables and the config keys they set. */
const ENV_KEYS: Array<[string, string[]]> = [
  ['TEMPORAL_ADDRESS', ['temporal', 'address']],
  ['TEMPORAL_NAMESPACE', ['temporal', 'namespace']],
  ['ROTATOR_TASK_QUEUE', ['temporal', 'taskQueue']],
  ['TEMPORAL_TLS', ['temporal', 'tls', 'enabled']],
  ['TEMPORAL_TLS_SERVER_CA_CERT_PATH', ['temporal', 'tls', 'caFile']],
  ['TEMPORAL_TLS_SERVER_NAME', ['temporal', 'tls', 'serverName']],
  ['TEMPORAL_TLS_CLIENT_CERT_PATH', ['temporal', 'tls', 'clientCertFile']],
  ['TEMPORAL_TLS_CLIENT_KEY_PATH', ['temporal', 'tls', 'clientKeyFile']],
  ['TEMPORAL_API_KEY', ['temporal', 'apiKey']],
  ['ROTATOR_STORE_BACKEND', ['store', 'backend']],
  ['ROTATOR_STORE_PATH', ['store', 'path']],
  ['ROTATOR_STORE_URL', ['store', 'connectionString']],
  ['ROTATOR_STORE_SCHEMA', ['store', 'schema']],
  ['ROTATOR_STORE_KEYS', ['storeKeys']],
  ['ROTATOR_CODEC_KEYS', ['codecKeys']],
  ['ROTATOR_LOG_LEVEL', ['logLevel']],
  ['ROTATOR_METRICS_PORT', ['metricsPort']],
  ['ROTATOR_ACTOR', ['actor']],
  ['ROTATOR_METRICS_HOST', ['metricsHost']],
  ['ROTATOR_HEALTH_PORT', ['healthPort']],
  ['ROTATOR_SHUTDOWN_GRACE_MS', ['shutdownGraceMs']],
  ['ROTATOR_CODEC_SERVER_TOKEN', ['codecServerToken']],
  ['ROTATOR_CODEC_SERVER_PORT', ['codecServerPort']],
  ['ROTATOR_CODEC_SERVER_CORS_ORIGIN', ['codecServerCorsOrigin']],
  ['ROTATOR_CODEC_SERVER_AUTH', ['codecServerAuth']],
  ['ROTATOR_CODEC_SERVER_JWT_ISSUER', ['codecServerJwtIssuer']],
  ['ROTATOR_CODEC_SERVER_JWKS_URL', ['codecServerJwksUrl']],
  ['ROTATOR_CODEC_SERVER_JWT_AUDIENCE', ['codecServerJwtAudience']],
  ['ROTATOR_REVOKED_RETENTION_MS', ['revokedRetentionMs']],
  ['ROTATOR_WORKER_MAX_CACHED_WORKFLOWS', ['worker', 'maxCachedWorkflows']],
  ['ROTATOR_WORKER_MAX_WORKFLOW_TASKS', ['worker', 'maxConcurrentWorkflowTaskExecutions']],
  ['ROTATOR_WORKER_MAX_ACTIVITIES', ['worker', 'maxConcurrentActivityTaskExecutions']],
  ['ROTATOR_WORKER_STICKY_TIMEOUT_MS', ['worker', 'stickyQueueScheduleToStartTimeoutMs']],
];

export function loadConfig(env: NodeJS.ProcessEnv = process.env): RotatorConfig {
  let raw: Record<string, unknown> = {};
  const file = env.ROTATOR_CONFIG;
  if (file) {
    if (!existsSync(file)) throw new ConfigError(`ROTATOR_CONFIG: file not found: ${file}`);
    try {
      raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
      throw new ConfigError(`ROTATOR_CONFIG: ${file} is not valid JSON`);
    }
  }
  for (const [name, path] of ENV_KEYS) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(raw, path, value);
  }
  // A store path or URL alone says which backend is meant.
  const store = raw.store as Record<string, unknown> | undefined;
  if (store && store.backend === undefined) store.backend = store.connectionString ? 'postgres' : 'file';
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`configuration: ${problems.join('; ')}`);
  }
  const cfg = parsed.data;
  return {
    ...cfg,
    store: cfg.store ?? { backend: 'file', path: join(defaultStateDir(), 'store.json') },
    storeKeyring: keyring('storeKeys', cfg.storeKeys),
    codecKeyring: keyring('codecKeys', cfg.codecKeys),
  };
}

function keyring(key: string, spec: string): Keyring {
  try {
    return parseKeyring(spec);
  } catch (err) {
    throw new ConfigError(`configuration: ${key}: ${(err as Error).message}`);
  }
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let node = obj;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}
