import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { ConfigError } from '../errors';

/**
 * AES-256-GCM envelope for secrets at rest.
 *
 * Ciphertext format (one ASCII string, safe in JSON and in a text column):
 *
 *     enc1:<keyId>:<iv>:<tag>:<ciphertext>
 *
 * iv (12 random bytes), tag (16 bytes) and ciphertext are base64url without
 * padding. The key id says which key of the keyring sealed it, so keys can be
 * rotated: new writes use the active key, old ciphertexts still open with
 * their key as long as it stays in the keyring.
 *
 * The associated data binds a ciphertext to the credential id and version it
 * belongs to (and to the key id and format), so a ciphertext copied to
 * another version or credential fails to decrypt instead of silently handing
 * out the wrong password.
 */

export interface Keyring {
  activeKeyId: string;
  keys: Record<string, Buffer>;
}

/** What a secret belongs to; bound into the GCM associated data. */
export interface SecretContext {
  credentialId: string;
  version: number;
}

const FORMAT = 'enc1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const MAC_FORMAT = 'mac1';
const MAC_INFO = Buffer.from('db-rotator store record authentication v1', 'utf8');
const KEY_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/**
 * A secret could not be decrypted: unknown key id, wrong key, or a tampered /
 * swapped ciphertext. Not retryable; `code` stays "ConfigError" so the
 * activity layer classifies it as permanent (a keyring problem in practice).
 */
export class SecretDecryptError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'SecretDecryptError';
  }
}

function describe(ctx: SecretContext): string {
  return `secret of credential "${ctx.credentialId}" version ${ctx.version}`;
}

function aad(keyId: string, ctx: SecretContext): Buffer {
  // JSON of an array: unambiguous, whatever characters the id holds.
  return Buffer.from(JSON.stringify([FORMAT, keyId, ctx.credentialId, ctx.version]), 'utf8');
}

export class SecretCipher {
  readonly activeKeyId: string;
  private readonly keys: Map<string, Buffer>;

  constructor(keyring: Keyring) {
    const entries = Object.entries(keyring.keys ?? {});
    if (entries.length === 0) throw new ConfigError('keyring: no keys');
    this.keys = new Map();
    for (const [kid, key] of entries) {
      if (!KEY_ID_RE.test(kid)) {
        throw new ConfigError(
          `keyring: key id "${kid.slice(0, 64)}" must be 1-64 letters, digits, "_" or "-"`,
        );
      }
      if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
        const len = Buffer.isBuffer(key) ? `${key.length} bytes` : 'not a Buffer';
        throw new ConfigError(`keyring: key "${kid}" must be ${KEY_BYTES} bytes (got ${len})`);
      }
      this.keys.set(kid, Buffer.from(key)); // private copy
    }
    if (!this.keys.has(keyring.activeKeyId)) {
      throw new ConfigError(
        `keyring: active key id "${String(keyring.activeKeyId).slice(0, 64)}" is not one of: ${[...this.keys.keys()].join(', ')}`,
      );
    }
    this.activeKeyId = keyring.activeKeyId;
  }

  /** Key ids this cipher can decrypt with. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  encrypt(plaintext: string, ctx: SecretContext): string {
    const key = this.keys.get(this.activeKeyId)!;
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    c.setAAD(aad(this.activeKeyId, ctx));
    const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
    const tag = c.getAuthTag();
    return [
      FORMAT,
      this.activeKeyId,
      iv.toString('base64url'),
      tag.toString('base64url'),
      ct.toString('base64url'),
    ].join(':');
  }

  decrypt(ciphertext: string, ctx: SecretContext): string {
    const { keyId, iv, tag, ct } = parseCiphertext(ciphertext, ctx);
    const key = this.keys.get(keyId);
    if (!key) {
      throw new SecretDecryptError(
        `cannot decrypt ${describe(ctx)}: it was encrypted with key id "${keyId}", which is not in the keyring (known: ${this.keyIds.join(', ')})`,
      );
    }
    try {
      const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      d.setAAD(aad(keyId, ctx));
      d.setAuthTag(tag);
      return Buffer.concat([d.update(ct), d.final()]).toString('utf8');
    } catch {
      throw new SecretDecryptError(
        `cannot decrypt ${describe(ctx)} with key id "${keyId}": authentication failed (wrong key for that id, or the ciphertext was altered or belongs to another credential/version)`,
      );
    }
  }

  private readonly macKeys = new Map<string, Buffer>();

  /** HMAC key for record authentication: HKDF-SHA256 of a store key (never the key itself). */
  private macKey(kid: string): Buffer | undefined {
    const cached = this.macKeys.get(kid);
    if (cached) return cached;
    const key = this.keys.get(kid);
    if (!key) return undefined;
    const derived = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), MAC_INFO, 32));
    this.macKeys.set(kid, derived);
    return derived;
  }

  /**
   * Authentication tag of `data` (a canonical serialization of a record) with
   * the active key: `mac1:<keyId>:<base64url HMAC-SHA256>`. Only a holder of
   * the store keyring can make one.
   */
  sign(data: string): string {
    const mac = createHmac('sha256', this.macKey(this.activeKeyId)!).update(data, 'utf8').digest();
    return `${MAC_FORMAT}:${this.activeKeyId}:${mac.toString('base64url')}`;
  }

  /**
   * "ok", "unknown-key" (signed with a key not in the keyring) or "bad"
   * (malformed, or the record was changed after signing).
   */
  verify(data: string, tag: string): 'ok' | 'unknown-key' | 'bad' {
    const parts = typeof tag === 'string' ? tag.split(':') : [];
    if (parts.length !== 3 || parts[0] !== MAC_FORMAT || !KEY_ID_RE.test(parts[1]!)) return 'bad';
    const key = this.macKey(parts[1]!);
    if (!key) return 'unknown-key';
    const want = createHmac('sha256', key).update(data, 'utf8').digest();
    const got = Buffer.from(parts[2]!, 'base64url');
    return got.length === want.length && timingSafeEqual(got, want) ? 'ok' : 'bad';
  }

  /** Key id a tag was made with, or undefined if it is not a tag. */
  keyIdOfTag(tag: string): string | undefined {
    const parts = typeof tag === 'string' ? tag.split(':') : [];
    return parts.length === 3 && parts[0] === MAC_FORMAT ? parts[1] : undefined;
  }

  /** Key id a ciphertext was sealed with (no decryption). */
  keyIdOf(ciphertext: string): string {
    return parseCiphertext(ciphertext, undefined).keyId;
  }

  /** True if the ciphertext was sealed with a key other than the active one. */
  needsReencrypt(ciphertext: string): boolean {
    return this.keyIdOf(ciphertext) !== this.activeKeyId;
  }
}

function parseCiphertext(
  ciphertext: string,
  ctx: SecretContext | undefined,
): { keyId: string; iv: Buffer; tag: Buffer; ct: Buffer } {
  const what = ctx ? describe(ctx) : 'secret';
  const parts = typeof ciphertext === 'string' ? ciphertext.split(':') : [];
  if (parts.length !== 5 || parts[0] !== FORMAT) {
    throw new SecretDecryptError(`cannot decrypt ${what}: not an ${FORMAT} ciphertext`);
  }
  const [, keyId, ivS, tagS, ctS] = parts as [string, string, string, string, string];
  if (!KEY_ID_RE.test(keyId) || ![ivS, tagS, ctS].every((p) => B64URL_RE.test(p))) {
    throw new SecretDecryptError(`cannot decrypt ${what}: malformed ciphertext`);
  }
  const iv = Buffer.from(ivS, 'base64url');
  const tag = Buffer.from(tagS, 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
    throw new SecretDecryptError(`cannot decrypt ${what}: malformed ciphertext (iv/tag length)`);
  }
  return { keyId, iv, tag, ct: Buffer.from(ctS, 'base64url') };
}

function decodeKey(text: string): Buffer | undefined {
  // Standard base64 or base64url, padded or not; padding, if any, must be complete.
  const body = text.replace(/={1,2}$/, '');
  if (body.length !== text.length && text.length % 4 !== 0) return undefined;
  if (body.length % 4 === 1) return undefined;
  if (/^[A-Za-z0-9+/]*$/.test(body)) return Buffer.from(body, 'base64');
  if (/^[A-Za-z0-9_-]*$/.test(body)) return Buffer.from(body, 'base64url');
  return undefined;
}

/**
 * Parses a keyring spec `"kid1:base64key,kid2:base64key"` (standard base64 or
 * base64url, 32-byte keys). The active key is `activeKeyId` if given, else
 * the first one. Errors name the entry (by key id or position) and the
 * problem; they never contain key material.
 */
export function parseKeyring(spec: string, activeKeyId?: string): Keyring {
  if (typeof spec !== 'string' || spec.trim() === '') {
    throw new ConfigError('keyring: empty spec (expected "keyId:base64key[,keyId:base64key...]")');
  }
  const keys: Record<string, Buffer> = {};
  let first: string | undefined;
  const entries = spec.split(',');
  entries.forEach((raw, i) => {
    const entry = raw.trim();
    const where = `keyring entry ${i + 1}`;
    if (entry === '') throw new ConfigError(`${where}: empty (stray ",")`);
    const colon = entry.indexOf(':');
    if (colon < 0) throw new ConfigError(`${where}: expected "keyId:base64key" (no ":" found)`);
    const kid = entry.slice(0, colon).trim();
    const b64 = entry.slice(colon + 1).trim();
    if (!KEY_ID_RE.test(kid)) {
      throw new ConfigError(`${where}: key id must be 1-64 letters, digits, "_" or "-"`);
    }
    if (Object.prototype.hasOwnProperty.call(keys, kid))
      throw new ConfigError(`keyring: duplicate key id "${kid}"`);
    if (b64 === '') throw new ConfigError(`keyring key "${kid}": key is empty`);
    const key = decodeKey(b64);
    if (!key) throw new ConfigError(`keyring key "${kid}": not valid base64`);
    if (key.length !== KEY_BYTES) {
      throw new ConfigError(
        `keyring key "${kid}": decodes to ${key.length} bytes, expected ${KEY_BYTES} (AES-256)`,
      );
    }
    keys[kid] = key;
    first ??= kid;
  });
  const active = activeKeyId ?? first!;
  if (!Object.prototype.hasOwnProperty.call(keys, active)) {
    throw new ConfigError(
      `keyring: active key id "${active.slice(0, 64)}" is not one of: ${Object.keys(keys).join(', ')}`,
    );
  }
  return { activeKeyId: active, keys };
}

/** A fresh random 32-byte key, base64 (for `keyId:<this>` in a keyring spec). */
export function generateKeyBase64(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}
