import pino, { type Logger } from 'pino';
import { sanitizeError } from './sanitize-error';

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
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { app: 'db-rotator' },
      // An error is logged as its sanitized copy: no driver fields (ioredis command.args...).
      serializers: { err: (e: unknown) => pino.stdSerializers.err(sanitizeError(e)) },
    },
    destination,
  );
}

export type { Logger };
