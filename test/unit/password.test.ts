import { describe, expect, it } from 'vitest';
import { generatePassword, URI_SAFE_ALPHABET } from '../../src/engines/password';

describe('generatePassword', () => {
  it('defaults to 32 URI-safe characters with every class present', () => {
    for (let i = 0; i < 200; i++) {
      const p = generatePassword();
      expect(p).toHaveLength(32);
      expect(p).toMatch(/^[A-Za-z0-9\-._~]+$/);
      expect(p).toMatch(/[A-Z]/);
      expect(p).toMatch(/[a-z]/);
      expect(p).toMatch(/[0-9]/);
      expect(p).toMatch(/[-._~]/);
      expect(encodeURIComponent(p)).toBe(p);
    }
  });

  it('exports the RFC 3986 unreserved alphabet', () => {
    expect([...URI_SAFE_ALPHABET].sort().join('')).toBe(
      [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~'].sort().join(''),
    );
  });

  it('is unique over 1000 draws and uses the whole alphabet', () => {
    const seen = new Set<string>();
    const used = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const p = generatePassword();
      seen.add(p);
      for (const ch of p) used.add(ch);
    }
    expect(seen.size).toBe(1000);
    expect(used.size).toBe(URI_SAFE_ALPHABET.length);
  });

  it('honours length and a custom alphabet, and rejects bad arguments', () => {
    const p = generatePassword(64, 'abcXYZ019');
    expect(p).toHaveLength(64);
    expect(p).toMatch(/^[abcXYZ019]+$/);
    expect(p).toMatch(/[abc]/);
    expect(p).toMatch(/[XYZ]/);
    expect(p).toMatch(/[019]/);
    expect(() => generatePassword(8)).toThrow(RangeError);
    expect(() => generatePassword(32.5)).toThrow(RangeError);
    expect(() => generatePassword(32, 'a')).toThrow(RangeError);
    expect(() => generatePassword(32, 'aab')).toThrow(RangeError);
  });
});
