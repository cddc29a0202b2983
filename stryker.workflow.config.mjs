// Mutation testing of the rotation workflow and its tracker on the time-skipping server (issue 17).
// `npm run mutation:workflow`; slow (each mutant runs the workflow tests), not in CI.
// The workflow sandbox gets the active mutant from test/helpers/temporal.ts (a bundle prelude);
// coverage cannot be collected inside the sandbox, so every mutant runs every workflow test.
import base from './stryker.config.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  // The workflow tests start workflows by name: vitest cannot relate them to the sources.
  vitest: { configFile: 'vitest.mutation-workflow.config.mts', related: false },
  coverageAnalysis: 'off',
  mutate: ['src/workflows/tracker.ts', 'src/workflows/rotate-credential.ts'],
  concurrency: 2,
  timeoutMS: 60000,
  htmlReporter: { fileName: 'reports/mutation-workflow/index.html' },
  jsonReporter: { fileName: 'reports/mutation-workflow/mutation.json' },
};
