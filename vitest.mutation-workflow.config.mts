import { defineConfig } from 'vitest/config';

// The workflow tests on the time-skipping server, for StrykerJS (stryker.workflow.config.mjs): one
// `vitest run` per mutant (command runner); the bundle is built once (mutation-global-setup.ts).
export default defineConfig({
  test: {
    // The replay corpus too: a mutant that changes which commands a recorded run issues (a
    // patched() branch, an activity call) fails to replay.
    // MUTATION_TEST_FILES=<a,b>: other test files (e.g. the operator-message tests for handlers.ts).
    include: process.env.MUTATION_TEST_FILES?.split(',') ?? [
      'test/workflows/rotate-credential.test.ts',
      'test/workflows/tracker.test.ts',
      'test/workflows/replay.test.ts',
    ],
    // MUTATION_TESTS=<regex>: only the tests aimed at the mutated region (every mutant runs every
    // selected test, about a minute each for all of them); the score is then a lower bound.
    testNamePattern: process.env.MUTATION_TESTS || undefined,
    globalSetup: ['test/helpers/mutation-global-setup.ts'],
    pool: 'forks',
    // A rotation with fake activities takes under a second (two at once on a loaded 2-core machine:
    // a few); a mutant that hangs one should not cost minutes.
    testTimeout: 15_000,
    hookTimeout: 180_000,
  },
});
