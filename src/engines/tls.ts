/**
 * Database TLS, the same for every engine and for the consumer library:
 * verified TLS by default (`verify-full` semantics: the server's certificate
 * must chain to a trusted CA AND name the host we connect to), plain only
 * when a definition says so explicitly (`tls: { mode: "disabled" }`, shown
 * as a warning in the dry-run plan and in `status`).
 *
 * Trusted CAs: the definition's `tls.caFile`, else ROTATOR_TLS_CA_FILE (the
 * worker's or application's CA bundle), else Node's default trust store.
 * The name checked is `tls.serverName` if set, else the host connected to
 * (an IP address is checked against the certificate's IP SANs).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { ConfigError } from '../errors';

export type TlsMode = 'verify-full' | 'disabled';

/** What a definition (or a consumer) says about TLS. */
export interface TlsSettings {
  mode?: TlsMode;
  /** PEM file of the CA(s) to trust for this server. */
  caFile?: string;
  /** Name the server certificate must carry, when it differs from the host. */
  serverName?: string;
}

export interface ResolvedTls {
  mode: TlsMode;
  /** PEM text of the trusted CAs; undefined: Node's default trust store. */
  ca?: string;
  serverName: string;
}

const caCache = new Map<string, string>();

function readCa(file: string, where: string): string {
  const cached = caCache.get(file);
  if (cached) return cached;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(
      `${where}: cannot read CA file ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError(`${where}: ${file} holds no PEM certificate`);
  }
  caCache.set(file, pem);
  return pem;
}

/** Settings plus defaults (environment) for a connection to `host`. */
export function resolveTls(
  settings: TlsSettings | undefined,
  host: string,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedTls {
  const mode = settings?.mode ?? 'verify-full';
  const serverName = settings?.serverName ?? host;
  if (mode === 'disabled') return { mode, serverName };
  const caFile = settings?.caFile ?? (env.ROTATOR_TLS_CA_FILE || undefined);
  const where = settings?.caFile ? 'tls.caFile' : 'ROTATOR_TLS_CA_FILE';
  return caFile ? { mode, ca: readCa(caFile, where), serverName } : { mode, serverName };
}

/** Node TLS options for `t` (undefined when TLS is disabled). */
export function nodeTlsOptions(t: ResolvedTls): ConnectionOptions | undefined {
  if (t.mode === 'disabled') return undefined;
  const name = t.serverName.replace(/^\[(.*)\]$/, '$1');
  return {
    rejectUnauthorized: true,
    ...(t.ca ? { ca: t.ca } : {}),
    // SNI takes names only; the identity check below covers IP addresses too.
    ...(isIP(name) ? {} : { servername: name }),
    // Always check against the configured name, whatever name the driver would pass.
    checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(name, cert),
  };
}

/** A warning line for plans and status, or undefined when TLS is on. */
export function tlsWarning(t: ResolvedTls): string | undefined {
  return t.mode === 'disabled'
    ? 'TLS is disabled for this credential (tls.mode = "disabled"): the admin and the new passwords cross the network unencrypted'
    : undefined;
}

/** The TLS of an engine connection: its own, else the default for its host. */
export function connectionTls(conn: { host: string; tls?: ResolvedTls }): ResolvedTls {
  return conn.tls ?? resolveTls(undefined, conn.host);
}

/** MongoDB driver options for Node TLS options (undefined: TLS off). */
export function mongoTlsOptions(o: ConnectionOptions | undefined): Record<string, unknown> {
  if (!o) return { tls: false };
  return {
    tls: true,
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.servername ? { servername: o.servername } : {}),
    checkServerIdentity: o.checkServerIdentity,
  };
}

/**
 * mysql2 options: it runs its own identity check (verifyIdentity) against
 * the host it connects to, and ignores a custom checkServerIdentity; so a
 * serverName other than the host cannot be honoured and is refused.
 */
export function mysqlTlsOptions(t: ResolvedTls, host: string): Record<string, unknown> | undefined {
  const o = nodeTlsOptions(t);
  if (!o) return undefined;
  if (t.serverName.toLowerCase() !== host.toLowerCase()) {
    throw new ConfigError(
      `MySQL/MariaDB: tls.serverName "${t.serverName}" must be the host connected to ("${host}"): the driver verifies that name`,
    );
  }
  return { rejectUnauthorized: true, verifyIdentity: true, ...(o.ca ? { ca: o.ca } : {}) };
}
