import { randomInt } from 'node:crypto';

/**
 * RFC 3986 "unreserved" characters: safe inside a connection URI without
 * percent-encoding, and free of quotes, backslashes and shell metacharacters.
 */
export const URI_SAFE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~';

const CHARACTER_CLASSES: RegExp[] = [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/];

export const MIN_PASSWORD_LENGTH = 16;
export const MAX_PASSWORD_LENGTH = 1024;

/**
 * A random password from a CSPRNG. Each character is drawn with
 * crypto.randomInt, which rejects out-of-range samples (no modulo bias).
 * Every character class present in `alphabet` (upper, lower, digit, other)
 * appears at least once: candidates lacking one are drawn again, which keeps
 * the result uniform over all passwords that satisfy the rule.
 */
export function generatePassword(length = 32, alphabet: string = URI_SAFE_ALPHABET): string {
  if (!Number.isInteger(length) || length < MIN_PASSWORD_LENGTH || length > MAX_PASSWORD_LENGTH) {
    throw new RangeError(
      `password length must be an integer in [${MIN_PASSWORD_LENGTH}, ${MAX_PASSWORD_LENGTH}]`,
    );
  }
  const symbols = [...alphabet];
  if (symbols.length < 2 || new Set(symbols).size !== symbols.length) {
    throw new RangeError('password alphabet must hold at least two distinct characters, each once');
  }
  const required = CHARACTER_CLASSES.filter((cls) => symbols.some((ch) => cls.test(ch)));
  // With length >= 16 and at most 4 classes this loop ends after a few draws.
  for (;;) {
    let candidate = '';
    for (let i = 0; i < length; i++) candidate += symbols[randomInt(symbols.length)];
    if (required.every((cls) => cls.test(candidate))) return candidate;
  }
}
