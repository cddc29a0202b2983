import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { VersionedClient } from './heartbeat';
import { errorMessage } from './source-base';
import { silentLogger, type ConsumerLogger } from './types';

export interface GatewayHeartbeatOptions {
  /** The worker's heartbeat gateway, e.g. `http://rotator-worker:8787/v1/heartbeat`. */
  url: string;
  /** This credential's heartbeat token (delivered like the credential; `db-rotator targets heartbeat-token`). */
  token: string;
  credentialId: string;
  consumerId?: string;
  /** Periodic report (default 60 s); a version change is reported at once. */
  periodMs?: number;
  logger?: ConsumerLogger;
}

/**
 * Reports the version in use to the rotation through the worker's heartbeat
 * gateway: no Temporal client, no codec keys, no store keyring — a token
 * that only lets it report for its own credential. Never throws into the
 * application.
 */
export class GatewayHeartbeatReporter {
  readonly consumerId: string;
  readonly stats = { sent: 0, noRotation: 0, errors: 0 };
  private version?: number;
  private timer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  private detach?: () => void;
  private readonly logger: ConsumerLogger;

  constructor(private readonly opts: GatewayHeartbeatOptions) {
    this.consumerId = opts.consumerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.logger = opts.logger ?? silentLogger;
  }

  attach(client: VersionedClient): this {
    this.detach?.();
    this.detach = client.onSwap((e) => this.setVersion(e.version));
    this.setVersion(client.version);
    if (!this.timer) {
      this.timer = setInterval(() => this.enqueue(), this.opts.periodMs ?? 60_000);
      this.timer.unref();
    }
    return this;
  }

  setVersion(version: number): void {
    if (this.version === version) return;
    this.version = version;
    this.enqueue();
  }

  flush(): Promise<void> {
    return this.chain;
  }

  async stop(): Promise<void> {
    this.detach?.();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.chain;
  }

  private enqueue(): void {
    this.chain = this.chain
      .then(() => this.send())
      .catch((err: unknown) => {
        this.stats.errors++;
        this.logger.warn(
          { consumerId: this.consumerId, err: errorMessage(err) },
          'heartbeat gateway: report failed',
        );
      });
  }

  private async send(): Promise<void> {
    if (this.version === undefined) return;
    const res = await fetch(this.opts.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.opts.token}` },
      body: JSON.stringify({
        credentialId: this.opts.credentialId,
        consumerId: this.consumerId,
        version: this.version,
      }),
      signal: AbortSignal.timeout(5_000),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status === 204) this.stats.sent++;
    else if (res.status === 404) this.stats.noRotation++;
    else throw new Error(`heartbeat gateway answered HTTP ${res.status}`);
  }
}
