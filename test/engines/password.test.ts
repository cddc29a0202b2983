import { describe, expect, it } from 'vitest';
import {
  generatePassword,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  URI_SAFE_ALPHABET,
} from '../../src/engines/password';

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

  it('accepts exactly the length bounds and a two-character alphabet; says what is wrong', () => {
    expect([MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH]).toEqual([16, 1024]);
    expect(generatePassword(16)).toHaveLength(16);
    expect(generatePassword(1024)).toHaveLength(1024);
    expect(() => generatePassword(15)).toThrow('password length must be an integer in [16, 1024]');
    expect(() => generatePassword(1025)).toThrow('password length must be an integer in [16, 1024]');
    expect(generatePassword(16, 'ab')).toMatch(/^(?=.*a)(?=.*b)[ab]{16}$/);
    expect(() => generatePassword(16, 'b')).toThrow(
      'password alphabet must hold at least two distinct characters, each once',
    );
  });

  it('every class present in the alphabet appears, even when it is one character among many', () => {
    // One member of a class among 25 others: a draw of 16 lacks it about half the time.
    const rare: [string, RegExp][] = [
      ['Abcdefghijklmnopqrstuvwxyz', /A/],
      ['aBCDEFGHIJKLMNOPQRSTUVWXYZ', /a/],
      ['0abcdefghijklmnopqrstuvwxy', /0/],
      ['-abcdefghijklmnopqrstuvwxy', /-/],
    ];
    for (const [alphabet, member] of rare) {
      for (let i = 0; i < 40; i++) expect(generatePassword(16, alphabet)).toMatch(member);
    }
  });
});
