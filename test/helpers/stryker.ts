/**
 * Mutation testing (StrykerJS): a test that runs code under test in a child process passes the
 * active mutant on, so the child runs the same mutant (the instrumented code reads this variable
 * when its own `__stryker__` namespace has none). Empty outside a mutation run.
 */
export function strykerMutantEnv(): Record<string, string> {
  const ns = (globalThis as { __stryker__?: { activeMutant?: string | number } }).__stryker__;
  return ns?.activeMutant === undefined ? {} : { __STRYKER_ACTIVE_MUTANT__: String(ns.activeMutant) };
}
