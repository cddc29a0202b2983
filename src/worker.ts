import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { DefaultLogger, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { encryptedDataConverter } from './codec';
import { loadConfig, type RotatorConfig } from './config';
import { createHealthServer } from './health';
import { closeSharedConnections } from './engines';
import { createLogger } from './logger';
import { gatewayFromEnv } from './heartbeat-gateway';
import { startRevokedPurge } from './revoked-purge';
import { connectClient, connectWorkerConnection, openConfiguredStore, productionActivities } from './runtime';

export interface RunWorkerOptions {
  /**
   * Wraps the activities before they are registered (fault tests use it to
   * hold a worker right after a step's effect, then kill it).
   */
  wrapActivities?: (activities: Record<string, (...args: never[]) => Promise<unknown>>) => object;
}

/**
 * Starts a worker for the rotation task queue; resolves when it has shut
 * down. SIGINT/SIGTERM (the SDK runtime's handlers) stop polling at once;
 * activities already running get `shutdownGraceMs` to finish (a rotation step
 * cut in half is retried elsewhere, but a finished one is cheaper), then are
 * cancelled; the promise resolves and the process exits 0.
 */
export async function runWorker(options: RunWorkerOptions = {}): Promise<void> {
  const cfg = loadConfig();
  const log = createLogger(cfg.logLevel);
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry) => log.warn({ sdk: entry.meta }, entry.message)),
    // SDK metrics and the workflows' own (rotator_*) on one Prometheus endpoint.
    telemetryOptions:
      cfg.metricsPort > 0
        ? { metrics: { prometheus: { bindAddress: `${cfg.metricsHost}:${cfg.metricsPort}` } } }
        : undefined,
  });
  const store = await openConfiguredStore(cfg);
  const connection = await connectWorkerConnection(cfg);
  const source = workflowSource();
  const worker = await Worker.create({
    connection,
    namespace: cfg.temporal.namespace,
    taskQueue: cfg.temporal.taskQueue,
    ...source,
    activities: (options.wrapActivities ?? ((a) => a))(productionActivities(store)),
    dataConverter: encryptedDataConverter(cfg.codecKeyring),
    ...workerTuning(cfg.worker),
    shutdownGraceTime: cfg.shutdownGraceMs,
    // A stuck activity must not keep the process forever: give up 5 s after the grace
    // (run() then rejects and the process exits 1; the step is retried by another worker).
    shutdownForceTime: cfg.shutdownGraceMs + 5_000,
  });
  let stopping = false;
  const onSignal = (signal: string) => {
    if (!stopping) log.info({ signal, graceMs: cfg.shutdownGraceMs }, 'shutdown requested: polling stops');
    stopping = true;
  };
  process.on('SIGTERM', onSignal).on('SIGINT', onSignal);
  const health =
    cfg.healthPort > 0
      ? createHealthServer({
          accepting: () => !stopping && worker.getState() === 'RUNNING',
          checks: {
            temporal: () => connection.workflowService.getSystemInfo({}),
            store: () => store.listDefinitions(),
          },
        })
      : undefined;
  if (health) {
    health.listen(cfg.healthPort, cfg.metricsHost);
    await once(health, 'listening');
  }
  log.info(
    {
      taskQueue: cfg.temporal.taskQueue,
      address: cfg.temporal.address,
      metricsPort: cfg.metricsPort,
      healthPort: cfg.healthPort,
      workflows: 'workflowBundle' in source ? 'prebuilt bundle' : 'bundled at start',
      startupMs: Math.round(performance.now()),
    },
    'worker started',
  );
  // Heartbeats without master keys (src/heartbeat-gateway.ts), when ROTATOR_HEARTBEAT_LISTEN is set.
  const gatewayClient = process.env.ROTATOR_HEARTBEAT_LISTEN ? await connectClient(cfg) : undefined;
  const gateway = gatewayClient && (await gatewayFromEnv(process.env, gatewayClient));
  if (gateway) log.info({ port: gateway.port }, 'heartbeat gateway listening');
  const stopPurge = startRevokedPurge(store, cfg.revokedRetentionMs, log);
  try {
    await worker.run();
  } finally {
    stopPurge();
    process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
    health?.close();
    await gateway?.close();
    await gatewayClient?.connection.close();
    await store.close();
    await closeSharedConnections();
    await connection.close();
    log.info('worker stopped');
  }
}

/** The tuning options that are set (config `worker`, ROTATOR_WORKER_*); absent ones keep the SDK's defaults. */
export function workerTuning(t: RotatorConfig['worker']): Partial<WorkerOptions> {
  return {
    ...(t.maxCachedWorkflows !== undefined && { maxCachedWorkflows: t.maxCachedWorkflows }),
    ...(t.maxConcurrentWorkflowTaskExecutions !== undefined && {
      maxConcurrentWorkflowTaskExecutions: t.maxConcurrentWorkflowTaskExecutions,
    }),
    ...(t.maxConcurrentActivityTaskExecutions !== undefined && {
      maxConcurrentActivityTaskExecutions: t.maxConcurrentActivityTaskExecutions,
    }),
    ...(t.stickyQueueScheduleToStartTimeoutMs !== undefined && {
      stickyQueueScheduleToStartTimeout: t.stickyQueueScheduleToStartTimeoutMs,
    }),
  };
}

/**
 * Where the worker gets its workflow code, first match:
 * 1. `ROTATOR_WORKFLOW_BUNDLE=<path>` (tests: a bundle they built);
 * 2. `workflow-bundle.js` next to this file — `npm run build` writes it to
 *    dist/, so the installed package never bundles at start;
 * 3. bundle src/workflows now (development under tsx; takes seconds).
 * A bundle must be built with `bundleWorkflowCode({ workflowsPath,
 * failureConverterPath })` (src/build/bundle-workflows.ts) or failures
 * cannot be decoded.
 */
function workflowSource(): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  const prebuilt = join(__dirname, 'workflow-bundle.js');
  const bundle = process.env.ROTATOR_WORKFLOW_BUNDLE || (existsSync(prebuilt) ? prebuilt : undefined);
  return bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: join(__dirname, 'workflows') };
}

if (require.main === module) {
  runWorker().catch((err: unknown) => {
    console.error(`worker failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
