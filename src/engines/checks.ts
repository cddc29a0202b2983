/** The engines' side of Engine.check (contract in ./types.ts). */
import { RotatorError } from '../errors';

/** An error retrying cannot fix: a blocker, not a hiccup. */
export function isPermanent(err: unknown): err is RotatorError {
  return err instanceof RotatorError && !err.retryable;
}

/**
 * An engine's checks as one function: it pushes each problem it can step
 * over onto `found`, in order, and throws for one that ends the checking (a
 * missing login, an unsupported server).
 */
export type BlockerSearch = (found: RotatorError[]) => Promise<void>;

/** Every problem the checks find, the one that ended them included; transient errors are thrown. */
export async function collectBlockers(search: BlockerSearch): Promise<RotatorError[]> {
  const found: RotatorError[] = [];
  try {
    await search(found);
  } catch (err) {
    if (!isPermanent(err)) throw err;
    found.push(err);
  }
  return found;
}
