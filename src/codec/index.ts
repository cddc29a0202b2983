import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DataConverter } from '@temporalio/common';
import { AesGcmPayloadCodec, type CodecKeyring } from './aes-gcm-codec';

export { AesGcmPayloadCodec, type CodecKeyring } from './aes-gcm-codec';

/**
 * Path of the failure converter module. Loaded by path so the workflow
 * sandbox (bundle) and the main thread use the same one.
 */
export const failureConverterPath = siblingModule('failure-converter');

/** Compiled (.js) or source (.ts, under tsx/vitest) path of a module next to this one. */
function siblingModule(name: string): string {
  const js = join(__dirname, `${name}.js`);
  return existsSync(js) ? js : join(__dirname, `${name}.ts`);
}

/** Data converter for clients and workers: encrypted payloads and encoded failure details. */
export function encryptedDataConverter(keyring: CodecKeyring): DataConverter {
  return { payloadCodecs: [new AesGcmPayloadCodec(keyring)], failureConverterPath };
}
