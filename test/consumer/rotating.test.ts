import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { Rotating, type RotatingDriver, type SwapEvent } from '../../src/consumer/rotating';
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

/** A failCheck that refuses the first `times` checks of `version` (with `message`), then passes. */
function failsFirst(version: number, times = 1, message = 'refused') {
  let left = times;
  return (c: ConsumerCredential) => (c.version === version && left-- > 0 ? new Error(message) : undefined);
}

/** The swaps of `r` from now on, as "<version> <reason>". */
function swapsOf(r: Rotating<FakeClient>): string[] {
  const reasons: string[] = [];
  r.onSwap((e) => reasons.push(`${e.version} ${e.reason}`));
  return reasons;
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

/** Holds the check of the client for `version` until the returned gate opens. */
function holdCheck(driver: RotatingDriver<FakeClient>, version: number) {
  const gate = deferred();
  const check = driver.check.bind(driver);
  driver.check = async (client) => {
    if (client.version === version) await gate.promise;
    return check(client);
  };
  return gate;
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
    const { driver, events } = fakeDriver({ failCheck: failsFirst(2, 1, 'connect ECONNREFUSED') });
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
    const readsBefore = source.reads;
    let calls = 0;
    await expect(
      r.run(async () => {
        calls++;
        throw other;
      }),
    ).rejects.toMatchObject({ message: other.message, code: '42601', name: 'Error' });
    expect(calls).toBe(1);
    expect(source.reads).toBe(readsBefore); // not an auth error: the credential is not re-read

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

describe('Rotating core: options, errors and logs', () => {
  function recordingLogger() {
    const lines: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
    const push = (level: string) => (obj: object, msg?: string) =>
      lines.push({ level, obj: obj as Record<string, unknown>, msg });
    return { lines, logger: { info: push('info'), warn: push('warn') } };
  }

  it('names itself <engine>-<n> unless named; refuses work before start and after close, naming itself', async () => {
    const source = new TestSource(1);
    const { driver } = fakeDriver();
    const a = new Rotating(source, driver, { registry: false });
    const b = new Rotating(source, driver, { registry: false });
    expect(a.name).toMatch(/^postgres-\d+$/);
    expect(Number(b.name.split('-')[1])).toBe(Number(a.name.split('-')[1]) + 1);
    expect(a.engine).toBe('postgres');
    expect(() => a.version).toThrow(`rotating postgres client "${a.name}" is not started`);
    expect(a.inFlight()).toEqual([]);
    const named = await new Rotating(source, driver, { registry: false, name: 'api-7' }).start();
    expect(named.name).toBe('api-7');
    expect(named.username).toBe('u1');
    await named.close();
    await named.close(); // idempotent
    expect(() => named.version).toThrow('rotating postgres client "api-7" is closed');
    await expect(named.hold(async () => 1)).rejects.toThrow('rotating postgres client "api-7" is closed');
  });

  it('authRetry: false passes auth errors through without re-reading', async () => {
    const source = new TestSource(1);
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false, authRetry: false }).start();
    source.value = cred(2);
    const reads = source.reads;
    const auth = authError();
    await expect(r.run(async () => Promise.reject(auth))).rejects.toMatchObject({
      message: auth.message,
      code: (auth as { code?: unknown }).code,
    });
    expect(source.reads).toBe(reads);
    expect(r.stats).toMatchObject({ authFailures: 1, authRetries: 0 });
    await r.close();
  });

  it('start(): a non-auth failure is thrown at once; an auth failure with no newer credential too', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const s1 = new TestSource(1);
    const d1 = fakeDriver({ failCheck: () => refused });
    await expect(new Rotating(s1, d1.driver, { registry: false }).start()).rejects.toMatchObject({
      message: refused.message,
      code: (refused as { code?: unknown }).code,
    });
    expect(s1.reads).toBe(1);
    const s2 = new TestSource(1);
    const auth = authError();
    const d2 = fakeDriver({ failCheck: () => auth });
    await expect(new Rotating(s2, d2.driver, { registry: false }).start()).rejects.toMatchObject({
      message: auth.message,
      code: (auth as { code?: unknown }).code,
    });
    expect(s2.reads).toBe(2);
    expect(d2.events).toEqual(['create v1', 'check v1', 'close v1']);
  });

  it('an auth failure on the retry counts too, and is what the caller gets', async () => {
    const source = new TestSource(1);
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false }).start();
    source.value = cred(2);
    const second = Object.assign(new Error('password authentication failed for user "u2"'), {
      code: '28P01',
    });
    await expect(
      r.run(async (c) => Promise.reject(c.version === 1 ? authError() : second)),
    ).rejects.toMatchObject({ message: second.message, code: '28P01' });
    expect(r.stats).toMatchObject({ authFailures: 2, authRetries: 1 });
    await r.close();
  });

  it('a failed re-read after an auth failure is logged and the original error surfaces', async () => {
    const source = new TestSource(1);
    const { logger, lines } = recordingLogger();
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false, logger }).start();
    (source as unknown as { read: () => Promise<ConsumerCredential> }).read = async () => {
      throw new Error('store down');
    };
    const auth = authError();
    await expect(r.run(async () => Promise.reject(auth))).rejects.toMatchObject({
      message: auth.message,
      code: (auth as { code?: unknown }).code,
    });
    expect(lines).toContainEqual({
      level: 'warn',
      obj: { pool: r.name, err: 'store down' },
      msg: 'rotating client: refresh after auth failure failed',
    });
    await r.close();
  });

  it('swap listeners: unsubscribe works; a throwing listener is logged and the others still run', async () => {
    const source = new TestSource(1);
    const { logger, lines } = recordingLogger();
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false, logger, name: 'p' }).start();
    const seen: string[] = [];
    r.onSwap(() => {
      throw new Error('listener bug');
    });
    const off = r.onSwap((e) => seen.push(`a ${e.previousVersion}->${e.version} ${e.reason}`));
    r.onSwap((e) => seen.push(`b ${e.version}`));
    await source.publish(2);
    await tick();
    off();
    await source.publish(3);
    await tick();
    expect(seen).toEqual(['a 1->2 source', 'b 2', 'b 3']);
    expect(lines.filter((l) => l.msg === 'rotating client: swap listener threw')).toEqual([
      { level: 'warn', obj: { pool: 'p', err: 'listener bug' }, msg: 'rotating client: swap listener threw' },
      { level: 'warn', obj: { pool: 'p', err: 'listener bug' }, msg: 'rotating client: swap listener threw' },
    ]);
    expect(
      lines.filter((l) => l.msg === 'rotating client: swapped to new credential').map((l) => l.obj),
    ).toEqual([
      { pool: 'p', version: 2, username: 'u2', previous: 1, reason: 'source' },
      { pool: 'p', version: 3, username: 'u3', previous: 2, reason: 'source' },
    ]);
    expect(JSON.stringify(lines)).not.toMatch(/"p[123]"/);
    await r.close();
  });

  it('a failed swap is logged without the password, counted, and retried with growing delays', async () => {
    const source = new TestSource(1);
    const { logger, lines } = recordingLogger();
    const { driver, events } = fakeDriver({ failCheck: failsFirst(2, 2, 'connect ECONNREFUSED') });
    const r = await new Rotating(source, driver, {
      registry: false,
      logger,
      swapRetryMs: 150,
      name: 'p',
    }).start();
    await source.publish(2);
    await tick();
    expect(
      lines.find((l) => l.msg === 'rotating client: new client failed its check; keeping the old one'),
    ).toEqual({
      level: 'warn',
      obj: { pool: 'p', version: 2, username: 'u2', err: 'connect ECONNREFUSED' },
      msg: 'rotating client: new client failed its check; keeping the old one',
    });
    await new Promise((res) => setTimeout(res, 240)); // the first retry, after 150 ms, fails again
    expect(r.stats.failedSwaps).toBe(2);
    expect(r.version).toBe(1);
    await new Promise((res) => setTimeout(res, 130)); // the second retry waits 300 ms, not 150
    expect(r.version).toBe(1);
    await new Promise((res) => setTimeout(res, 250));
    expect(r.version).toBe(2);
    expect(events.filter((e) => e === 'create v2')).toHaveLength(3);
    await r.close();
  });

  it('a client whose close fails or hangs is logged or given up on after closeTimeoutMs', async () => {
    const source = new TestSource(1);
    const { logger, lines } = recordingLogger();
    const { driver } = fakeDriver();
    let hang = false;
    driver.close = async (client) => {
      if (hang) return new Promise(() => undefined);
      throw new Error(`close failed v${client.version}`);
    };
    const r = await new Rotating(source, driver, {
      registry: false,
      logger,
      closeTimeoutMs: 30,
      name: 'p',
    }).start();
    await source.publish(2);
    await tick();
    expect(lines).toContainEqual({
      level: 'warn',
      obj: { pool: 'p', err: 'close failed v1' },
      msg: 'rotating client: closing the old client failed',
    });
    hang = true;
    const t0 = Date.now();
    await r.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(r.inFlight()).toEqual([{ version: 2, inFlight: 0, state: 'closed' }]);
  });

  it('drain timeouts are logged with the version and the operations left', async () => {
    const source = new TestSource(1);
    const { logger, lines } = recordingLogger();
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, {
      registry: false,
      logger,
      drainTimeoutMs: 20,
      name: 'p',
    }).start();
    void r.run((c) => slowOp(c, new Promise(() => undefined)));
    void r.run((c) => slowOp(c, new Promise(() => undefined)));
    await source.publish(2);
    await new Promise((res) => setTimeout(res, 60));
    expect(lines).toContainEqual({
      level: 'warn',
      obj: { pool: 'p', version: 1, inFlight: 2 },
      msg: 'rotating client: drain timeout; closing the old client with operations in flight',
    });
    await r.close();
  });

  it('a credential published while start() runs is swapped to right after', async () => {
    const source = new TestSource(1);
    const { driver } = fakeDriver();
    const gate = holdCheck(driver, 1);
    const rotating = new Rotating(source, driver, { registry: false });
    const swaps: SwapEvent[] = [];
    rotating.onSwap((e) => swaps.push(e));
    const starting = rotating.start();
    await tick();
    await source.publish(2);
    gate.resolve();
    const r = await starting;
    await tick();
    expect(r.version).toBe(2);
    expect(swaps).toEqual([{ version: 2, previousVersion: 1, reason: 'source' }]);
    await r.close();
  });
});

describe('Rotating core: lifecycle edges and metrics', () => {
  /** TestSource that records why it was asked to refresh. */
  class ReasonSource extends TestSource {
    reasons: string[] = [];
    failReads = false;
    override refresh(reason: string) {
      this.reasons.push(reason);
      if (this.failReads) return Promise.reject(new Error('store down'));
      return super.refresh(reason);
    }
  }

  it('close() of an instance that never started, and close() waiting for a slow driver close', async () => {
    const { driver, clients } = fakeDriver();
    await new Rotating(new TestSource(1), driver, { registry: false }).close();
    const close = driver.close;
    driver.close = async (client) => {
      await new Promise((res) => setTimeout(res, 40));
      return close(client);
    };
    const r = await new Rotating(new TestSource(1), driver, { registry: false }).start();
    await r.close();
    expect(clients[0]!.closed).toBe(true);
  });

  it('the drain waits for every operation on the old client, not just the first to finish', async () => {
    const source = new TestSource(1);
    const { driver, clients } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false }).start();
    const [g1, g2] = [deferred(), deferred()];
    const a = r.run((c) => slowOp(c, g1.promise));
    const b = r.run((c) => slowOp(c, g2.promise));
    await source.publish(2);
    await tick();
    g1.resolve();
    await a;
    await tick();
    expect(clients[0]!.closed).toBe(false);
    g2.resolve();
    await b;
    await tick();
    expect(clients[0]!.closed).toBe(true);
    expect(r.stats.drainTimeouts).toBe(0);
    await r.close();
  });

  it('a lease released twice counts once; a failed checkout is not left in flight', async () => {
    const source = new TestSource(1);
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false }).start();
    const lease = await r.hold(async (c) => `conn on v${c.version}`);
    expect(lease).toMatchObject({ value: 'conn on v1', version: 1 });
    lease.release();
    lease.release();
    expect(r.inFlight()).toEqual([{ version: 1, inFlight: 0, state: 'active' }]);
    await expect(r.hold(async () => Promise.reject(new Error('pool exhausted')))).rejects.toThrow(
      'pool exhausted',
    );
    expect(r.inFlight()).toEqual([{ version: 1, inFlight: 0, state: 'active' }]);
    await expect(r.run(async () => Promise.reject(new Error('syntax')))).rejects.toThrow('syntax');
    expect(r.stats.authFailures).toBe(0);
    await r.close();
  });

  it('refresh reasons and swap reasons say why; auth recovery works again for the next rotation', async () => {
    const source = new ReasonSource(1);
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false }).start();
    const reasons = swapsOf(r);
    const op = (c: FakeClient) =>
      c.version === source.value.version ? Promise.resolve(c.version) : Promise.reject(authError());
    source.value = cred(2);
    expect(await r.run(op)).toBe(2);
    source.value = cred(3);
    expect(await r.run(op)).toBe(3);
    // The re-read tells subscribers, so the swap itself is the source's.
    expect(reasons).toEqual(['2 source', '3 source']);
    expect(source.reasons).toEqual(['initial', 'auth-failure', 'auth-failure']);
    await r.close();
  });

  it('an auth failure swaps to a version the source already knew (an earlier swap to it failed)', async () => {
    const source = new TestSource(1);
    const { driver } = fakeDriver({ failCheck: failsFirst(2) });
    const r = await new Rotating(source, driver, { registry: false, swapRetryMs: 60_000 }).start();
    const reasons = swapsOf(r);
    await source.publish(2);
    await tick();
    expect(r.version).toBe(1);
    const result = await r.run(async (c) => (c.version === 1 ? Promise.reject(authError()) : c.version));
    expect(result).toBe(2);
    expect(reasons).toEqual(['2 auth-failure']);
    await r.close();
  });

  it('an auth failure whose newer credential fails its check is not retried on the old client', async () => {
    const source = new TestSource(1);
    const { driver } = fakeDriver({ failCheck: (c) => (c.version === 2 ? new Error('refused') : undefined) });
    const r = await new Rotating(source, driver, { registry: false, swapRetryMs: 60_000 }).start();
    source.value = cred(2);
    let calls = 0;
    const auth = authError();
    await expect(
      r.run(async () => {
        calls++;
        throw auth;
      }),
    ).rejects.toMatchObject({ message: auth.message, code: (auth as { code?: unknown }).code });
    expect(calls).toBe(1);
    expect(r.version).toBe(1);
    await r.close();
  });

  it('a swap retry re-reads with its own reason, falls back to the wanted credential, and stops at close', async () => {
    const source = new ReasonSource(1);
    const { driver } = fakeDriver({ failCheck: failsFirst(2) });
    const r = await new Rotating(source, driver, { registry: false, swapRetryMs: 50 }).start();
    const reasons = swapsOf(r);
    await source.publish(2);
    source.failReads = true; // the retry's re-read fails: it swaps to what it wanted anyway
    await new Promise((res) => setTimeout(res, 150));
    expect(reasons).toEqual(['2 retry']);
    expect(source.reasons).toContain('swap-retry');

    // A retry pending at close() never runs.
    source.failReads = false;
    const { driver: d2 } = fakeDriver({ failCheck: failsFirst(3) });
    const s2 = new ReasonSource(2);
    const r2 = await new Rotating(s2, d2, { registry: false, swapRetryMs: 40 }).start();
    await s2.publish(3);
    await tick();
    await r2.close();
    const count = s2.reasons.length;
    await new Promise((res) => setTimeout(res, 100));
    expect(s2.reasons.length).toBe(count);
    await r.close();
  });

  it('a swap that completes while close() runs closes the new client too', async () => {
    const source = new TestSource(1);
    const { driver, clients } = fakeDriver();
    const gate = holdCheck(driver, 2);
    const r = await new Rotating(source, driver, { registry: false }).start();
    const swaps: SwapEvent[] = [];
    r.onSwap((e) => swaps.push(e));
    void source.publish(2);
    await tick();
    const closing = r.close();
    gate.resolve();
    await closing;
    expect(clients.map((c) => c.closed)).toEqual([true, true]);
    expect(swaps).toEqual([]); // closed first: the new client never became current
    expect(r.stats.swaps).toBe(0);
  });

  it('metrics: failed swaps, failed and same-version refreshes, acquire latency, live clients only', async () => {
    const registry = new Registry();
    const source = new TestSource(1);
    const { driver } = fakeDriver({ failCheck: failsFirst(2) });
    const r = await new Rotating(source, driver, { registry, name: 'm-1', swapRetryMs: 60_000 }).start();
    await source.publish(2);
    await tick();
    source.value = cred(2);
    // Auth failure, re-read gives the version the failed swap wanted: "new-version" but no retry client.
    const lease = await r.hold(async (c) => c.version);
    lease.release();
    (source as unknown as { read: () => Promise<ConsumerCredential> }).read = async () => {
      throw new Error('store down');
    };
    await expect(r.run(async () => Promise.reject(authError()))).rejects.toThrow(/password authentication/);
    const text = await registry.metrics();
    expect(text).toContain('db_rotator_consumer_swaps_total{pool="m-1",engine="postgres",result="failed"} 1');
    expect(text).toContain(
      'db_rotator_consumer_refreshes_total{pool="m-1",engine="postgres",reason="auth-failure",result="error"} 1',
    );
    expect(text).toMatch(
      /db_rotator_consumer_operation_seconds_count\{pool="m-1",engine="postgres",op="acquire"\} 1/,
    );
    await r.close();

    const registry2 = new Registry();
    const s2 = new TestSource(1);
    const { driver: d2 } = fakeDriver();
    const r2 = await new Rotating(s2, d2, { registry: registry2, name: 'm-2' }).start();
    await expect(r2.run(async () => Promise.reject(authError()))).rejects.toThrow();
    await s2.publish(2);
    await tick();
    const text2 = await registry2.metrics();
    expect(text2).toContain(
      'db_rotator_consumer_refreshes_total{pool="m-2",engine="postgres",reason="auth-failure",result="same-version"} 1',
    );
    // The drained v1 client is closed: only v2 is reported.
    expect(text2).toContain(
      'db_rotator_consumer_connections{pool="m-2",engine="postgres",version="2",state="idle"} 1',
    );
    expect(text2).not.toMatch(/db_rotator_consumer_connections\{[^}]*version="1"/);
    await r2.close();

    const registry3 = new Registry();
    const { driver: d3 } = fakeDriver();
    delete (d3 as { connections?: unknown }).connections;
    const r3 = await new Rotating(new TestSource(1), d3, { registry: registry3, name: 'm-3' }).start();
    expect(await registry3.metrics()).not.toMatch(/db_rotator_consumer_connections\{pool="m-3"/);
    await r3.close();
  });

  it('a swap still queued when close() is called never builds its client', async () => {
    const source = new TestSource(1);
    const { driver, events } = fakeDriver();
    const gate = holdCheck(driver, 2);
    const r = await new Rotating(source, driver, { registry: false }).start();
    void source.publish(2); // being built
    await tick();
    void source.publish(3); // queued behind it
    await tick();
    const closing = r.close();
    gate.resolve();
    await closing;
    expect(events).not.toContain('create v3');
  });

  it('the connections gauge leaves out an old client whose close is under way', async () => {
    const registry = new Registry();
    const { driver } = fakeDriver();
    const gate = deferred();
    const close = driver.close;
    driver.close = async (client) => {
      if (client.version === 1) await gate.promise;
      return close(client);
    };
    const source = new TestSource(1);
    const r = await new Rotating(source, driver, { registry, name: 'm-4' }).start();
    await source.publish(2);
    await tick(); // v1 has nothing in flight: its (slow) close has begun
    const text = await registry.metrics();
    expect(text).toContain(
      'db_rotator_consumer_connections{pool="m-4",engine="postgres",version="2",state="idle"} 1',
    );
    expect(text).not.toMatch(/db_rotator_consumer_connections\{[^}]*version="1"/);
    gate.resolve();
    await r.close();
  });

  it('start() with a stale credential re-reads it, saying why', async () => {
    const source = new ReasonSource(1);
    await source.current();
    source.value = cred(2);
    const { driver } = fakeDriver({ failCheck: (c) => (c.version === 1 ? authError() : undefined) });
    const r = await new Rotating(source, driver, { registry: false }).start();
    expect(r.version).toBe(2);
    expect(source.reasons).toEqual(['initial', 'auth-failure']);
    await r.close();
  });

  it('an error that echoes the password of an earlier version than the current one is redacted too', async () => {
    const source = new TestSource(1);
    source.value = { version: 1, username: 'u1', password: 'first-secret-1' };
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false }).start();
    source.value = { version: 2, username: 'u2', password: 'second-secret-2' };
    await source.refresh('test');
    await tick();
    expect(r.version).toBe(2);
    const err = (await r
      .run(async () => {
        throw new Error('server log: login first-secret-1 then second-secret-2 seen');
      })
      .catch((e: unknown) => e)) as Error;
    expect(err.message).not.toContain('first-secret-1');
    expect(err.message).not.toContain('second-secret-2');
    await r.close();
  });

  it('one swap retry at a time: failed swaps while one is pending, or while closing, add none that outlives close()', async () => {
    const source = new ReasonSource(1);
    const { driver } = fakeDriver({ failCheck: (c) => (c.version > 1 ? new Error('refused') : undefined) });
    const r = await new Rotating(source, driver, { registry: false, swapRetryMs: 60 }).start();
    await source.publish(2); // fails: a retry is scheduled
    await source.publish(3); // fails too, while that retry is pending
    await tick();
    expect(r.stats.failedSwaps).toBe(2);
    await r.close();
    await new Promise((res) => setTimeout(res, 200));
    expect(source.reasons.filter((x) => x === 'swap-retry')).toEqual([]);

    // A swap that fails while close() waits for it schedules no retry either.
    const s2 = new ReasonSource(1);
    const { driver: d2 } = fakeDriver({
      failCheck: (c) => (c.version > 1 ? new Error('refused') : undefined),
    });
    const gate = holdCheck(d2, 2);
    const r2 = await new Rotating(s2, d2, { registry: false, swapRetryMs: 20 }).start();
    void s2.publish(2);
    await tick();
    const closing = r2.close();
    gate.resolve();
    await closing;
    await new Promise((res) => setTimeout(res, 100));
    expect(s2.reasons.filter((x) => x === 'swap-retry')).toEqual([]);
  });

  it('while close() drains a busy client, it is listed once, as draining', async () => {
    const source = new TestSource(1);
    const { driver } = fakeDriver();
    const r = await new Rotating(source, driver, { registry: false }).start();
    const gate = deferred();
    const op = r.run((c) => slowOp(c, gate.promise));
    await tick();
    const closing = r.close();
    await tick();
    expect(r.inFlight()).toEqual([{ version: 1, inFlight: 1, state: 'draining' }]);
    gate.resolve();
    await op;
    await closing;
  });

  it('closeTimeoutMs defaults to 10 s: a slow but finite driver close is awaited', async () => {
    const source = new TestSource(1);
    const { driver, clients } = fakeDriver();
    const close = driver.close;
    driver.close = async (client) => {
      await new Promise((res) => setTimeout(res, 60));
      return close(client);
    };
    const r = await new Rotating(source, driver, { registry: false }).start();
    const t0 = Date.now();
    await r.close();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(50);
    expect(clients[0]!.closed).toBe(true);
  });
});
