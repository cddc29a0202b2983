import pino, { type Logger } from 'pino';

/**
 * Structured logs. Any field named like a secret is redacted by pino itself,
 * at any depth we know of, so a careless `log.info({ secret })` prints nothing.
 */
const SECRET_KEYS = [
  'password',
  'pwd',
  'secret',
  'passwd',
  'token',
  'key',
  'authorization',
  'connectionString',
];
const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `err.${k}`]);

export function createLogger(level = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { app: 'db-rotator' } },
    destination,
  );
}

export type { Logger };
