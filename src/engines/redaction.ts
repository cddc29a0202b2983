/** Secrets in recorded (dry-run) text: the marker and the generic replacement. */

/** What dry-run mode records in place of every secret. */
export const REDACTED = '<redacted>';

/** Replaces every occurrence of each secret (as it appears in the text) by REDACTED. */
export function redactValues(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join(REDACTED);
  return out;
}

/** The secret forms of an engine that sends a password only as itself (or salted, which no list can match). */
export function passwordItself(password: string): string[] {
  return password ? [password] : [];
}

/**
 * Error redaction as a wrapper around any engine (Vault's error-sanitizer
 * middleware): an error leaving any method has every one of `secrets` (pass
 * each in every form the engine sends it, see secretFormsOf) replaced by
 * REDACTED in its message and stack. Class, code and retryability stay, so
 * the error taxonomy (src/errors.ts) is unchanged.
 */
export function withRedactedErrors<E extends object>(engine: E, secrets: readonly string[]): E {
  const forms = secrets.filter((s) => s.length >= 4);
  if (forms.length === 0) return engine;
  return new Proxy(engine, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (err) {
          throw redactError(err, forms);
        }
      };
    },
  });
}

function redactError(err: unknown, forms: readonly string[]): unknown {
  if (!(err instanceof Error)) return typeof err === 'string' ? redactValues(err, forms) : err;
  err.message = redactValues(err.message, forms);
  if (err.stack) err.stack = redactValues(err.stack, forms);
  return err;
}
