import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { credentialFromJson } from './file-layouts';
import { SourceBase, errorMessage, type SourceBaseOptions } from './source-base';
import type { ConsumerCredential } from './types';

export const DEFAULT_AWS_TTL_MS = 60_000;

export interface AwsSecretsManagerSourceOptions extends SourceBaseOptions {
  /** Secret name or ARN (the rotator's aws-secrets-manager target). */
  secretId: string;
  /** Region/endpoint; default the SDK's standard chain (AWS_REGION, AWS_ENDPOINT_URL_SECRETS_MANAGER...). */
  region?: string;
  endpoint?: string;
  /** A client of your own (credentials, retries); the source does not destroy it. */
  client?: SecretsManagerClient;
  /**
   * How long a read is trusted (default 60 s): AWSCURRENT is re-read after
   * it, at a random phase per instance. Far below the rotation's grace.
   * An authentication failure re-reads at once (the rotating clients call
   * refresh('auth-failure')), bounded by minReadIntervalMs (default 1 s).
   */
  ttlMs?: number;
  random?: () => number;
}

/**
 * Reads AWSCURRENT of a secret in AWS's database-secret shape
 * ({engine, host, port, username, password, dbname, rotatorVersion}), always
 * with an explicit VersionStage. The version reported to heartbeats is
 * `rotatorVersion`. The AWS SDK is loaded on first use, so applications that
 * do not use this source need not install it.
 */
export class AwsSecretsManagerSource extends SourceBase {
  readonly ttlMs: number;
  private timer?: NodeJS.Timeout;
  private client?: SecretsManagerClient;
  private ownClient = false;

  constructor(private readonly opts: AwsSecretsManagerSourceOptions) {
    super(opts, { minReadIntervalMs: 1_000 });
    this.ttlMs = opts.ttlMs ?? DEFAULT_AWS_TTL_MS;
    if (!(this.ttlMs > 0))
      throw new Error(`AwsSecretsManagerSource: ttlMs must be positive, got ${this.ttlMs}`);
    this.schedule(Math.floor((opts.random ?? Math.random)() * this.ttlMs));
  }

  protected async read(): Promise<ConsumerCredential> {
    const sdk = await import('@aws-sdk/client-secrets-manager');
    if (!this.client) {
      this.client =
        this.opts.client ??
        new sdk.SecretsManagerClient({ region: this.opts.region, endpoint: this.opts.endpoint });
      this.ownClient = !this.opts.client;
    }
    const out = await this.client.send(
      new sdk.GetSecretValueCommand({ SecretId: this.opts.secretId, VersionStage: 'AWSCURRENT' }),
    );
    let parsed: unknown;
    try {
      parsed = JSON.parse(out.SecretString ?? '');
    } catch {
      throw new Error(`aws source: ${this.opts.secretId} AWSCURRENT is not JSON`);
    }
    return credentialFromJson(parsed);
  }

  override async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await super.close();
    if (this.ownClient) this.client?.destroy();
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.refresh('ttl')
        .catch((err: unknown) => this.logger.warn({ err: errorMessage(err) }, 'aws source: read failed'))
        .finally(() => this.schedule(this.ttlMs));
    }, delayMs);
    this.timer.unref();
  }
}
