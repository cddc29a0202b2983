import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';
import { exited, freePort, sleep, track, withTimeout } from './processes';
import { services } from './services';

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
