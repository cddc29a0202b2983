import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHealthServer, type HealthServerOptions } from '../src/health';

describe('health endpoints', () => {
  let close: (() => void) | undefined;
  afterEach(() => close?.());

  async function serve(
    opts: HealthServerOptions,
  ): Promise<(path: string, method?: string) => Promise<[number, string]>> {
    const server = createHealthServer(opts);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    close = () => server.close();
    const port = (server.address() as AddressInfo).port;
    return async (path, method = 'GET') => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
      return [res.status, await res.text()];
    };
  }

  it('readyz names each failing or silent dependency; healthz stays 200', async () => {
    let accepting = true;
    const get = await serve({
      accepting: () => accepting,
      timeoutMs: 200,
      checks: {
        temporal: async () => undefined,
        store: async () => {
          throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        },
        slow: () => new Promise(() => undefined),
      },
    });
    const [status, body] = await get('/readyz');
    expect(status).toBe(503);
    expect(JSON.parse(body)).toEqual({
      ready: false,
      checks: {
        worker: 'ok',
        temporal: 'ok',
        store: 'Error: connect ECONNREFUSED 127.0.0.1:5432',
        slow: 'Error: no answer within 200 ms',
      },
    });
    expect(await get('/healthz')).toEqual([200, 'ok\n']);
    accepting = false;
    expect(JSON.parse((await get('/readyz'))[1]).checks.worker).toBe('shutting down');
    expect((await get('/nope'))[0]).toBe(404);
    expect((await get('/healthz', 'POST'))[0]).toBe(405);
  });

  it('readyz is 200 when every check passes', async () => {
    const get = await serve({
      accepting: () => true,
      checks: { temporal: async () => 1, store: async () => [] },
    });
    expect(await get('/readyz?verbose')).toEqual([
      200,
      `${JSON.stringify({ ready: true, checks: { worker: 'ok', temporal: 'ok', store: 'ok' } })}\n`,
    ]);
  });
});
