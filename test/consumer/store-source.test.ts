import { describe, expect, it } from 'vitest';
import { StoreSource, type StoreSourceOptions } from '../../src/consumer/store-source';
import type { StoredSecret } from '../../src/store/types';
import { recordingLogger } from '../helpers/recording-logger';

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

/** A source on `store` that polls at once (credential 'c' unless `opts` says otherwise). */
const pollingSource = (
  store: StoreSourceOptions['store'],
  opts: Omit<StoreSourceOptions, 'store' | 'credentialId'> & { credentialId?: string },
) => new StoreSource({ store, credentialId: 'c', initialDelayMs: 0, ...opts });

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

  it('close() during a poll: that poll schedules no next one', async () => {
    const { store, state } = fakeStore(v(1));
    state.delayMs = 40;
    const { logger, lines } = recordingLogger();
    const src = pollingSource(store, { ttlMs: 20, minReadIntervalMs: 0, logger });
    await sleep(10); // the first poll is reading
    await src.close();
    await sleep(150);
    expect(state.reads).toBe(1);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
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
    const src = pollingSource(store, {
      credentialId: 'orders/app',
      ttlMs: 20,
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
    const src = pollingSource(store, { ttlMs: 30, readAttempts: 1, logger });
    await sleep(260);
    const polls = lines.filter((l) => l.msg === 'store source: poll failed; backing off').length;
    // 0, 60, 180 (doubling) => 3; a capped-at-TTL schedule would give about 9.
    expect(polls).toBeGreaterThanOrEqual(2);
    expect(polls).toBeLessThanOrEqual(4);
    await src.close();
  });
});

describe('the store source says why it reads', () => {
  it('the store source polls with reason "poll"', async () => {
    const { store, state } = fakeStore(v(1));
    const { logger, lines } = recordingLogger();
    const src = pollingSource(store, { ttlMs: 30, minReadIntervalMs: 0, logger });
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
