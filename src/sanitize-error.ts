/**
 * The one error sanitizer. Every error that leaves the consumer library (to
 * the application) or the worker (to Temporal, logs) is REBUILT here: a new
 * Error with only fields known to be safe, never the driver's object.
 *
 * Why rebuild instead of deleting fields: drivers hang secrets in places a
 * serializer finds — ioredis `command.args = [user, password]` on a refused
 * AUTH, mysql2/pg `config`/`client`/`connectionParameters`, MongoDB
 * `options`/connection strings — and util.inspect, JSON.stringify, pino's err
 * serializer and console.error walk every own enumerable property, `cause`
 * and `errors`. A fresh object has nothing we did not copy.
 *
 * Kept: name, message, stack frames (messages redacted), and the codes
 * callers classify by — code, errno, sqlState, sqlMessage, severity,
 * codeName, routine, command NAME (never its arguments) — plus `cause` and
 * `errors` sanitized the same way (depth-limited). Known secrets passed by
 * the caller are replaced by `[redacted]` wherever they appear in text, and
 * so are URI user-infos (`scheme://user:pass@`) and `password=…` pairs.
 */

export const REDACTED = '[redacted]';

const SAFE_SCALARS = ['code', 'errno', 'sqlState', 'sqlMessage', 'severity', 'codeName', 'routine'] as const;
const MAX_DEPTH = 4;

/** An error rebuilt without secret-bearing fields. `instanceof Error`; same name, message and codes. */
export class SanitizedError extends Error {
  code?: string | number;
  errno?: number;
  sqlState?: string;
  sqlMessage?: string;
  severity?: string;
  codeName?: string;
  routine?: string;
  /** The driver's command name (e.g. "auth"), never its arguments. */
  command?: string;
  errors?: SanitizedError[];
}

/** Replaces known secrets and secret-looking fragments in a text. */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) {
    if (typeof s === 'string' && s.length >= 4) out = out.split(s).join(REDACTED);
  }
  return out
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*):([^\s/@]*)@/gi, `$1$2:${REDACTED}@`)
    .replace(/\b(password|passwd|pwd|pass)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&)]+)/gi, `$1$2${REDACTED}`);
}

/**
 * Rebuilds `err` without secret-bearing fields (see the module comment).
 * Non-errors become a SanitizedError with their string form (redacted).
 * Idempotent: a SanitizedError comes back as an equal new one.
 */
export function sanitizeError(err: unknown, secrets: readonly string[] = [], depth = 0): SanitizedError {
  if (!(err instanceof Error) && (typeof err !== 'object' || err === null)) {
    return new SanitizedError(redactText(String(err), secrets));
  }
  const e = err as Record<string, unknown> & { message?: unknown; name?: unknown; stack?: unknown };
  const message = redactText(typeof e.message === 'string' ? e.message : String(err), secrets);
  const out = new SanitizedError(message);
  const name = typeof e.name === 'string' && e.name ? e.name : 'Error';
  Object.defineProperty(out, 'name', { value: name, enumerable: false, writable: true, configurable: true });
  for (const key of SAFE_SCALARS) {
    const v = e[key];
    if (typeof v === 'string') (out as unknown as Record<string, unknown>)[key] = redactText(v, secrets);
    else if (typeof v === 'number') (out as unknown as Record<string, unknown>)[key] = v;
  }
  const command = e.command as { name?: unknown } | string | undefined;
  if (typeof command === 'string') out.command = redactText(command.split(/\s+/)[0] ?? '', secrets);
  else if (command && typeof command.name === 'string') out.command = command.name;
  out.stack = `${name}: ${message}${framesOf(e.stack, secrets)}`;
  if (depth < MAX_DEPTH) {
    if (e.cause !== undefined) {
      Object.defineProperty(out, 'cause', {
        value: sanitizeError(e.cause, secrets, depth + 1),
        enumerable: false,
        writable: true,
        configurable: true,
      });
    }
    if (Array.isArray(e.errors)) out.errors = e.errors.map((x) => sanitizeError(x, secrets, depth + 1));
  }
  return out;
}

function framesOf(stack: unknown, secrets: readonly string[]): string {
  if (typeof stack !== 'string') return '';
  const frames = stack.split('\n').filter((l) => /^\s+at /.test(l));
  return frames.length > 0 ? `\n${redactText(frames.join('\n'), secrets)}` : '';
}
