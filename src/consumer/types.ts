/**
 * Types of the consumer library: what an application sees of a credential
 * and where it learns about new versions.
 */

/** The credential an application connects with. Holds a secret: never log it. */
export interface ConsumerCredential {
  version: number;
  username: string;
  password: string;
}

export type CredentialListener = (credential: ConsumerCredential) => void;

/**
 * Where an application reads its current credential. `current()` is cheap
 * (cached); `refresh()` re-reads now (callers that arrive while a read is
 * running share it) and notifies subscribers if the version changed.
 * Subscribers are called once per version change, never for a re-read of
 * the same version.
 */
export interface CredentialSource {
  current(): Promise<ConsumerCredential>;
  /** Called with every new version; returns the unsubscribe function. */
  subscribe(listener: CredentialListener): () => void;
  refresh(reason: string): Promise<ConsumerCredential>;
  close(): Promise<void>;
}

/** Minimal logger (pino and console both fit). Messages never carry a secret. */
export interface ConsumerLogger {
  debug?(obj: object, msg?: string): void;
  info?(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error?(obj: object, msg?: string): void;
}

export const silentLogger: ConsumerLogger = { warn() {} };

/** Database engines the rotating clients support (same names as the rotator's engine kinds). */
export type ConsumerEngine = 'postgres' | 'mysql' | 'redis' | 'mongodb';

/** A credential without the secret, for logs and events. */
export function describeCredential(c: ConsumerCredential): { version: number; username: string } {
  return { version: c.version, username: c.username };
}
