import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSource } from '../../src/consumer/file-source';
import {
  SourceBase,
  StaticSource,
  errorMessage,
  validateCredential,
  type SourceBaseOptions,
} from '../../src/consumer/source-base';
import { StoreSource } from '../../src/consumer/store-source';
import type { ConsumerCredential } from '../../src/consumer/types';
import type { StoredSecret } from '../../src/store/types';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A store stand-in: only getSecret(id, 'CURRENT') is used by StoreSource. */
function fakeStore(initial: StoredSecret) {
  const state = { secret: initial, reads: 0, fail: 0, delayMs: 0 };
  return {
    state,
    store: {
      async getSecret(_id: string, selector: unknown): Promise<StoredSecret> {
        expect(selector).toBe('CURRENT');
        state.reads++;
        if (state.delayMs) await sleep(state.delayMs);
        if (state.fail > 0) {
          state.fail--;
          throw new Error('store unavailable');
        }
        return { ...state.secret };
      },
    },
  };
}

const v = (version: number): StoredSecret => ({
  version,
  username: `app_v${version}`,
  password: `pw-${version}`,
});

describe('StoreSource', () => {
  it('polls with a random initial phase within the TTL, then every TTL, and emits only on version change', async () => {
    const { store, state } = fakeStore(v(1));
    const seen: number[] = [];
    const src = new StoreSource({
      store,
      credentialId: 'c',
      ttlMs: 40,
      random: () => 0.5,
      minReadIntervalMs: 0,
    });
    expect(src.phaseMs).toBe(20);
    src.subscribe((c) => seen.push(c.version));
    await sleep(130);
    expect(state.reads).toBeGreaterThanOrEqual(2);
    expect(seen).toEqual([1]); // re-reading version 1 notifies nobody again
    state.secret = v(2);
    await sleep(60);
    state.secret = v(2);
    await sleep(60);
    expect(seen).toEqual([1, 2]);
    await src.close();
    const reads = state.reads;
    await sleep(80);
    expect(state.reads).toBe(reads); // no polling after close
  });

  it('spreads the phases of many instances over the TTL', () => {
    const { store } = fakeStore(v(1));
    const phases = Array.from(
      { length: 50 },
      () => new StoreSource({ store, credentialId: 'c', ttlMs: 10_000 }),
    );
    const values = phases.map((s) => s.phaseMs);
    for (const s of phases) void s.close();
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(10_000);
    expect(new Set(values).size).toBeGreaterThan(40);
  });

  it('shares one read among concurrent refresh() callers', async () => {
    const { store, state } = fakeStore(v(3));
    state.delayMs = 30;
    const src = new StoreSource({ store, credentialId: 'c', ttlMs: 60_000, initialDelayMs: 60_000 });
    const results = await Promise.all(Array.from({ length: 20 }, () => src.refresh('auth-failure')));
    expect(state.reads).toBe(1);
    expect(new Set(results.map((r) => r.version))).toEqual(new Set([3]));
    await src.close();
  });

  it('retries a failing read with backoff, and bounds the read rate', async () => {
    const { store, state } = fakeStore(v(1));
    const src = new StoreSource({
      store,
      credentialId: 'c',
      ttlMs: 60_000,
      initialDelayMs: 60_000,
      backoffMs: 10,
      minReadIntervalMs: 100,
    });
    state.fail = 2;
    const t0 = Date.now();
    expect((await src.refresh('x')).version).toBe(1);
    expect(state.reads).toBe(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25); // 10 + 20 ms backoff
    state.fail = 5;
    await expect(src.refresh('x')).rejects.toThrow(/store unavailable/);
    // Sequential refreshes closer than minReadIntervalMs wait for it.
    state.fail = 0;
    const t1 = Date.now();
    await src.refresh('a');
    await src.refresh('b');
    expect(Date.now() - t1).toBeGreaterThanOrEqual(90);
    await src.close();
  });

  it('rejects a malformed secret without echoing it', async () => {
    const { store, state } = fakeStore(v(1));
    state.secret = { version: 1.5, username: 'u', password: 'hunter2-secret' } as StoredSecret;
    const src = new StoreSource({
      store,
      credentialId: 'c',
      ttlMs: 60_000,
      initialDelayMs: 60_000,
      readAttempts: 1,
    });
    const err = (await src.current().catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/expected \{version: integer/);
    expect(err.message).not.toContain('hunter2');
    await src.close();
  });
});

describe('FileSource (debounce and content hash)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'consumer-file-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (file: string, c: ConsumerCredential) => writeFileSync(file, JSON.stringify(c));

  it('coalesces a burst of writes into one read and emits once per version', async () => {
    const file = join(dir, 'credential.json');
    write(file, { version: 1, username: 'a', password: 'p1' });
    const src = new FileSource({ path: file, debounceMs: 50, pollMs: 0 });
    const seen: number[] = [];
    src.subscribe((c) => seen.push(c.version));
    expect((await src.current()).version).toBe(1);
    const readsAfterFirst = src.reads;
    for (let i = 0; i < 10; i++) {
      write(file, { version: 2, username: 'b', password: `p2` });
      await sleep(5);
    }
    await sleep(200);
    expect(seen).toEqual([1, 2]);
    expect(src.reads - readsAfterFirst).toBeLessThanOrEqual(2);
    await src.close();
  });

  it('does not re-parse unchanged content (same hash) and ignores unrelated files', async () => {
    const file = join(dir, 'credential.json');
    write(file, { version: 4, username: 'a', password: 'p' });
    const src = new FileSource({ path: file, debounceMs: 20, pollMs: 0 });
    await src.current();
    writeFileSync(join(dir, 'other.txt'), 'x');
    await sleep(80);
    expect(src.reads).toBe(1);
    write(file, { version: 4, username: 'a', password: 'p' }); // same bytes
    await sleep(80);
    expect(src.reads).toBe(2);
    expect(src.unchangedReads).toBe(1);
    await src.close();
  });

  it('polls when no watch event arrives', async () => {
    const file = join(dir, 'credential.json');
    write(file, { version: 1, username: 'a', password: 'p' });
    const src = new FileSource({ path: file, debounceMs: 10_000, pollMs: 50 });
    await src.current();
    write(file, { version: 2, username: 'a', password: 'q' });
    await sleep(150);
    expect(src.cached()?.version).toBe(2);
    await src.close();
  });

  it('a broken file fails the read without the content in the message, and the last good credential stays', async () => {
    const file = join(dir, 'credential.json');
    write(file, { version: 1, username: 'a', password: 'p' });
    const src = new FileSource({ path: file, debounceMs: 10, pollMs: 0, readAttempts: 1 });
    await src.current();
    writeFileSync(file, '{"version": 2, "password": "half-written-secret');
    const err = (await src.refresh('test').catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/not valid JSON/);
    expect(err.message).not.toContain('half-written');
    expect(src.cached()?.version).toBe(1);
    await src.close();
  });
});

describe('StaticSource', () => {
  it('always returns the same credential and never notifies', async () => {
    const src = new StaticSource({ version: 1, username: 'u', password: 'p' });
    let n = 0;
    src.subscribe(() => n++);
    await src.current();
    await src.refresh('auth-failure');
    expect(n).toBe(1);
    expect((await src.current()).version).toBe(1);
  });
});

/** A source whose reads the test scripts: each entry is a credential to return or an error to throw. */
class ScriptedSource extends SourceBase {
  script: Array<ConsumerCredential | Error | unknown> = [];
  previous: Array<ConsumerCredential | undefined> = [];
  constructor(opts: SourceBaseOptions = {}) {
    super({ minReadIntervalMs: 0, backoffMs: 1, ...opts }, { minReadIntervalMs: 0 });
  }
  protected async read(previous: ConsumerCredential | undefined): Promise<ConsumerCredential> {
    this.previous.push(previous);
    const next = this.script.length > 1 ? this.script.shift() : this.script[0];
    if (next instanceof Error) throw next;
    return next as ConsumerCredential;
  }
}

function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
  return {
    lines,
    logger: {
      info: (obj: object, msg?: string) =>
        lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
      warn: (obj: object, msg?: string) =>
        lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    },
  };
}

const c = (version: number, username = `u${version}`): ConsumerCredential => ({
  version,
  username,
  password: `secret-${version}`,
});

describe('SourceBase contract', () => {
  it('validates every field of a credential and never echoes it', () => {
    expect(validateCredential({ version: 2, username: 'u', password: '', extra: 1 })).toEqual({
      version: 2,
      username: 'u',
      password: '',
    });
    for (const bad of [
      null,
      'x',
      { version: '2', username: 'u', password: 'p' },
      { version: 2.5, username: 'u', password: 'p' },
      { version: 2, username: '', password: 'p' },
      { version: 2, username: 7, password: 'p' },
      { version: 2, username: 'u' },
      { version: 2, username: 'u', password: 7 },
    ]) {
      expect(() => validateCredential(bad)).toThrow(
        'credential source: expected {version: integer, username: string, password: string}',
      );
    }
    expect(errorMessage(new Error('boom'))).toBe('boom');
    expect(errorMessage('plain')).toBe('plain');
  });

  it('current() reads once and caches; cached() is empty before the first read', async () => {
    const src = new ScriptedSource();
    src.script = [c(1)];
    expect(src.cached()).toBeUndefined();
    expect(await src.current()).toEqual(c(1));
    expect(await src.current()).toEqual(c(1));
    expect(src.reads).toBe(1);
    expect(src.cached()).toEqual(c(1));
    // The next read is told the last credential (a source may skip unchanged content).
    await src.refresh('again');
    expect(src.previous).toEqual([undefined, c(1)]);
  });

  it('notifies subscribers once per new version, in spite of a throwing listener; unsubscribe works', async () => {
    const { logger, lines } = recordingLogger();
    const src = new ScriptedSource({ logger });
    const seen: number[] = [];
    src.subscribe(() => {
      throw new Error('listener bug');
    });
    const off = src.subscribe((x) => seen.push(x.version));
    src.script = [c(1)];
    await src.refresh('a');
    await src.refresh('b');
    src.script = [c(3)];
    await src.refresh('c');
    off();
    src.script = [c(4)];
    await src.refresh('d');
    expect(seen).toEqual([1, 3]);
    expect(lines.filter((l) => l.msg === 'credential source: listener threw')).toHaveLength(3);
    expect(lines.find((l) => l.msg === 'credential source: listener threw')!.obj).toEqual({
      err: 'listener bug',
    });
    expect(lines.filter((l) => l.msg === 'credential source: new version').map((l) => l.obj)).toEqual([
      { reason: 'a', version: 1, username: 'u1', previous: undefined },
      { reason: 'c', version: 3, username: 'u3', previous: 1 },
      { reason: 'd', version: 4, username: 'u4', previous: 3 },
    ]);
    expect(JSON.stringify(lines)).not.toContain('secret-');
  });

  it('retries up to readAttempts with doubling backoff, logs the last error once, then rejects with it', async () => {
    const { logger, lines } = recordingLogger();
    const src = new ScriptedSource({ logger, readAttempts: 3, backoffMs: 30 });
    src.script = [new Error('e1'), new Error('e2'), new Error('e3'), c(1)];
    const t0 = Date.now();
    await expect(src.refresh('r')).rejects.toThrow('e3');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(85); // 30 + 60 ms
    expect(Date.now() - t0).toBeLessThan(300); // not 120 + 240
    expect(src.reads).toBe(3);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([
      { level: 'warn', obj: { reason: 'r', err: 'e3' }, msg: 'credential source: read failed' },
    ]);
    expect(await src.refresh('r2')).toEqual(c(1));
  });

  it('at least one attempt even when readAttempts is 0; backoff defaults to 200 ms', async () => {
    const once = new ScriptedSource({ readAttempts: 0 });
    once.script = [new Error('only'), c(1)];
    await expect(once.refresh('x')).rejects.toThrow('only');
    expect(once.reads).toBe(1);
    const slow = new ScriptedSource({ readAttempts: 2, backoffMs: undefined });
    slow.script = [new Error('first'), c(2)];
    const t0 = Date.now();
    expect(await slow.refresh('x')).toEqual(c(2));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
  });

  it('a refresh while one is in flight shares it; after close, refresh rejects and nobody is notified', async () => {
    const src = new ScriptedSource();
    src.script = [c(1)];
    const [a, b] = [src.refresh('a'), src.refresh('b')];
    expect(a).toBe(b);
    await a;
    const seen: number[] = [];
    src.subscribe((x) => seen.push(x.version));
    await src.close();
    await expect(src.refresh('late')).rejects.toThrow('credential source is closed');
    expect(seen).toEqual([]);
  });

  it('the read-rate bound applies only once a credential is known', async () => {
    const src = new ScriptedSource({ minReadIntervalMs: 150, readAttempts: 2, backoffMs: 1 });
    src.script = [new Error('down'), new Error('down'), c(1)];
    const t0 = Date.now();
    await expect(src.refresh('a')).rejects.toThrow('down');
    expect(await src.refresh('b')).toEqual(c(1)); // no credential yet: no wait
    expect(Date.now() - t0).toBeLessThan(140);
    const t1 = Date.now();
    await src.refresh('c');
    expect(Date.now() - t1).toBeGreaterThanOrEqual(140);
  });
});

describe('StoreSource: options and poll failures', () => {
  it('refuses a TTL that is not positive, naming it', () => {
    const { store } = fakeStore(v(1));
    for (const ttlMs of [0, -5, Number.NaN])
      expect(() => new StoreSource({ store, credentialId: 'c', ttlMs })).toThrow(
        `StoreSource: ttlMs must be positive, got ${ttlMs}`,
      );
    const ok = new StoreSource({ store, credentialId: 'c', ttlMs: 1, initialDelayMs: 60_000 });
    expect(ok.ttlMs).toBe(1);
    void ok.close();
  });

  it('bounds the read rate to one per 500 ms by default', async () => {
    const { store } = fakeStore(v(1));
    const src = new StoreSource({ store, credentialId: 'c', ttlMs: 60_000, initialDelayMs: 60_000 });
    await src.refresh('a');
    const t0 = Date.now();
    await src.refresh('b');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    await src.close();
  });

  it('a failing poll is logged with the failure count and retried later and later, up to maxBackoffMs', async () => {
    const { store, state } = fakeStore(v(1));
    const { logger, lines } = recordingLogger();
    state.fail = 1000;
    const src = new StoreSource({
      store,
      credentialId: 'orders/app',
      ttlMs: 20,
      initialDelayMs: 0,
      maxBackoffMs: 80,
      readAttempts: 1,
      minReadIntervalMs: 0,
      logger,
    });
    // Polls at 0, then 40, 80 (doubling), then every 80 (capped): about 4 by 250 ms, not 12 at the TTL.
    await sleep(250);
    const polls = lines.filter((l) => l.msg === 'store source: poll failed; backing off');
    expect(polls.length).toBeGreaterThanOrEqual(2);
    expect(polls.length).toBeLessThanOrEqual(5);
    expect(polls[0]!.obj).toEqual({ credentialId: 'orders/app', failures: 1, err: 'store unavailable' });
    expect(polls[1]!.obj.failures).toBe(2);
    // Success resets the delay to the TTL.
    state.fail = 0;
    await sleep(200);
    const reads = state.reads;
    await sleep(100);
    expect(state.reads - reads).toBeGreaterThanOrEqual(2);
    await src.close();
    const after = state.reads;
    const logged = lines.length;
    await sleep(80);
    expect(state.reads).toBe(after);
    expect(lines.length).toBe(logged); // no poll runs (and fails) after close
  });

  it('the backoff never exceeds 60 s by default, nor goes below the TTL', async () => {
    const { store, state } = fakeStore(v(1));
    state.fail = 1000;
    const { logger, lines } = recordingLogger();
    // maxBackoffMs defaults to max(ttl, 60 s): with a TTL of 30 ms the delays double from 60 ms on.
    const src = new StoreSource({
      store,
      credentialId: 'c',
      ttlMs: 30,
      initialDelayMs: 0,
      readAttempts: 1,
      logger,
    });
    await sleep(260);
    const polls = lines.filter((l) => l.msg === 'store source: poll failed; backing off').length;
    // 0, 60, 180 (doubling) => 3; a capped-at-TTL schedule would give about 9.
    expect(polls).toBeGreaterThanOrEqual(2);
    expect(polls).toBeLessThanOrEqual(4);
    await src.close();
  });
});

describe('FileSource: watch filter and close', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'consumer-file-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const write = (file: string, c: ConsumerCredential) => writeFileSync(file, JSON.stringify(c));

  it('reacts to the file and to ..data swaps, not to other files in the directory', async () => {
    const file = join(dir, 'credential.json');
    write(file, { version: 1, username: 'a', password: 'p' });
    const src = new FileSource({ path: file, debounceMs: 10, pollMs: 0 });
    await src.current();
    for (let i = 0; i < 3; i++) writeFileSync(join(dir, `unrelated-${i}.json`), 'x');
    await sleep(100);
    expect(src.reads).toBe(1);
    writeFileSync(join(dir, '..data_tmp'), 'x');
    await sleep(100);
    expect(src.reads).toBe(2);
    write(file, { version: 2, username: 'a', password: 'q' });
    await sleep(100);
    expect(src.cached()?.version).toBe(2);
    await src.close();
  });

  it('after close, neither watch events nor polls read the file', async () => {
    const file = join(dir, 'credential.json');
    write(file, { version: 1, username: 'a', password: 'p' });
    const src = new FileSource({ path: file, debounceMs: 30, pollMs: 40 });
    await src.current();
    write(file, { version: 2, username: 'a', password: 'q' });
    await sleep(5);
    await src.close(); // a debounce is pending
    const reads = src.reads;
    write(file, { version: 3, username: 'a', password: 'r' });
    await sleep(150);
    expect(src.reads).toBe(reads);
    expect(src.cached()?.version).toBe(1);
  });

  it('a directory that cannot be watched falls back to polling, and says so', async () => {
    const { logger, lines } = recordingLogger();
    const src = new FileSource({ path: join(dir, 'missing', 'credential.json'), pollMs: 0, logger });
    expect(lines).toEqual([
      {
        level: 'warn',
        obj: expect.objectContaining({ path: join(dir, 'missing', 'credential.json') }),
        msg: 'file source: cannot watch; polling only',
      },
    ]);
    await src.close();
  });
});

describe('sources say why they read', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'consumer-file-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a watch event reads with reason "watch", the poll with "poll"', async () => {
    const file = join(dir, 'credential.json');
    writeFileSync(file, JSON.stringify({ version: 1, username: 'a', password: 'p' }));
    const watched = recordingLogger();
    const w = new FileSource({ path: file, debounceMs: 10, pollMs: 0, logger: watched.logger });
    await w.current();
    writeFileSync(file, JSON.stringify({ version: 2, username: 'a', password: 'q' }));
    await sleep(100);
    expect(watched.lines.at(-1)).toMatchObject({ obj: { reason: 'watch', version: 2 } });
    await w.close();

    const polled = recordingLogger();
    const other = join(dir, 'sub');
    mkdirSync(other);
    const file2 = join(other, 'credential.json');
    writeFileSync(file2, JSON.stringify({ version: 1, username: 'a', password: 'p' }));
    const p = new FileSource({ path: file2, debounceMs: 60_000, pollMs: 40, logger: polled.logger });
    await p.current();
    writeFileSync(file2, JSON.stringify({ version: 2, username: 'a', password: 'q' }));
    await sleep(120);
    expect(polled.lines.at(-1)).toMatchObject({ obj: { reason: 'poll', version: 2 } });
    await p.close();
  });

  it('the store source polls with reason "poll"', async () => {
    const { store, state } = fakeStore(v(1));
    const { logger, lines } = recordingLogger();
    const src = new StoreSource({
      store,
      credentialId: 'c',
      ttlMs: 30,
      initialDelayMs: 0,
      minReadIntervalMs: 0,
      logger,
    });
    await sleep(50);
    state.secret = v(2);
    await sleep(80);
    expect(lines.filter((l) => l.msg === 'credential source: new version').map((l) => l.obj.reason)).toEqual([
      'poll',
      'poll',
    ]);
    await src.close();
  });
});
