import { createServer, type Server } from 'node:http';

/** One readiness check: resolves when the dependency answers, rejects (or times out) when not. */
export type ReadinessCheck = () => Promise<unknown>;

export interface HealthServerOptions {
  /** Named checks run on every /readyz request, in parallel, each bounded by `timeoutMs`. */
  checks: Record<string, ReadinessCheck>;
  /** False once shutdown began: /readyz answers 503 so an orchestrator stops routing to us. */
  accepting: () => boolean;
  timeoutMs?: number;
}

/**
 * Liveness and readiness for orchestrators, served beside the Prometheus
 * endpoint (which belongs to the SDK runtime and cannot take more routes):
 * - GET /healthz: 200 while the process runs its event loop.
 * - GET /readyz: 200 when every check passed, else 503; the body names each
 *   check with "ok" or its error class and message (no secret reaches it:
 *   checks report connection errors, which the store and SDK keep free of
 *   passwords).
 */
export function createHealthServer(opts: HealthServerOptions): Server {
  const timeoutMs = opts.timeoutMs ?? 3_000;
  return createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path !== '/readyz') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    void readiness(opts, timeoutMs).then(({ ready, checks }) => {
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(`${JSON.stringify({ ready, checks })}\n`);
    });
  });
}

async function readiness(
  opts: HealthServerOptions,
  timeoutMs: number,
): Promise<{ ready: boolean; checks: Record<string, string> }> {
  const checks: Record<string, string> = { worker: opts.accepting() ? 'ok' : 'shutting down' };
  await Promise.all(
    Object.entries(opts.checks).map(async ([name, check]) => {
      checks[name] = await bounded(check, timeoutMs).then(
        () => 'ok',
        (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err)),
      );
    }),
  );
  return { ready: Object.values(checks).every((v) => v === 'ok'), checks };
}

async function bounded(check: ReadinessCheck, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
