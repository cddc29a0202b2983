import { join } from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { helloActivities } from './activities/hello';
import { encryptedDataConverter } from './codec';
import { loadConfig } from './config';
import { createLogger } from './logger';
import { connectWorkerConnection, openConfiguredStore, productionActivities } from './runtime';

export interface RunWorkerOptions {
  /**
   * Wraps the activities before they are registered (fault tests use it to
   * hold a worker right after a step's effect, then kill it).
   */
  wrapActivities?: (activities: Record<string, (...args: never[]) => Promise<unknown>>) => object;
}

/** Starts a worker for the rotation task queue; resolves when it shuts down (SIGINT/SIGTERM). */
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
  const worker = await Worker.create({
    connection,
    namespace: cfg.temporal.namespace,
    taskQueue: cfg.temporal.taskQueue,
    ...workflowSource(),
    activities: (options.wrapActivities ?? ((a) => a))({
      ...productionActivities(store),
      ...helloActivities,
    }),
    dataConverter: encryptedDataConverter(cfg.codecKeyring),
  });
  log.info(
    { taskQueue: cfg.temporal.taskQueue, address: cfg.temporal.address, metricsPort: cfg.metricsPort },
    'worker started',
  );
  try {
    await worker.run();
  } finally {
    await store.close();
    await connection.close();
    log.info('worker stopped');
  }
}

/**
 * Where the worker gets its workflow code. Default: bundle src/workflows at
 * start (takes seconds). Opt-in `ROTATOR_WORKFLOW_BUNDLE=<path>`: load a
 * prebuilt bundle instead (fast restarts, e.g. the fault tests); it must be
 * built with `bundleWorkflowCode({ workflowsPath, failureConverterPath })`
 * like test/helpers/global-setup.ts does, or failures cannot be decoded.
 */
function workflowSource(): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  const bundle = process.env.ROTATOR_WORKFLOW_BUNDLE;
  return bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: join(__dirname, 'workflows') };
}

if (require.main === module) {
  runWorker().catch((err: unknown) => {
    console.error(`worker failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
