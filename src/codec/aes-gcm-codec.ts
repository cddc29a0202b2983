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

export interface CodecOptions {
  /**
   * Accept payloads that are not encrypted (default false). Off, a plaintext
   * payload — e.g. `temporal workflow start --input …` without
   * `--codec-endpoint` — is refused with an error saying so; with the codec
   * server's /encode (CLI `--codec-endpoint`, Web UI codec setting) inputs,
   * signals and updates arrive encrypted and work.
   */
  allowPlaintext?: boolean;
}

/** A payload the codec refuses (plaintext, unknown key, altered or truncated ciphertext). */
export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

/**
 * Encrypts every Temporal payload with AES-256-GCM (12-byte random IV,
 * 16-byte tag, pinned), so that even a mistake (a secret in an argument)
 * leaks nothing into history. The key id travels in the payload metadata so
 * keys can rotate: old payloads stay decodable while new ones use the active
 * key. Keys are held in a Map (no prototype lookups by a key id from a
 * payload).
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly keys = new Map<string, Buffer>();
  private readonly activeKeyId: string;
  private readonly allowPlaintext: boolean;

  constructor(keyring: CodecKeyring, opts: CodecOptions = {}) {
    for (const [id, key] of Object.entries(keyring.keys)) {
      if (!Buffer.isBuffer(key) || key.length !== 32) {
        throw new Error(
          `codec: key "${id}" must be 32 bytes, got ${Buffer.isBuffer(key) ? key.length : typeof key}`,
        );
      }
      this.keys.set(id, Buffer.from(key));
    }
    if (!this.keys.has(keyring.activeKeyId))
      throw new Error(`codec: active key id "${keyring.activeKeyId}" not in keyring`);
    this.activeKeyId = keyring.activeKeyId;
    this.allowPlaintext = opts.allowPlaintext ?? false;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.activeKeyId;
    const key = this.keys.get(keyId)!;
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
      if (!encoding || Buffer.from(encoding).toString() !== CODEC_ENCODING) {
        if (this.allowPlaintext) return payload;
        const what = encoding ? `encoding "${Buffer.from(encoding).toString().slice(0, 40)}"` : 'no encoding';
        throw new CodecError(
          `codec: refusing an unencrypted payload (${what}); send it through the codec (our CLI/client, or the Temporal CLI with --codec-endpoint and --codec-auth, or the Web UI's codec server setting)`,
        );
      }
      const keyIdBytes = payload.metadata?.[KEY_ID_METADATA];
      const keyId = keyIdBytes ? Buffer.from(keyIdBytes).toString() : '';
      const key = this.keys.get(keyId);
      if (!key) throw new CodecError(`codec: payload encrypted with unknown key id "${keyId.slice(0, 64)}"`);
      if (!payload.data) throw new CodecError('codec: encrypted payload without data');
      return temporal.api.common.v1.Payload.decode(decrypt(payload.data, key));
    });
  }
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

function encrypt(plain: Uint8Array, key: Buffer): Uint8Array {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

function decrypt(data: Uint8Array, key: Buffer): Uint8Array {
  const buf = Buffer.from(data);
  if (buf.length < IV_BYTES + TAG_BYTES) {
    throw new CodecError(
      `codec: encrypted payload too short (${buf.length} bytes; at least ${IV_BYTES + TAG_BYTES})`,
    );
  }
  const iv = buf.subarray(0, IV_BYTES);
  const tag = buf.subarray(buf.length - TAG_BYTES);
  const body = buf.subarray(IV_BYTES, buf.length - TAG_BYTES);
  // The tag length is pinned: a shorter tag would be accepted by GCM otherwise.
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new CodecError('codec: payload authentication failed (wrong key or altered ciphertext)');
  }
}
