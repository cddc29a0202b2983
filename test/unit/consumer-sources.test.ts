import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSource } from '../../src/consumer/file-source';
import { StaticSource } from '../../src/consumer/source-base';
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
