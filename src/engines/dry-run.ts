/** Helpers shared by the engines for dry-run mode and blocker lists (contract in ./types.ts). */
import { RotatorError } from '../errors';
import { nativePasswordHash } from './mysql/auth';
import { sha256Hex } from './redis/acl';

/** What dry-run mode records in place of every secret. */
export const REDACTED = '<redacted>';

/** An error retrying cannot fix: a blocker, not a hiccup. */
export function isPermanent(err: unknown): err is RotatorError {
  return err instanceof RotatorError && !err.retryable;
}

/**
 * preflight's checks as one function: it pushes each problem it can step
 * over onto `found`, in order, and throws for one that ends the checking (a
 * missing login, an unsupported server).
 */
export type BlockerSearch = (found: RotatorError[]) => Promise<void>;

/** Engine side of `blockers()`: every problem the checks find, thrown ones included. */
export async function blockerMessages(search: BlockerSearch): Promise<string[]> {
  const found: RotatorError[] = [];
  try {
    await search(found);
  } catch (err) {
    if (!isPermanent(err)) throw err;
    found.push(err);
  }
  return found.map((e) => e.message);
}

/** Engine side of `preflight()`: the same checks; the first problem in check order is thrown. */
export async function throwFirstBlocker(search: BlockerSearch): Promise<void> {
  const found: RotatorError[] = [];
  try {
    await search(found);
  } catch (err) {
    throw found[0] ?? err;
  }
  if (found[0]) throw found[0];
}

/** Replaces every occurrence of each secret (as it appears in the text) by REDACTED. */
export function redactValues(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join(REDACTED);
  return out;
}

/**
 * The forms in which a password can appear in a statement of any engine:
 * itself, its mysql_native_password hash and its SHA-256 hex (Redis ACL).
 * SCRAM verifiers are salted and cannot be listed; engines redact them.
 */
export function secretForms(password: string): string[] {
  if (!password) return [];
  return [password, nativePasswordHash(password), nativePasswordHash(password).slice(1), sha256Hex(password)];
}
