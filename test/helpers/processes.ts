/**
 * Basics of the fault tests (ports, seeded randomness, timeouts) and the
 * processes they start: everything is tracked, so `stopAllFaultProcesses()` in
 * an afterEach cleans up even when a test fails half way.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

// ------------------------------------------------------------------ basics

/** A free TCP port on 127.0.0.1 (closed again; good enough for a test). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** mulberry32: a small seeded PRNG, so a failing kill schedule can be replayed from its logged seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves with fn's value or undefined after `ms` (fn keeps running). */
export async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ------------------------------------------------------------------ process tracking

/** Worker processes still running (stopAllFaultProcesses kills them). */
const live = new Set<ChildProcess>();
/** Everything we started: killed when this process exits, whatever happened. */
const everything = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of everything) child.kill('SIGKILL');
});

/** Remembers a started process: killed when this test process exits; workers also by stopAllFaultProcesses. */
export function track(child: ChildProcess, kind: 'worker' | 'server'): void {
  everything.add(child);
  if (kind === 'worker') live.add(child);
  child.once('exit', () => {
    everything.delete(child);
    live.delete(child);
  });
}

/** Resolves once `child` has exited. */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/**
 * SIGKILLs every worker process this module started that is still running
 * (afterEach). Private Temporal servers are closed by their owner, after the
 * in-process workers that use them shut down.
 */
export async function stopAllFaultProcesses(): Promise<void> {
  const all = [...live];
  for (const child of all) child.kill('SIGKILL');
  await Promise.all(all.map(exited));
}
