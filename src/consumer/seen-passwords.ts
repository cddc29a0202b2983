import { sanitizeError, type SanitizedError } from '../sanitize-error';

/**
 * The passwords a rotating client has used (the newest 16), so that every
 * error leaving the library has them redacted, even one a driver raised for
 * an older credential.
 */
export class SeenPasswords {
  private readonly seen = new Set<string>();

  remember(password: string): void {
    if (this.seen.size >= 16) this.seen.delete(this.seen.values().next().value!);
    this.seen.add(password);
  }

  /** A sanitized copy of `err` (../sanitize-error.ts) with every remembered password redacted. */
  sanitize(err: unknown): SanitizedError {
    return sanitizeError(err, [...this.seen]);
  }
}
