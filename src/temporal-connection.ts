/**
 * How the worker, the CLI and applications' heartbeat clients reach
 * Temporal: address plus TLS (server CA and server name, optional mTLS client
 * certificate) and/or an API key (Temporal Cloud). From the config file
 * (`temporal.tls`, `temporal.apiKey`) or the environment, with the same
 * variable names as the Temporal CLI:
 *
 *   TEMPORAL_ADDRESS  TEMPORAL_NAMESPACE  TEMPORAL_API_KEY
 *   TEMPORAL_TLS=true  TEMPORAL_TLS_SERVER_CA_CERT_PATH  TEMPORAL_TLS_SERVER_NAME
 *   TEMPORAL_TLS_CLIENT_CERT_PATH  TEMPORAL_TLS_CLIENT_KEY_PATH
 *
 * TLS is on when any TLS setting or an API key is given; the server's
 * certificate is always verified (system CAs, or the CA file).
 */
import { readFileSync } from 'node:fs';
import { Connection, type ConnectionOptions, type TLSConfig } from '@temporalio/client';
import { ConfigError } from './errors';

export interface TemporalTlsSettings {
  enabled?: boolean;
  caFile?: string;
  serverName?: string;
  clientCertFile?: string;
  clientKeyFile?: string;
}

export interface TemporalSettings {
  address: string;
  tls?: TemporalTlsSettings;
  apiKey?: string;
}

function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(
      `temporal.tls.${what}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

/** The SDK's TLS option (undefined: plain, only when nothing asks for TLS). */
export function temporalTls(s: TemporalSettings): TLSConfig | undefined {
  const t = s.tls ?? {};
  const wanted =
    t.enabled === true || !!(t.caFile || t.serverName || t.clientCertFile || t.clientKeyFile || s.apiKey);
  if (!wanted || t.enabled === false) {
    if (s.apiKey && t.enabled === false)
      throw new ConfigError('temporal: an API key needs TLS (temporal.tls.enabled is false)');
    return undefined;
  }
  if (!!t.clientCertFile !== !!t.clientKeyFile) {
    throw new ConfigError('temporal.tls: clientCertFile and clientKeyFile go together (mTLS)');
  }
  const cfg: TLSConfig = {};
  if (t.caFile) cfg.serverRootCACertificate = read(t.caFile, 'caFile');
  if (t.serverName) cfg.serverNameOverride = t.serverName;
  if (t.clientCertFile && t.clientKeyFile) {
    cfg.clientCertPair = {
      crt: read(t.clientCertFile, 'clientCertFile'),
      key: read(t.clientKeyFile, 'clientKeyFile'),
    };
  }
  return cfg;
}

/** Connection options for @temporalio/client and @temporalio/worker (NativeConnection). */
export function temporalConnectionOptions(s: TemporalSettings): {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
} {
  const tls = temporalTls(s);
  return { address: s.address, ...(tls ? { tls } : {}), ...(s.apiKey ? { apiKey: s.apiKey } : {}) };
}

/** Temporal settings from the environment alone (for applications' heartbeat clients). */
export function temporalSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const tls: TemporalTlsSettings = {};
  if (env.TEMPORAL_TLS) tls.enabled = /^(1|true|yes)$/i.test(env.TEMPORAL_TLS);
  if (env.TEMPORAL_TLS_SERVER_CA_CERT_PATH) tls.caFile = env.TEMPORAL_TLS_SERVER_CA_CERT_PATH;
  if (env.TEMPORAL_TLS_SERVER_NAME) tls.serverName = env.TEMPORAL_TLS_SERVER_NAME;
  if (env.TEMPORAL_TLS_CLIENT_CERT_PATH) tls.clientCertFile = env.TEMPORAL_TLS_CLIENT_CERT_PATH;
  if (env.TEMPORAL_TLS_CLIENT_KEY_PATH) tls.clientKeyFile = env.TEMPORAL_TLS_CLIENT_KEY_PATH;
  return {
    address: env.TEMPORAL_ADDRESS || '127.0.0.1:7233',
    tls,
    ...(env.TEMPORAL_API_KEY ? { apiKey: env.TEMPORAL_API_KEY } : {}),
  };
}

/** A client connection (CLI, applications' heartbeats) with TLS/API key as configured. */
export function connectTemporal(
  s: TemporalSettings,
  extra: Partial<ConnectionOptions> = {},
): Promise<Connection> {
  return Connection.connect({ ...extra, ...temporalConnectionOptions(s) });
}
