import type { ConsumerEngine } from './types';

/**
 * Is this error the server refusing our credential? Only these trigger a
 * credential refresh and one retry; every other error passes through unchanged.
 *
 * - PostgreSQL: SQLSTATE 28P01 (invalid_password: wrong password, or a login
 *   that no longer exists under SCRAM/md5) and 28000 (invalid_authorization_specification:
 *   role does not exist, no pg_hba entry).
 * - MySQL/MariaDB: errno 1045 (ER_ACCESS_DENIED_ERROR).
 * - Redis: a reply starting with WRONGPASS (bad user/password, user disabled or
 *   deleted) or NOAUTH (connection not authenticated).
 * - MongoDB: code 18 (AuthenticationFailed).
 *
 * Drivers sometimes wrap the server's error (pool and server-selection
 * errors), so the `cause`/`errors` chain is searched too.
 */
export function isAuthError(engine: ConsumerEngine, err: unknown): boolean {
  return someInChain(err, (e) => {
    switch (engine) {
      case 'postgres':
        return e.code === '28P01' || e.code === '28000';
      case 'mysql':
        return e.errno === 1045 || e.code === 'ER_ACCESS_DENIED_ERROR';
      case 'redis':
        return typeof e.message === 'string' && /^(WRONGPASS|NOAUTH)\b/.test(e.message);
      case 'mongodb':
        return e.code === 18 || e.codeName === 'AuthenticationFailed';
    }
  });
}

/** A short, secret-free label for an error: SQLSTATE/errno/code/reply prefix, else the class name. */
export function errorCode(err: unknown): string {
  const e = err as ErrorLike | undefined;
  if (!e || typeof e !== 'object') return 'unknown';
  if (typeof e.code === 'string' && e.code) return e.code;
  if (typeof e.code === 'number') return String(e.code);
  if (typeof e.errno === 'number') return String(e.errno);
  const m = typeof e.message === 'string' ? /^([A-Z][A-Z_]{3,})\b/.exec(e.message) : null;
  if (m) return m[1]!;
  if (typeof e.message === 'string' && /terminat|ECONNRESET|closed|connection error/i.test(e.message))
    return 'connection-terminated';
  return typeof e.name === 'string' ? e.name : 'Error';
}

interface ErrorLike {
  code?: unknown;
  errno?: unknown;
  codeName?: unknown;
  message?: unknown;
  name?: unknown;
  cause?: unknown;
  errors?: unknown;
}

function someInChain(err: unknown, test: (e: ErrorLike) => boolean, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 5) return false;
  const e = err as ErrorLike;
  if (test(e)) return true;
  if (e.cause && someInChain(e.cause, test, depth + 1)) return true;
  if (Array.isArray(e.errors)) return e.errors.some((inner) => someInChain(inner, test, depth + 1));
  return false;
}
