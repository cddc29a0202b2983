import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/**
 * PostgreSQL SCRAM-SHA-256 verifiers computed client-side, so a password is
 * sent to the server only as `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`
 * (what PostgreSQL itself stores in pg_authid.rolpassword). The server
 * recognises a pre-hashed verifier in CREATE/ALTER ROLE ... PASSWORD and stores
 * it as is; statement logs and pg_stat_statements never see the password.
 */

/** PostgreSQL's default (scram_iterations, PG 16+; fixed before). */
export const SCRAM_DEFAULT_ITERATIONS = 4096;
/** PostgreSQL's SCRAM_DEFAULT_SALT_LEN. */
export const SCRAM_SALT_BYTES = 16;

export interface ScramKeys {
  saltedPassword: Buffer;
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

export interface ScramVerifierOptions {
  salt?: Buffer;
  iterations?: number;
}

type CodeRange = readonly [number, number];

// RFC 3454 tables used by SASLprep (RFC 4013), as code point ranges.
const NON_ASCII_SPACE: CodeRange[] = [
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200b],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];
const MAPPED_TO_NOTHING: CodeRange[] = [
  [0xad, 0xad],
  [0x34f, 0x34f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200b, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
];
// Prohibited output (RFC 4013 2.3), approximated: controls, private use,
// surrogates, non-characters, tagging and display-changing characters.
const PROHIBITED: CodeRange[] = [
  [0x00, 0x1f],
  [0x7f, 0x9f],
  [0x340, 0x341],
  [0x6dd, 0x6dd],
  [0x70f, 0x70f],
  [0x180e, 0x180e],
  [0x200e, 0x200f],
  [0x2028, 0x202e],
  [0x2060, 0x2063],
  [0x206a, 0x206f],
  [0x2ff0, 0x2ffb],
  [0xd800, 0xf8ff],
  [0xfdd0, 0xfdef],
  [0xfff9, 0xffff],
  [0x1d173, 0x1d17a],
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f],
  [0xf0000, 0x10ffff],
];

const inRanges = (cp: number, ranges: CodeRange[]) => ranges.some(([lo, hi]) => cp >= lo && cp <= hi);

/**
 * Approximates PostgreSQL's pg_saslprep (RFC 4013). ASCII input is returned
 * unchanged, exactly as the server does; for other input: map non-ASCII
 * spaces to SPACE, drop "commonly mapped to nothing" characters, NFKC-normalise,
 * and fall back to the raw string when prohibited characters remain (the
 * server then uses the raw bytes too). Bidirectional-text rules are not
 * checked; our generated passwords are ASCII.
 */
export function saslPrep(password: string): string {
  const codePoints = [...password].map((ch) => ch.codePointAt(0)!);
  if (codePoints.every((cp) => cp < 0x80)) return password;
  let mapped = '';
  for (const cp of codePoints) {
    if (inRanges(cp, NON_ASCII_SPACE)) mapped += ' ';
    else if (!inRanges(cp, MAPPED_TO_NOTHING)) mapped += String.fromCodePoint(cp);
  }
  const prepared = mapped.normalize('NFKC');
  if (prepared.length === 0 || [...prepared].some((ch) => inRanges(ch.codePointAt(0)!, PROHIBITED)))
    return password;
  return prepared;
}

function hmac(key: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function scramKeys(password: string, salt: Buffer, iterations = SCRAM_DEFAULT_ITERATIONS): ScramKeys {
  if (!Number.isInteger(iterations) || iterations < 1)
    throw new RangeError('SCRAM iterations must be a positive integer');
  const saltedPassword = pbkdf2Sync(Buffer.from(saslPrep(password), 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = hmac(saltedPassword, 'Client Key');
  return {
    saltedPassword,
    clientKey,
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: hmac(saltedPassword, 'Server Key'),
  };
}

/** The verifier PostgreSQL stores for `password`, with a fresh random salt unless one is given. */
export function scramSha256Verifier(password: string, options: ScramVerifierOptions = {}): string {
  const salt = options.salt ?? randomBytes(SCRAM_SALT_BYTES);
  const iterations = options.iterations ?? SCRAM_DEFAULT_ITERATIONS;
  const { storedKey, serverKey } = scramKeys(password, salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export interface ParsedScramVerifier {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

const VERIFIER_PATTERN = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

/** Parses a stored verifier; undefined if it is not one. */
export function parseScramVerifier(verifier: string): ParsedScramVerifier | undefined {
  const m = VERIFIER_PATTERN.exec(verifier);
  if (!m) return undefined;
  return {
    iterations: Number(m[1]),
    salt: Buffer.from(m[2]!, 'base64'),
    storedKey: Buffer.from(m[3]!, 'base64'),
    serverKey: Buffer.from(m[4]!, 'base64'),
  };
}

/** True if `password` matches the stored `verifier` (recomputes it with the verifier's salt). */
export function scramVerifierMatches(password: string, verifier: string): boolean {
  const parsed = parseScramVerifier(verifier);
  if (!parsed) return false;
  const keys = scramKeys(password, parsed.salt, parsed.iterations);
  return keys.storedKey.equals(parsed.storedKey) && keys.serverKey.equals(parsed.serverKey);
}
