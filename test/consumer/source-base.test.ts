import { describe, expect, it } from 'vitest';
import {
  SourceBase,
  StaticSource,
  errorMessage,
  validateCredential,
  type SourceBaseOptions,
} from '../../src/consumer/source-base';
import type { ConsumerCredential } from '../../src/consumer/types';
import { recordingLogger } from '../helpers/recording-logger';

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
