/**
 * Connections opened for one piece of work and closed right after it, apart
 * from the engine's admin connection (e.g. asking a replica how far it is).
 * Generic: each engine folder passes its driver's open and close, and gets
 * `with(target, fn)`.
 */
export function ownConnections<Target, C>(
  open: (target: Target) => Promise<C>,
  close: (connection: C) => Promise<unknown>,
) {
  return async <T>(target: Target, fn: (connection: C) => Promise<T>): Promise<T> => {
    const connection = await open(target);
    try {
      return await fn(connection);
    } finally {
      // The work's own result or error is what counts; a failed close changes neither.
      await close(connection).catch(() => undefined);
    }
  };
}
