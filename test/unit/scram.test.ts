import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  parseScramVerifier,
  saslPrep,
  scramKeys,
  scramSha256Verifier,
  scramVerifierMatches,
} from '../../src/engines/scram';

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
