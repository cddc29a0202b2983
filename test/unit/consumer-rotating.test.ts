import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { Rotating, type RotatingDriver } from '../../src/consumer/rotating';
import { SourceBase } from '../../src/consumer/source-base';
import type { ConsumerCredential } from '../../src/consumer/types';

/** A source whose credential the test sets; reads are counted. */
class TestSource extends SourceBase {
  value: ConsumerCredential;
  readDelayMs = 0;
  constructor(version = 1) {
    super({ minReadIntervalMs: 0 }, { minReadIntervalMs: 0 });
    this.value = cred(version);
  }
  protected async read(): Promise<ConsumerCredential> {
    if (this.readDelayMs) await new Promise((r) => setTimeout(r, this.readDelayMs));
    return this.value;
  }
  /** Publishes a new version and lets subscribers know (like a poll would). */
  async publish(version: number): Promise<void> {
    this.value = cred(version);
    await this.refresh('test');
  }
}

function cred(version: number): ConsumerCredential {
  return { version, username: `u${version}`, password: `p${version}` };
}

interface FakeClient {
  id: number;
  version: number;
  checked: boolean;
  closed: boolean;
  closedWhileBusy: boolean;
  busy: number;
}

/** A driver whose clients record what happened to them, in order. */
function fakeDriver(
  opts: { failCheck?: (c: ConsumerCredential) => unknown; rejectVersions?: Set<number> } = {},
) {
  const events: string[] = [];
  const clients: FakeClient[] = [];
  let n = 0;
  const driver: RotatingDriver<FakeClient> = {
    engine: 'postgres',
    create(c) {
      const client = {
        id: ++n,
        version: c.version,
        checked: false,
        closed: false,
        closedWhileBusy: false,
        busy: 0,
      };
      clients.push(client);
      events.push(`create v${c.version}`);
      return client;
    },
    async check(client) {
      events.push(`check v${client.version}`);
      const err = opts.failCheck?.(cred(client.version));
      if (err) throw err;
      client.checked = true;
    },
    async close(client) {
      events.push(`close v${client.version}`);
      client.closedWhileBusy = client.busy > 0;
      client.closed = true;
    },
    connections: (client) => ({ active: client.busy, idle: client.closed ? 0 : 1 }),
  };
  return { driver, events, clients };
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** An operation on a fake client that runs until the test finishes it; fails if the client was closed under it. */
function slowOp(client: FakeClient, gate: Promise<void>): Promise<string> {
  client.busy++;
  return gate.then(() => {
    client.busy--;
    if (client.closed) throw new Error(`client ${client.id} closed under an in-flight operation`);
    return `done on v${client.version}`;
  });
}

const authError = () =>
  Object.assign(new Error('password authentication failed for user "u1"'), { code: '28P01' });
const tick = () => new Promise((r) => setTimeout(r, 10));

describe('Rotating core (fake clients)', () => {
  it('builds and checks the new client before swapping, and closes the old one only after its in-flight operations', async () => {
    const source = new TestSource(1);
    const { driver, events } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false }).start();
    expect(r.version).toBe(1);

    const gate = deferred();
    const inflight = r.run((c) => slowOp(c, gate.promise));
    await source.publish(2);
    await tick();
    expect(r.version).toBe(2);
    // New work goes to the new client at once; the old one waits for the in-flight operation.
    expect(await r.run(async (c) => `v${c.version}`)).toBe('v2');
    expect(events).toEqual(['create v1', 'check v1', 'create v2', 'check v2']);
    expect(r.inFlight()).toEqual([
      { version: 2, inFlight: 0, state: 'active' },
      { version: 1, inFlight: 1, state: 'draining' },
    ]);

    gate.resolve();
    expect(await inflight).toBe('done on v1');
    await tick();
    expect(events).toEqual(['create v1', 'check v1', 'create v2', 'check v2', 'close v1']);
    await r.close();
    await source.close();
  });

  it('a lease keeps its client open until released', async () => {
    const source = new TestSource(1);
    const { driver, clients, events } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false }).start();
    const lease = await r.hold(async (c) => c);
    expect(lease.version).toBe(1);
    await source.publish(2);
    await tick();
    expect(r.version).toBe(2);
    expect(clients[0]!.closed).toBe(false);
    lease.release();
    lease.release(); // idempotent
    await tick();
    expect(clients[0]!.closed).toBe(true);
    expect(events.at(-1)).toBe('close v1');
    await r.close();
  });

  it('keeps the old client if the new one fails its check, and retries the swap later', async () => {
    const source = new TestSource(1);
    let failures = 1;
    const { driver, events } = fakeDriver({
      failCheck: (c) => (c.version === 2 && failures-- > 0 ? new Error('connect ECONNREFUSED') : undefined),
    });
    const r = await new Rotating(source, driver, { registry: false, swapRetryMs: 30 }).start();
    await source.publish(2);
    await tick();
    expect(r.version).toBe(1);
    expect(r.stats.failedSwaps).toBe(1);
    expect(await r.run(async (c) => c.version)).toBe(1); // still serving
    await new Promise((res) => setTimeout(res, 100));
    expect(r.version).toBe(2);
    expect(events).toEqual([
      'create v1',
      'check v1',
      'create v2',
      'check v2',
      'close v2',
      'create v2',
      'check v2',
      'close v1',
    ]);
    await r.close();
  });

  it('closes the old client after the drain timeout even with an operation stuck on it', async () => {
    const source = new TestSource(1);
    const { driver, clients } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false, drainTimeoutMs: 50 }).start();
    const stuck = r.run((c) => slowOp(c, new Promise(() => undefined)));
    void stuck;
    await source.publish(2);
    await tick();
    expect(clients[0]!.closed).toBe(false);
    await new Promise((res) => setTimeout(res, 80));
    expect(clients[0]!.closed).toBe(true);
    expect(clients[0]!.closedWhileBusy).toBe(true);
    expect(r.stats.drainTimeouts).toBe(1);
    await r.close();
  });

  it('on auth failures re-reads the credential once for all of them and retries each once on the new client', async () => {
    const source = new TestSource(1);
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false }).start();
    source.value = cred(2); // the store moved on; this instance has not polled yet
    source.readDelayMs = 20;
    const readsBefore = source.reads;
    const op = (c: FakeClient) =>
      c.version === 1 ? Promise.reject(authError()) : Promise.resolve(`ok v${c.version}`);
    const results = await Promise.all(Array.from({ length: 10 }, () => r.run(op)));
    expect(results).toEqual(Array(10).fill('ok v2'));
    expect(source.reads - readsBefore).toBe(1);
    expect(r.stats).toMatchObject({ authFailures: 10, authRetries: 10, swaps: 1 });
    await r.close();
  });

  it('passes other errors through (rebuilt without driver fields), and auth errors too when the credential did not change', async () => {
    const source = new TestSource(1);
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false }).start();
    const other = Object.assign(new Error('syntax error at or near "SELEC"'), { code: '42601' });
    let calls = 0;
    await expect(
      r.run(async () => {
        calls++;
        throw other;
      }),
    ).rejects.toMatchObject({ message: other.message, code: '42601', name: 'Error' });
    expect(calls).toBe(1);

    const auth = authError();
    calls = 0;
    await expect(
      r.run(async () => {
        calls++;
        throw auth;
      }),
    ).rejects.toMatchObject({ message: auth.message, code: (auth as { code?: unknown }).code });
    expect(calls).toBe(1); // same version after the re-read: no retry
    expect(r.stats.authRetries).toBe(0);
    await r.close();
  });

  it('an operation that started on the old client and fails auth after a swap retries on the new one without a re-read', async () => {
    const source = new TestSource(1);
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false }).start();
    const gate = deferred();
    const op = r.run(async (c) => {
      if (c.version === 1) {
        await gate.promise;
        throw authError();
      }
      return c.version;
    });
    await source.publish(2);
    await tick();
    const reads = source.reads;
    gate.resolve();
    expect(await op).toBe(2);
    expect(source.reads).toBe(reads);
    await r.close();
  });

  it('start() with a stale credential re-reads once', async () => {
    const source = new TestSource(1);
    await source.current();
    source.value = cred(2);
    const { driver, events } = fakeDriver({ failCheck: (c) => (c.version === 1 ? authError() : undefined) });
    const r = await new Rotating(source, driver, { registry: false }).start();
    expect(r.version).toBe(2);
    expect(events).toEqual(['create v1', 'check v1', 'close v1', 'create v2', 'check v2']);
    await r.close();
  });

  it('serializes swaps, follows a rollback to an older version, and notifies swap listeners', async () => {
    const source = new TestSource(1);
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false }).start();
    const seen: Array<[number, number]> = [];
    r.onSwap((e) => seen.push([e.previousVersion, e.version]));
    await source.publish(2);
    await source.publish(1);
    await tick();
    expect(seen).toEqual([
      [1, 2],
      [2, 1],
    ]);
    expect(r.version).toBe(1);
    await r.close();
  });

  it('close() waits for in-flight work, then refuses new work', async () => {
    const source = new TestSource(1);
    const { driver, clients } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false }).start();
    const gate = deferred();
    const op = r.run((c) => slowOp(c, gate.promise));
    const closing = r.close();
    await tick();
    expect(clients[0]!.closed).toBe(false);
    gate.resolve();
    await closing;
    expect(await op).toBe('done on v1');
    expect(clients[0]!.closed).toBe(true);
    await expect(r.run(async () => 1)).rejects.toThrow(/closed/);
  });

  it('exports metrics: connections by version/state, swaps, auth failures, refreshes, latency', async () => {
    const registry = new Registry();
    const source = new TestSource(1);
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, { registry, name: 'app-1' }).start();
    const gate = deferred();
    const op = r.run((c) => slowOp(c, gate.promise));
    source.value = cred(2);
    await r.run(async (c) => {
      if (c.version === 1) throw authError();
    });
    const text = await registry.metrics();
    expect(text).toContain(
      'db_rotator_consumer_connections{pool="app-1",engine="postgres",version="1",state="active"} 1',
    );
    expect(text).toContain(
      'db_rotator_consumer_connections{pool="app-1",engine="postgres",version="2",state="idle"} 1',
    );
    expect(text).toContain('db_rotator_consumer_swaps_total{pool="app-1",engine="postgres",result="ok"} 1');
    expect(text).toContain('db_rotator_consumer_auth_failures_total{pool="app-1",engine="postgres"} 1');
    expect(text).toContain(
      'db_rotator_consumer_refreshes_total{pool="app-1",engine="postgres",reason="auth-failure",result="new-version"} 1',
    );
    expect(text).toContain('db_rotator_consumer_credential_version{pool="app-1",engine="postgres"} 2');
    expect(text).toMatch(
      /db_rotator_consumer_operation_seconds_count\{pool="app-1",engine="postgres",op="query"\} 1/,
    );
    gate.resolve();
    await op;
    await r.close();
  });
});
