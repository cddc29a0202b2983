/**
 * Fault injection for integration tests: real worker processes that can be
 * SIGKILLed, a private Temporal dev server that can be stopped and restarted,
 * and a TCP proxy in front of a database that can refuse connections.
 *
 * Everything started here is tracked, so `stopAllFaultProcesses()` in an
 * afterEach cleans up even when a test fails half way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, type WorkflowHandle } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';
import type { Phase, RotationStatus } from '../../src/shared/types';
import { REPO_ROOT, services } from './services';
import { WORKFLOW_BUNDLE_PATH } from './temporal';

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

function track(child: ChildProcess, kind: 'worker' | 'server'): void {
  everything.add(child);
  if (kind === 'worker') live.add(child);
  child.once('exit', () => {
    everything.delete(child);
    live.delete(child);
  });
}

function exited(child: ChildProcess): Promise<void> {
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

// ------------------------------------------------------------------ private Temporal server

export function temporalBinary(): string {
  return join(services.stateDir, 'bin', 'temporal');
}

/**
 * A Temporal dev server of our own (never the shared one): its own ports and
 * SQLite file, so it can be stopped and started again with its state.
 */
export class PrivateTemporal {
  private child?: ChildProcess;
  private log = '';
  readonly address: string;
  readonly dbFile: string;

  private constructor(
    readonly port: number,
    private readonly uiPort: number,
    private readonly dir: string,
    private readonly dynamicConfig: Record<string, string | number> = {},
  ) {
    this.address = `127.0.0.1:${port}`;
    this.dbFile = join(dir, 't.db');
  }

  /** `dynamicConfig`: server settings such as `history.maximumSignalsPerExecution`. */
  static async start(dynamicConfig: Record<string, string | number> = {}): Promise<PrivateTemporal> {
    const dir = mkdtempSync(join(tmpdir(), 'rotator-temporal-'));
    const server = new PrivateTemporal(await freePort(), await freePort(), dir, dynamicConfig);
    await server.up();
    return server;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.log;
  }

  /** Starts the server (again) on the same port and file; resolves when the default namespace answers. */
  async up(timeoutMs = 60_000): Promise<void> {
    const args = [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(this.port),
      '--ui-port',
      String(this.uiPort),
      '--db-filename',
      this.dbFile,
      '--headless',
      '--log-level',
      'error',
      ...Object.entries(this.dynamicConfig).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${v}`]),
      ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => [
        '--search-attribute',
        `${name}=${type}`,
      ]),
    ];
    const child = spawn(temporalBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    track(child, 'server');
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`private Temporal server exited:\n${this.log.slice(-2000)}`);
      if (await this.answers()) return;
      if (Date.now() > until) throw new Error(`private Temporal server not up:\n${this.log.slice(-2000)}`);
      await sleep(100);
    }
  }

  private async answers(): Promise<boolean> {
    let conn: Connection | undefined;
    try {
      conn = await Connection.connect({ address: this.address, connectTimeout: 1000 });
      await conn.workflowService.describeNamespace({ namespace: 'default' });
      return true;
    } catch {
      return false;
    } finally {
      await conn?.close().catch(() => undefined);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; returns how it ended. */
  async down(graceMs = 5000): Promise<'SIGTERM' | 'SIGKILL'> {
    const child = this.child;
    if (!child || !this.running) return 'SIGTERM';
    const gone = exited(child);
    child.kill('SIGTERM');
    if (
      (await withTimeout(
        gone.then(() => true),
        graceMs,
      )) === true
    )
      return 'SIGTERM';
    child.kill('SIGKILL');
    await gone;
    return 'SIGKILL';
  }

  async close(): Promise<void> {
    await this.down(2000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ TCP proxy

/**
 * A TCP proxy in front of a database. `refuse()` makes it close every new
 * connection at once (and, by default, cut the open ones), like a database
 * that went away; `pass()` brings it back.
 */
export class TcpProxy {
  private mode: 'pass' | 'refuse' = 'pass';
  private readonly open = new Set<Socket>();
  readonly stats = { accepted: 0, refused: 0, cut: 0 };

  private readonly server: Server;
  private listenPort = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = createServer((client) => this.onConnection(client));
  }

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetHost, targetPort);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', resolve);
    });
    proxy.listenPort = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  get port(): number {
    return this.listenPort;
  }

  get refusing(): boolean {
    return this.mode === 'refuse';
  }

  private onConnection(client: Socket): void {
    client.on('error', () => undefined);
    if (this.mode === 'refuse') {
      this.stats.refused++;
      client.destroy();
      return;
    }
    this.stats.accepted++;
    const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    this.open.add(client);
    client.once('close', () => this.open.delete(client));
  }

  refuse(opts: { cutOpen?: boolean } = {}): void {
    this.mode = 'refuse';
    if (opts.cutOpen ?? true) {
      for (const s of this.open) {
        this.stats.cut++;
        s.destroy();
      }
    }
  }

  pass(): void {
    this.mode = 'pass';
  }

  async close(): Promise<void> {
    this.refuse();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
