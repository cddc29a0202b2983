import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  parseScramVerifier,
  saslPrep,
  scramKeys,
  scramSha256Verifier,
  scramVerifierMatches,
} from '../../../src/engines/postgres/scram';

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

describe('SCRAM-SHA-256 verifier', () => {
  it('matches the RFC 7677 exchange (ClientProof and ServerSignature)', () => {
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    const keys = scramKeys('pencil', salt, 4096);
    const authMessage =
      'n=user,r=rOprNGfwEbeRWgbNEkqO,' +
      'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,' +
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const signature = hmac(keys.storedKey, authMessage);
    const proof = Buffer.from(keys.clientKey.map((b, i) => b ^ signature[i]!));
    expect(proof.toString('base64')).toBe('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    expect(hmac(keys.serverKey, authMessage).toString('base64')).toBe(
      '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
    );
  });

  it('reproduces verifiers PostgreSQL 15 stored for known passwords and salts', () => {
    // Taken from pg_authid.rolpassword after CREATE ROLE ... PASSWORD '<plain>' on PostgreSQL 15.
    const ascii =
      'SCRAM-SHA-256$4096:lJIrfa6wKpPT2nlQ3KCrNQ==$J0V+Hz+ta+7Jht0sYjyItWPZfdgzI//F5mDbD1N9JnY=:wM1mVeUCfb3p4e5gb5uygD2HUKZwUtSQW/efRtt0ioU=';
    const unicode =
      'SCRAM-SHA-256$4096:L/KagpOOXkWelWEJBQ50PA==$0buwH1TemWW9EXALHklThXPdvn7OEtPqLplnqdCb3NI=:cxYXN3NOXnDCTL4ukjEVyyK0FUVe7V4q4UTSHv2WSU0=';
    expect(scramSha256Verifier('pencil', { salt: parseScramVerifier(ascii)!.salt })).toBe(ascii);
    expect(scramSha256Verifier('Ünïcödé pässwörd ①', { salt: parseScramVerifier(unicode)!.salt })).toBe(
      unicode,
    );
    expect(scramVerifierMatches('pencil', ascii)).toBe(true);
    expect(scramVerifierMatches('pencil2', ascii)).toBe(false);
  });

  it('uses a fresh 16-byte salt and the PostgreSQL format', () => {
    const a = scramSha256Verifier('same password');
    const b = scramSha256Verifier('same password');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    expect(parseScramVerifier(a)!.salt).toHaveLength(16);
    expect(a).not.toContain('same password');
    expect(scramVerifierMatches('same password', a)).toBe(true);
  });

  it('SASLprep keeps ASCII as is and maps/normalises the rest', () => {
    expect(saslPrep('Ab1-._~ x')).toBe('Ab1-._~ x');
    expect(saslPrep('I\u00ADX')).toBe('IX'); // soft hyphen maps to nothing
    expect(saslPrep('a\u00A0b')).toBe('a b'); // non-ASCII space
    expect(saslPrep('\u2168')).toBe('IX'); // NFKC
    expect(saslPrep('a\u0007\u00e9')).toBe('a\u0007\u00e9'); // prohibited: raw string is used
    expect(parseScramVerifier('md5abc')).toBeUndefined();
  });
});

// Each entry of RFC 3454's tables as SASLprep (RFC 4013) uses them, at both ends of its range.
const hex = (cp: number) => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
const NON_ASCII_SPACES = [0xa0, 0x1680, 0x2000, 0x200b, 0x202f, 0x205f, 0x3000];
const MAPPED_TO_NOTHING = [
  0xad, 0x34f, 0x1806, 0x180b, 0x180d, 0x200c, 0x200d, 0x2060, 0xfe00, 0xfe0f, 0xfeff,
];
// Prohibited output that NFKC leaves as it is (U+0340/U+0341 normalise to U+0300/U+0301).
const PROHIBITED = [
  0x01, 0x1f, 0x7f, 0x9f, 0x6dd, 0x70f, 0x180e, 0x200e, 0x200f, 0x2028, 0x202e, 0x2061, 0x2063, 0x206a,
  0x206f, 0x2ff0, 0x2ffb, 0xe000, 0xf8ff, 0xfdd0, 0xfdef, 0xfff9, 0xffff, 0x1d173, 0x1d17a, 0xe0001, 0xe0020,
  0xe007f, 0xf0000, 0x10ffff,
];

describe('SASLprep tables', () => {
  it.each(NON_ASCII_SPACES.map((cp) => [hex(cp), cp]))('%s is a non-ASCII space: maps to SPACE', (_, cp) => {
    expect(saslPrep(`p\u00e9${String.fromCodePoint(cp)}w`)).toBe('p\u00e9 w');
  });

  it.each(MAPPED_TO_NOTHING.map((cp) => [hex(cp), cp]))('%s maps to nothing', (_, cp) => {
    expect(saslPrep(`p${String.fromCodePoint(cp)}w`)).toBe('pw');
  });

  it.each(PROHIBITED.map((cp) => [hex(cp), cp]))('%s is prohibited: the raw string is used', (_, cp) => {
    // The \u2168 would normalise to "IX"; a prohibited character keeps the whole input raw.
    const raw = `\u2168${String.fromCodePoint(cp)}`;
    expect(saslPrep(raw)).toBe(raw);
  });

  it('neighbours of the tables are ordinary characters and are normalised', () => {
    // Just outside a range: U+00A1 (after NBSP), U+2010 (after U+200F), U+2064 (after U+2063).
    for (const cp of [0xa1, 0x2010, 0x2064, 0x2ffc, 0xfdf0, 0x1d17b, 0xe0002])
      expect(saslPrep(`\u2168${String.fromCodePoint(cp)}`)).toBe(
        `IX${String.fromCodePoint(cp)}`.normalize('NFKC'),
      );
  });

  it('a password that maps to nothing at all is used raw', () => {
    expect(saslPrep('\u00ad\u200d')).toBe('\u00ad\u200d');
  });

  it('ligatures, full-width and compatibility forms change; the verifier uses the prepared form', () => {
    expect(saslPrep('\ufb01le')).toBe('file');
    expect(saslPrep('\uff30\uff57')).toBe('Pw');
    const salt = Buffer.alloc(16, 7);
    expect(scramSha256Verifier('\u2168\u00ad', { salt, iterations: 2 })).toBe(
      scramSha256Verifier('IX', { salt, iterations: 2 }),
    );
    expect(scramSha256Verifier('\u2168\u0007', { salt, iterations: 2 })).not.toBe(
      scramSha256Verifier('IX\u0007', { salt, iterations: 2 }),
    );
  });
});

describe('SCRAM verifier parsing and checking', () => {
  const salt = Buffer.from('0123456789abcdef');

  it('honours the iteration count and rejects counts below 1 or fractional', () => {
    const v = scramSha256Verifier('pw', { salt, iterations: 12 });
    expect(v.startsWith(`SCRAM-SHA-256$12:${salt.toString('base64')}$`)).toBe(true);
    expect(parseScramVerifier(v)!.iterations).toBe(12);
    expect(scramVerifierMatches('pw', v)).toBe(true);
    expect(v).not.toBe(scramSha256Verifier('pw', { salt, iterations: 13 }));
    expect(scramKeys('pw', salt, 1).saltedPassword).toHaveLength(32);
    // Our own check, before node:crypto's (which would reject these too, with another message).
    for (const bad of [0, -4096, 1.5])
      expect(() => scramKeys('pw', salt, bad)).toThrow(
        new RangeError('SCRAM iterations must be a positive integer'),
      );
  });

  it('defaults to 4096 iterations', () => {
    expect(scramSha256Verifier('pw', { salt })).toBe(scramSha256Verifier('pw', { salt, iterations: 4096 }));
    expect(scramKeys('pw', salt).storedKey).toEqual(scramKeys('pw', salt, 4096).storedKey);
  });

  it('parses each part and refuses anything around or inside the verifier', () => {
    const v = scramSha256Verifier('pw', { salt, iterations: 4096 });
    const [, rest] = v.split('$', 2);
    const p = parseScramVerifier(v)!;
    expect(p.salt).toEqual(salt);
    expect(p.storedKey).toEqual(scramKeys('pw', salt).storedKey);
    expect(p.serverKey).toEqual(scramKeys('pw', salt).serverKey);
    expect(rest).toBe(`4096:${salt.toString('base64')}`);
    expect(parseScramVerifier(`x${v}`)).toBeUndefined();
    expect(parseScramVerifier(`${v}!`)).toBeUndefined();
    expect(parseScramVerifier(v.replace('$4096:', '$40a6:'))).toBeUndefined();
    expect(parseScramVerifier(v.replace('$4096:', '$:'))).toBeUndefined();
    expect(parseScramVerifier(v.replace(/:([^:]+)$/, ':'))).toBeUndefined();
    expect(parseScramVerifier(v.replace(/\$([^$:]+):/, '$4096:!'))).toBeUndefined();
    expect(scramVerifierMatches('pw', 'md5abc')).toBe(false);
  });

  it('a verifier matches only if both the StoredKey and the ServerKey match', () => {
    const v = scramSha256Verifier('pw', { salt, iterations: 2 });
    const other = scramSha256Verifier('other', { salt, iterations: 2 });
    const [head, keys] = [v.slice(0, v.lastIndexOf('$')), v.slice(v.lastIndexOf('$') + 1)];
    const [stored, server] = keys.split(':');
    const [otherStored, otherServer] = other.slice(other.lastIndexOf('$') + 1).split(':');
    expect(scramVerifierMatches('pw', `${head}$${stored}:${server}`)).toBe(true);
    expect(scramVerifierMatches('pw', `${head}$${stored}:${otherServer}`)).toBe(false);
    expect(scramVerifierMatches('pw', `${head}$${otherStored}:${server}`)).toBe(false);
  });
});
