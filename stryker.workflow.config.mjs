// Mutation testing of the rotation workflow and its tracker on the time-skipping server (issue 17).
// `npm run mutation:workflow`; slow (each mutant runs the workflow tests), not in CI.
//
// StrykerJS's command runner, not its vitest runner: under the vitest runner only the first mutant
// of a runner got a working time-skipping run (later ones hung until the test timeout, counted
// "killed"), so those scores were not measurements. Here every mutant is a fresh `vitest run`
// (fresh process, fresh time-skipping server); the active mutant reaches it as the environment
// variable __STRYKER_ACTIVE_MUTANT__, and createTestWorker (test/helpers/temporal.ts) puts it
// into the workflow sandbox with a bundle prelude. The bundle of the instrumented sources is built
// once (test/helpers/mutation-global-setup.ts). No coverage: every mutant runs every selected test,
// so pick the tests with MUTATION_TESTS (see vitest.mutation-workflow.config.mts and the README).
import base from './stryker.config.mjs';

// MUTATION_REPORTS=<dir>: reports of a second run (other files) beside the first one's.
const reports = process.env.MUTATION_REPORTS ?? 'reports/mutation-workflow';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  testRunner: 'command',
  commandRunner: {
    // --bail 1: a killed mutant stops at its first failing test; only survivors run every test.
    command: 'node node_modules/vitest/vitest.mjs run -c vitest.mutation-workflow.config.mts --bail 1',
  },
  vitest: undefined,
  coverageAnalysis: 'off',
  mutate: ['src/workflows/tracker.ts', 'src/workflows/rotate-credential.ts'],
  // Shared 2-core machine; each mutant also runs a time-skipping server.
  concurrency: 1,
  timeoutMS: 60000,
  // event-recorder: one file per tested mutant as it ends (reports/mutation-workflow/events), to
  // read survivors during an hour-long run.
  reporters: [...base.reporters, 'event-recorder'],
  eventReporter: { baseDir: `${reports}/events` },
  htmlReporter: { fileName: `${reports}/index.html` },
  jsonReporter: { fileName: `${reports}/mutation.json` },
};
