/**
 * Fault injection for integration tests: real worker processes that can be
 * SIGKILLed and a loop that kills them at chosen phases; a private Temporal
 * dev server that can be stopped and restarted (private-temporal.ts) and a
 * TCP proxy in front of a database that can refuse connections (tcp-proxy.ts).
 *
 * Everything started here is tracked (processes.ts), so `stopAllFaultProcesses()`
 * in an afterEach cleans up even when a test fails half way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import type { Phase, RotationStatus } from '../../src/shared/types';
import { exited, sleep, track, withTimeout } from './processes';
import { REPO_ROOT } from './services';
import { WORKFLOW_BUNDLE_PATH } from './temporal';

export { freePort, seededRandom, sleep, stopAllFaultProcesses, withTimeout } from './processes';
export { PrivateTemporal, temporalBinary } from './private-temporal';
export { TcpProxy } from './tcp-proxy';

// ------------------------------------------------------------------ worker processes

/**
 * A copy of the prebuilt workflow bundle (global-setup writes it; a copy so a
 * parallel vitest run rewriting .cache cannot hand a worker a half-written file).
 */
export function workflowBundleCopy(dir: string): string {
  const path = join(dir, 'workflow-bundle.js');
  copyFileSync(WORKFLOW_BUNDLE_PATH, path);
  return path;
}

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything it printed so far (pino JSON lines and SDK warnings). */
  output(): string;
  /** Resolves when it logged "worker started"; rejects if it exits first or after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
  /** Sends the signal and waits for the process to be gone (and reaped). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  readonly exited: Promise<void>;
}

/**
 * Starts the real worker (src/worker.ts) as its own process. It runs as
 * `node --import tsx src/worker.ts` rather than through node_modules/.bin/tsx:
 * the tsx CLI forks the real worker as a grandchild, and SIGKILL of the CLI
 * leaves that grandchild running (nobody relays a SIGKILL), so "killing the
 * worker" would kill nothing. Here the pid we kill is the worker itself, and
 * we reap it (this machine's pid 1 does not reap orphans).
 */
export function spawnWorker(
  env: Record<string, string>,
  entry: string = join(REPO_ROOT, 'src', 'worker.ts'),
): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ROTATOR_LOG_LEVEL: 'info',
      ROTATOR_METRICS_PORT: '0',
      ROTATOR_HEALTH_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child, 'worker');
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const done = exited(child);
  return {
    child,
    pid: child.pid!,
    output: () => out,
    exited: done,
    async ready(timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      while (!out.includes('worker started')) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`worker exited before it started:\n${out.slice(-2000)}`);
        }
        if (Date.now() > until)
          throw new Error(`worker not started after ${timeoutMs} ms:\n${out.slice(-2000)}`);
        await sleep(20);
      }
    },
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await done;
    },
  };
}

// ------------------------------------------------------------------ kill loop

const callsInFlight = new Set<Promise<void>>();

/**
 * The rotation's published status (its memo, read with describe()), or
 * undefined if the server does not answer within `ms`. Never a query: a
 * query sent while the sticky worker is dead is exactly what corrupts
 * TS SDK 1.24's cached state (issue 11, item 2), and these loops kill
 * workers all the time. The gRPC call gets the same deadline.
 */
export function queryStatus(handle: WorkflowHandle, ms = 200): Promise<RotationStatus | undefined> {
  const call = handle.client.connection
    .withDeadline(Date.now() + ms, () => handle.describe())
    .then((d) => (d.memo?.status ?? undefined) as RotationStatus | undefined);
  const settled = call.then(
    () => undefined,
    () => undefined,
  );
  callsInFlight.add(settled);
  void settled.then(() => callsInFlight.delete(settled));
  return withTimeout(call, ms + 100).catch(() => undefined);
}

/** Waits for every status read still in flight (before closing the connection they use). */
export async function settleQueries(maxMs = 10_000): Promise<void> {
  await withTimeout(Promise.all([...callsInFlight]), maxMs);
}

/**
 * Polls the published status without pause until it reports one of `phases`
 * (short phases such as apply last a few hundred ms); fails if the workflow
 * gets past them or ends first, naming the phases it saw.
 */
export async function waitForPhase(
  handle: WorkflowHandle,
  phases: Phase[],
  timeoutMs = 30_000,
): Promise<Phase> {
  const seen: string[] = [];
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const st = await queryStatus(handle, 500);
    if (st && seen[seen.length - 1] !== st.phase) seen.push(st.phase);
    if (st && phases.includes(st.phase)) return st.phase;
    if (st?.outcome) break;
    await sleep(1);
  }
  throw new Error(`phase ${phases.join('/')} not seen (saw ${seen.join(' > ') || 'nothing'})`);
}

export interface KillRecord {
  n: number;
  /** ms since the chaos started. */
  atMs: number;
  /** "random" or "phase <name>" for a targeted kill. */
  why: string;
  /** Last phase the status query reported before the kill. */
  phase?: string;
  /** How long the killed worker had been up (after "worker started"). */
  livedMs: number;
  /** Activities and workflow task the server saw in flight at the kill. */
  inFlight: string[];
}

export interface ChaosOptions {
  handle: WorkflowHandle;
  /** The running, ready worker; replaced after every kill. */
  worker: WorkerProcess;
  spawn: () => WorkerProcess;
  rnd: () => number;
  /** Keep killing until at least this many kills (and every target hit), unless the workflow ends. */
  minKills: number;
  /** Phases to kill at the moment the status query first reports them. */
  targets?: Phase[];
  /** Called right after a targeted kill (e.g. to send a signal while no worker is up). */
  onTarget?: (phase: Phase) => Promise<void>;
  /** A worker's random life: [min, max) ms. */
  lifeMs?: [number, number];
  /** A worker that has work but makes no progress for this long is killed anyway. */
  stuckMs?: number;
  /** Give up (throw) after this long. */
  maxMs?: number;
  log?: (line: string) => void;
}

export interface ChaosResult {
  kills: KillRecord[];
  /** The worker left running (not killed). */
  worker: WorkerProcess;
  /** "worker started" latency of every worker spawned by the loop. */
  startupMs: number[];
  /** Phases the status query reported, in order (deduplicated). */
  phasesSeen: string[];
  /** Warning/error lines the killed workers printed (deduplicated, first 300 chars each). */
  workerErrors: string[];
}

type Description = Awaited<ReturnType<WorkflowHandle['describe']>>;

const SCHEDULED = 1;
const STARTED = 2;

/**
 * Does the server have work for the worker `pid` (ready since `readyAt`)?
 * Scheduled tasks go to it (unless stuck on a killed worker's sticky queue);
 * started ones only if it started them (a task started by a killed worker
 * waits for its timeout, whoever is up).
 */
function workFor(d: Description, pid: number, readyAt: number): boolean {
  const wft = d.raw.pendingWorkflowTask;
  // Scheduled but not picked up for a while although we poll: it sits on a killed worker's sticky queue.
  if (wft?.state === SCHEDULED) return Date.now() - Math.max(tsToMs(wft.scheduledTime), readyAt) < 1500;
  if (wft?.state === STARTED && tsToMs(wft.startedTime) >= readyAt) return true;
  return (d.raw.pendingActivities ?? []).some(
    (a) => a.state === SCHEDULED || (a.state === STARTED && a.lastWorkerIdentity === `${pid}@${hostname()}`),
  );
}

/**
 * SIGKILLs the worker again and again and starts a new one each time, with
 * seeded random lives of 300-800 ms: counted from "worker started" while the
 * server has nothing for it (waiting on a timer, or on the timeout of a task
 * the previous, killed worker held), from its first progress (the history
 * grew) when it has work, so the rotation still advances and kills land at
 * random points of every phase. A targeted kill fires as soon as the status
 * query first shows its phase.
 */
export async function killWorkersRepeatedly(o: ChaosOptions): Promise<ChaosResult> {
  const [lifeMin, lifeMax] = o.lifeMs ?? [300, 800];
  const stuckMs = o.stuckMs ?? 15_000;
  const maxMs = o.maxMs ?? 120_000;
  const targets = new Set<string>(o.targets ?? []);
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  let finished = false;
  o.handle.result().then(
    () => (finished = true),
    () => (finished = true),
  );
  const kills: KillRecord[] = [];
  const startupMs: number[] = [];
  const phasesSeen: string[] = [];
  let worker = o.worker;
  let readyAt = Date.now();
  const workerErrors = new Set<string>();
  const collectErrors = (out: string) => {
    for (const line of out.split('\n')) {
      if (/"level":(40|50|60)|\b(WARN|ERROR)\b|nondetermin|TMPRL/i.test(line))
        workerErrors.add(line.slice(0, 300));
    }
  };

  while (!finished && (kills.length < o.minKills || targets.size > 0)) {
    if (Date.now() - t0 > maxMs) throw new Error(`kill loop still running after ${maxMs} ms`);
    const life = lifeMin + Math.floor(o.rnd() * (lifeMax - lifeMin));
    const startLen = (await o.handle.describe()).historyLength;
    let progressAt: number | undefined;
    let why = 'random';
    let phase: string | undefined;
    let d: Description;
    for (;;) {
      const [st, desc] = await Promise.all([queryStatus(o.handle, 150), o.handle.describe()]);
      d = desc;
      if (st) {
        phase = st.phase;
        if (phasesSeen[phasesSeen.length - 1] !== phase) phasesSeen.push(phase);
      }
      if (finished || st?.outcome) break;
      if (st && targets.has(st.phase)) {
        targets.delete(st.phase);
        why = `phase ${st.phase}`;
        break;
      }
      const now = Date.now();
      if (progressAt === undefined && d.historyLength > startLen) progressAt = now;
      const killAt =
        progressAt !== undefined
          ? progressAt + life
          : workFor(d, worker.pid, readyAt)
            ? readyAt + stuckMs
            : readyAt + life;
      if (now >= killAt) break;
      await sleep(10);
    }
    if (finished || phase === 'done') break;
    const inFlight = [
      ...(d.raw.pendingActivities ?? []).map((a) => `${a.activityType?.name}#${a.attempt}`),
      ...(d.raw.pendingWorkflowTask ? [`workflowTask#${d.raw.pendingWorkflowTask.attempt}`] : []),
    ];
    await worker.kill('SIGKILL');
    collectErrors(worker.output());
    const k: KillRecord = {
      n: kills.length + 1,
      atMs: Date.now() - t0,
      why,
      phase,
      livedMs: Date.now() - readyAt,
      inFlight,
    };
    kills.push(k);
    log(
      `kill ${k.n} (${why}) at ${k.atMs} ms, phase ${phase}, lived ${k.livedMs} ms, in flight: ${inFlight.join(', ') || '-'}`,
    );
    if (why.startsWith('phase ') && o.onTarget) await o.onTarget(phase as Phase);
    const spawnedAt = Date.now();
    worker = o.spawn();
    await worker.ready();
    readyAt = Date.now();
    startupMs.push(readyAt - spawnedAt);
  }
  return { kills, worker, startupMs, phasesSeen, workerErrors: [...workerErrors] };
}
