import { TransientError } from '../errors';

/**
 * The one table of network trouble that may pass: Node's socket/DNS error
 * codes every driver surfaces as `err.code` (pg, mysql2) or only in the
 * message (ioredis). Engines add their own server codes beside it.
 */
export const TRANSIENT_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
]);

const NETWORK_CODE_IN_TEXT = new RegExp([...TRANSIENT_NETWORK_CODES].join('|'), 'i');

/** True if `message` names one of the codes (drivers that keep the code only in the text). */
export function mentionsTransientNetworkCode(message: string): boolean {
  return NETWORK_CODE_IN_TEXT.test(message);
}

/**
 * `mapped` if it is a TransientError, else undefined. Verification uses it
 * after login: a connection lost then says nothing about the new password
 * (the activity tries again); only the server's answer fails verification.
 */
export function lostConnection(mapped: Error): TransientError | undefined {
  return mapped instanceof TransientError ? mapped : undefined;
}
