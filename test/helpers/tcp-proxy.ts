import { createConnection, createServer, type Server, type Socket } from 'node:net';

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
