import { defineConfig } from 'vitest/config';

// Unit tests of the pure core only, for StrykerJS (stryker.config.mjs): no services, no workflow bundle.
export default defineConfig({
  test: {
    include: [
      'test/unit/store-lifecycle.test.ts',
      'test/unit/store-transitions.test.ts',
      // Engine unit tests (pure helpers); the *.int.test.ts beside them need real servers.
      'test/engines/**/*.test.ts',
      'test/unit/consumer-rotating.test.ts',
      'test/unit/consumer-sources.test.ts',
    ],
    exclude: ['test/**/*.int.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
  },
});
