import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors';
import { SecretCipher, SecretDecryptError, generateKeyBase64, parseKeyring } from '../../src/store/crypto';

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const ctx = { credentialId: 'orders-pg/app', version: 3 };

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

describe('SecretCipher', () => {
  const cipher = new SecretCipher({ activeKeyId: 'k1', keys: { k1 } });

  it('round-trips and uses a fresh IV every time', () => {
    const a = cipher.encrypt('s3cr3t-pässword', ctx);
    const b = cipher.encrypt('s3cr3t-pässword', ctx);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^enc1:k1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]+$/);
    expect(a).not.toContain('s3cr3t');
    expect(cipher.decrypt(a, ctx)).toBe('s3cr3t-pässword');
    expect(cipher.decrypt(b, ctx)).toBe('s3cr3t-pässword');
    expect(cipher.keyIdOf(a)).toBe('k1');
  });

  it('binds the ciphertext to credential id and version', () => {
    const ct = cipher.encrypt('pw', ctx);
    for (const other of [
      { ...ctx, version: 4 },
      { ...ctx, credentialId: 'orders-pg/other' },
    ]) {
      const e = thrown(() => cipher.decrypt(ct, other));
      expect(e).toBeInstanceOf(SecretDecryptError);
      expect(e).toBeInstanceOf(ConfigError);
      expect(e.message).toMatch(/authentication failed/);
      expect(e.message).toContain(`version ${other.version}`);
    }
  });

  it('detects tampering', () => {
    const ct = cipher.encrypt('pw', ctx);
    const parts = ct.split(':');
    const body = Buffer.from(parts[4]!, 'base64url');
    body[0] = body[0]! ^ 1;
    parts[4] = body.toString('base64url');
    expect(() => cipher.decrypt(parts.join(':'), ctx)).toThrow(/authentication failed/);
    expect(() => cipher.decrypt('garbage', ctx)).toThrow(/not an enc1 ciphertext/);
    expect(() => cipher.decrypt('enc1:k1:AAAA:BBBB:CCCC', ctx)).toThrow(/malformed/);
  });

  it('supports key rotation: old key ids still decrypt, new writes use the active key', () => {
    const old = cipher.encrypt('old-pw', ctx);
    const rotated = new SecretCipher({ activeKeyId: 'k2', keys: { k1, k2 } });
    expect(rotated.decrypt(old, ctx)).toBe('old-pw');
    expect(rotated.needsReencrypt(old)).toBe(true);
    const fresh = rotated.encrypt('new-pw', ctx);
    expect(rotated.keyIdOf(fresh)).toBe('k2');
    expect(rotated.needsReencrypt(fresh)).toBe(false);
    // a keyring without k2 cannot read it, and says which key is missing
    const e = thrown(() => cipher.decrypt(fresh, ctx));
    expect(e).toBeInstanceOf(SecretDecryptError);
    expect(e.message).toMatch(/key id "k2", which is not in the keyring \(known: k1\)/);
  });

  it('fails clearly with the wrong key under the same id', () => {
    const ct = cipher.encrypt('pw', ctx);
    const wrong = new SecretCipher({ activeKeyId: 'k1', keys: { k1: k2 } });
    expect(() => wrong.decrypt(ct, ctx)).toThrow(
      /cannot decrypt secret of credential "orders-pg\/app" version 3 with key id "k1": authentication failed/,
    );
  });

  it('validates the keyring', () => {
    expect(() => new SecretCipher({ activeKeyId: 'k1', keys: {} })).toThrow(/no keys/);
    expect(() => new SecretCipher({ activeKeyId: 'k1', keys: { k1: Buffer.alloc(16) } })).toThrow(
      /key "k1" must be 32 bytes \(got 16 bytes\)/,
    );
    expect(() => new SecretCipher({ activeKeyId: 'nope', keys: { k1 } })).toThrow(
      /active key id "nope" is not one of: k1/,
    );
    expect(() => new SecretCipher({ activeKeyId: 'a:b', keys: { 'a:b': k1 } })).toThrow(/key id/);
  });

  it('keeps a private copy of the keys', () => {
    const key = Buffer.from(k1);
    const c = new SecretCipher({ activeKeyId: 'k', keys: { k: key } });
    const ct = c.encrypt('pw', ctx);
    key.fill(0);
    expect(c.decrypt(ct, ctx)).toBe('pw');
  });
});

describe('parseKeyring', () => {
  const b1 = k1.toString('base64');
  const b2 = k2.toString('base64');

  it('parses entries; the first is active unless one is named', () => {
    const r = parseKeyring(`one:${b1}, two:${b2}`);
    expect(r.activeKeyId).toBe('one');
    expect(r.keys.one!.equals(k1)).toBe(true);
    expect(r.keys.two!.equals(k2)).toBe(true);
    expect(parseKeyring(`one:${b1},two:${b2}`, 'two').activeKeyId).toBe('two');
  });

  it('accepts base64url and unpadded keys', () => {
    expect(parseKeyring(`a:${k1.toString('base64url')}`).keys.a!.equals(k1)).toBe(true);
    expect(parseKeyring(`a:${b1.replace(/=+$/, '')}`).keys.a!.equals(k1)).toBe(true);
    expect(parseKeyring(`a:${generateKeyBase64()}`).keys.a).toHaveLength(32);
  });

  it('names the problem and never echoes key material', () => {
    const short = randomBytes(16).toString('base64');
    const cases: Array<[string, RegExp, string?]> = [
      ['', /empty spec/],
      [`k1:${b1},`, /entry 2: empty/],
      [b1, /entry 1: expected "keyId:base64key"/, b1],
      [`k1:${b1.slice(0, 20)}!!${b1.slice(22)}`, /key "k1": not valid base64/, b1.slice(0, 20)],
      [`k1:${short}`, /key "k1": decodes to 16 bytes, expected 32/, short],
      [`k1:${b1},k1:${b2}`, /duplicate key id "k1"/, b2],
      [`bad id:${b1}`, /entry 1: key id must be/, b1],
      [`k1:`, /key "k1": key is empty/],
    ];
    for (const [spec, re, material] of cases) {
      const e = thrown(() => parseKeyring(spec));
      expect(e).toBeInstanceOf(ConfigError);
      expect(e.message).toMatch(re);
      if (material) expect(e.message).not.toContain(material);
    }
    const e = thrown(() => parseKeyring(`k1:${b1}`, 'k9'));
    expect(e.message).toMatch(/active key id "k9" is not one of: k1/);
    expect(e.message).not.toContain(b1);
  });

  it('builds a working cipher', () => {
    const c = new SecretCipher(parseKeyring(`k1:${b1}`));
    expect(c.decrypt(c.encrypt('x', ctx), ctx)).toBe('x');
  });
});
