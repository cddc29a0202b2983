import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

export const CODEC_ENCODING = 'binary/encrypted';
const KEY_ID_METADATA = 'encryption-key-id';

export interface CodecKeyring {
  activeKeyId: string;
  keys: Record<string, Buffer>;
}

/**
 * Encrypts every Temporal payload with AES-256-GCM, so that even a mistake
 * (a secret in an argument) leaks nothing into history. The key id travels in
 * the payload metadata so keys can rotate: old payloads stay decodable while
 * new ones use the active key.
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  constructor(private readonly keyring: CodecKeyring) {
    if (!keyring.keys[keyring.activeKeyId])
      throw new Error(`codec: active key id "${keyring.activeKeyId}" not in keyring`);
    for (const [id, key] of Object.entries(keyring.keys)) {
      if (key.length !== 32) throw new Error(`codec: key "${id}" must be 32 bytes, got ${key.length}`);
    }
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.keyring.activeKeyId;
    const key = this.keyring.keys[keyId]!;
    return payloads.map((payload) => ({
      metadata: {
        [METADATA_ENCODING_KEY]: Buffer.from(CODEC_ENCODING),
        [KEY_ID_METADATA]: Buffer.from(keyId),
      },
      data: encrypt(temporal.api.common.v1.Payload.encode(payload).finish(), key),
    }));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || Buffer.from(encoding).toString() !== CODEC_ENCODING) return payload;
      const keyIdBytes = payload.metadata?.[KEY_ID_METADATA];
      const keyId = keyIdBytes ? Buffer.from(keyIdBytes).toString() : '';
      const key = this.keyring.keys[keyId];
      if (!key) throw new Error(`codec: payload encrypted with unknown key id "${keyId}"`);
      if (!payload.data) throw new Error('codec: encrypted payload without data');
      return temporal.api.common.v1.Payload.decode(decrypt(payload.data, key));
    });
  }
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

function encrypt(plain: Uint8Array, key: Buffer): Uint8Array {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

function decrypt(data: Uint8Array, key: Buffer): Uint8Array {
  const buf = Buffer.from(data);
  const iv = buf.subarray(0, IV_BYTES);
  const tag = buf.subarray(buf.length - TAG_BYTES);
  const body = buf.subarray(IV_BYTES, buf.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(body), decipher.final()]);
}
