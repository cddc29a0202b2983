// Mutation testing of the pure core (issue 17). `npm run mutation`; not in CI (minutes, not seconds).
// One module: `npm run mutation -- --mutate src/engines/postgres/scram.ts`. Report: reports/mutation/.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.mts', related: true },
  // Only the unit tests of the pure core; each mutant runs only the tests that cover it.
  coverageAnalysis: 'perTest',
  mutate: [
    // The store's rules (src/store/transitions.ts re-exports them; it has no code of its own).
    'src/store/snapshot.ts',
    'src/store/invariants.ts',
    'src/store/audit-details.ts',
    'src/store/stable-json.ts',
    'src/store/definition-transitions.ts',
    'src/store/version-transitions.ts',
    'src/store/secret-transitions.ts',
    // PostgreSQL: the catalog rows → facts mapping, the comparison and the statement rendering.
    // Lines 71-197 are the catalog queries' SQL text, exercised against PostgreSQL in test/engines/postgres/*.int.test.ts.
    'src/engines/postgres/privileges.ts:63-69',
    'src/engines/postgres/privileges.ts:199-360',
    'src/engines/postgres/grants.ts',
    'src/engines/mysql/grants.ts',
    'src/engines/mysql/tokens.ts',
    'src/engines/mysql/auth.ts',
    'src/engines/redis/acl.ts',
    'src/engines/redis/probes.ts',
    'src/engines/mongodb/users.ts',
    'src/engines/postgres/scram.ts',
    'src/engines/password.ts',
    'src/consumer/rotating.ts',
    'src/consumer/generations.ts',
    'src/consumer/seen-passwords.ts',
    'src/consumer/source-base.ts',
    'src/consumer/file-source.ts',
    'src/consumer/store-source.ts',
  ],
  concurrency: 2,
  timeoutMS: 5000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
