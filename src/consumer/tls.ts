import type { ConnectionOptions } from 'node:tls';
import { nodeTlsOptions, resolveTls, type TlsSettings } from '../engines/tls';

/**
 * Node TLS options for a rotating client's connections to `host`
 * (undefined: plain text, only when the application said so). Same rules as
 * the rotator's own connections (engines/tls.ts): verify-full by default.
 */
export function consumerTls(
  setting: TlsSettings | false | undefined,
  host: string,
): ConnectionOptions | undefined {
  if (setting === false) return undefined;
  return nodeTlsOptions(resolveTls(setting, host));
}
