import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FileSource, type FileSourceOptions } from '../../src/consumer/file-source';
import type { ConsumerCredential } from '../../src/consumer/types';
import { recordingLogger } from '../helpers/recording-logger';
import { strykerMutantEnv } from '../helpers/stryker';

const realSetTimeout = setTimeout; // kept for the test that fakes the timers
const sleep = (ms: number) => new Promise((r) => realSetTimeout(r, ms));
/** Waits until `done()` (at most ~3 s): a loaded machine may deliver a watch event or a poll late. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 60 && !done(); i++) await sleep(50);
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'consumer-file-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});
const write = (file: string, c: ConsumerCredential) => writeFileSync(file, JSON.stringify(c));

/** A source on credential.json holding `first`, after its first read. */
async function readingSource(
  opts: Omit<FileSourceOptions, 'path'>,
  first: ConsumerCredential = { version: 1, username: 'a', password: 'p' },
): Promise<{ file: string; src: FileSource }> {
  const file = join(dir, 'credential.json');
  write(file, first);
  const src = new FileSource({ path: file, ...opts });
  await src.current();
  return { file, src };
}

describe('FileSource (debounce and content hash)', () => {
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
    await until(() => seen.length >= 2);
    await sleep(100); // a second emit would come within this
    expect(seen).toEqual([1, 2]);
    expect(src.reads - readsAfterFirst).toBeLessThanOrEqual(2);
    await src.close();
  });

  it('a change is read once the debounce window has passed, not before', async () => {
    const { file, src } = await readingSource({ debounceMs: 800, pollMs: 0 });
    write(file, { version: 2, username: 'b', password: 'p2' });
    await sleep(300);
    expect(src.reads).toBe(1);
    await until(() => src.cached()?.version === 2);
    expect(src.cached()?.version).toBe(2);
    await src.close();
  });

  it('does not re-parse unchanged content (same hash) and ignores unrelated files', async () => {
    const { file, src } = await readingSource(
      { debounceMs: 20, pollMs: 0 },
      { version: 4, username: 'a', password: 'p' },
    );
    writeFileSync(join(dir, 'other.txt'), 'x');
    await sleep(80);
    expect(src.reads).toBe(1);
    write(file, { version: 4, username: 'a', password: 'p' }); // same bytes
    await until(() => src.reads >= 2);
    expect(src.reads).toBe(2);
    expect(src.unchangedReads).toBe(1);
    await src.close();
  });

  it('polls when no watch event arrives', async () => {
    const { file, src } = await readingSource({ debounceMs: 10_000, pollMs: 50 });
    write(file, { version: 2, username: 'a', password: 'q' });
    // Several polls' time, not one: a loaded machine may delay a poll's read.
    await until(() => src.cached()?.version === 2);
    expect(src.cached()?.version).toBe(2);
    await src.close();
  });

  it('a broken file fails the read without the content in the message, and the last good credential stays', async () => {
    const { file, src } = await readingSource({ debounceMs: 10, pollMs: 0, readAttempts: 1 });
    writeFileSync(file, '{"version": 2, "password": "half-written-secret');
    const err = (await src.refresh('test').catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/not valid JSON/);
    expect(err.message).not.toContain('half-written');
    expect(src.cached()?.version).toBe(1);
    await src.close();
  });
});

describe('FileSource: watch filter and close', () => {
  it('reacts to the file and to ..data swaps, not to other files in the directory', async () => {
    const { file, src } = await readingSource({ debounceMs: 10, pollMs: 0 });
    for (let i = 0; i < 3; i++) writeFileSync(join(dir, `unrelated-${i}.json`), 'x');
    await sleep(100);
    expect(src.reads).toBe(1);
    writeFileSync(join(dir, '..data_tmp'), 'x');
    await until(() => src.reads >= 2);
    expect(src.reads).toBe(2);
    write(file, { version: 2, username: 'a', password: 'q' });
    await until(() => src.cached()?.version === 2);
    expect(src.cached()?.version).toBe(2);
    await src.close();
  });

  it('after close, neither watch events nor polls read the file', async () => {
    const { file, src } = await readingSource({ debounceMs: 30, pollMs: 40 });
    write(file, { version: 2, username: 'a', password: 'q' });
    await sleep(5);
    await src.close(); // a debounce is pending
    const reads = src.reads;
    write(file, { version: 3, username: 'a', password: 'r' });
    await sleep(150);
    expect(src.reads).toBe(reads);
    expect(src.cached()?.version).toBe(1);
  });

  it('close leaves no timer behind: neither the poll nor a pending debounce', async () => {
    // A timer left running after close keeps the closed source (and its cached password) reachable,
    // the poll for good. Fake timers count what is still scheduled; the watch and the reads are real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    try {
      const { file, src } = await readingSource({ debounceMs: 60_000, pollMs: 60_000 });
      expect(vi.getTimerCount()).toBe(1); // the poll
      write(file, { version: 2, username: 'a', password: 'q' });
      for (let i = 0; i < 50 && vi.getTimerCount() < 2; i++) await sleep(10);
      expect(vi.getTimerCount()).toBe(2); // the poll and the debounce of the watch event
      await src.close();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
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

describe('FileSource: a watch that fails, and the process', () => {
  it('a watch that fails later (e.g. EMFILE) is dropped, said so, and polling carries on', async () => {
    const { logger, lines } = recordingLogger();
    const { file, src } = await readingSource({ debounceMs: 10, pollMs: 1_000, logger });
    // Linux's inotify gives no way to make a live watch fail on demand (a removed directory is a
    // 'rename' event), so the failure fs.watch reports as an 'error' event is injected there.
    const watcher = (src as unknown as { watcher: FSWatcher }).watcher;
    watcher.emit('error', Object.assign(new Error('EMFILE: too many open files, watch'), { code: 'EMFILE' }));
    expect(lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        obj: { path: file, err: 'EMFILE: too many open files, watch' },
        msg: 'file source: watch failed; polling only',
      },
    ]);
    const reads = src.reads;
    write(file, { version: 2, username: 'a', password: 'q' });
    // Far past the debounce, well before the poll (which a loaded machine must not reach early):
    // no watch event is handled any more.
    await sleep(150);
    expect(src.reads).toBe(reads);
    await until(() => src.cached()?.version === 2);
    expect(src.cached()?.version).toBe(2); // the poll read it
    await src.close();
  });

  it('an open source does not keep the process alive (its watch and timers are not referenced)', async () => {
    const file = join(dir, 'credential.json');
    write(file, { version: 1, username: 'a', password: 'p' });
    // The same source in this process first: it reads the same credential; and StrykerJS (per-test
    // coverage, which cannot see into the child) then knows this test runs the constructor.
    const here = new FileSource({ path: file, debounceMs: 10, pollMs: 60_000 });
    expect((await here.current()).version).toBe(1);
    await here.close();
    const script = join(dir, 'open-source.mts');
    const moduleUrl = pathToFileURL(join(__dirname, '../../src/consumer/file-source.ts')).href;
    writeFileSync(
      script,
      `import { FileSource } from ${JSON.stringify(moduleUrl)};\n` +
        `const src = new FileSource({ path: ${JSON.stringify(file)}, debounceMs: 10, pollMs: 60_000 });\n` +
        `console.log((await src.current()).version);\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: join(__dirname, '../..'), // where tsx is installed
      env: { ...process.env, ...strykerMutantEnv() },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = await new Promise<number | null | 'still running'>((resolve) => {
      const t = setTimeout(() => resolve('still running'), 15_000);
      child.on('exit', (code) => {
        clearTimeout(t);
        resolve(code);
      });
    });
    if (exited === 'still running') child.kill('SIGKILL');
    expect(exited).toBe(0);
    expect(out.trim()).toBe('1');
  });
});

describe('sources say why they read', () => {
  it.each([
    { reason: 'watch', opts: { debounceMs: 10, pollMs: 0 } },
    { reason: 'poll', opts: { debounceMs: 60_000, pollMs: 40 } },
  ])('a change read on a $reason logs reason "$reason"', async ({ reason, opts }) => {
    const { logger, lines } = recordingLogger();
    const { file, src } = await readingSource({ ...opts, logger });
    write(file, { version: 2, username: 'a', password: 'q' });
    await until(() => src.cached()?.version === 2);
    expect(lines.at(-1)).toMatchObject({ obj: { reason, version: 2 } });
    await src.close();
  });
});
